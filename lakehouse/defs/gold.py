"""Gold assets: the star schema and the aggregates analysts query."""

import dagster as dg
import polars as pl

from lakehouse import tables
from lakehouse.defs import keys
from lakehouse.defs.publishing import (
    asset_attributes,
    partition_keys,
    published_metadata,
    record_partition,
    utc_now,
)
from lakehouse.defs.resources import LakeResource
from lakehouse.partitions import day
from lakehouse.transforms import sales
from lakehouse.transforms.customers import customer_history
from lakehouse.transforms.event_metrics import event_metrics_hourly
from lakehouse.transforms.user_segments import user_segments

GOLD = {"polars"}


@dg.asset(
    deps=[keys.BRONZE_CUSTOMERS_CDC, keys.SILVER_CUSTOMERS],
    **asset_attributes(tables.GOLD_DIM_CUSTOMER, kinds=GOLD),
)
def dim_customer(lake: LakeResource) -> dg.MaterializeResult:
    """Built from the CDC history in bronze (silver keeps only the current state), with the same
    validity rules as silver/customers; rejected changes are in silver's quarantine."""
    store = lake.store()
    history = customer_history(store.scan(tables.BRONZE_CUSTOMERS_CDC), utc_now())
    published = store.publish(
        tables.GOLD_DIM_CUSTOMER, None, history.select(list(tables.GOLD_DIM_CUSTOMER.schema))
    )
    return dg.MaterializeResult(metadata=published_metadata(tables.GOLD_DIM_CUSTOMER, [published]))


@dg.asset(
    deps=[keys.SILVER_ORDERS, keys.GOLD_DIM_CUSTOMER, keys.SILVER_PRODUCTS],
    **asset_attributes(tables.GOLD_FACT_SALES, kinds=GOLD),
)
def fact_sales(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    store, now = lake.store(), utc_now()
    dim = store.scan(tables.GOLD_DIM_CUSTOMER).collect().lazy()
    products = store.scan(tables.SILVER_PRODUCTS).collect().lazy()
    published, quarantined = [], 0
    for key in partition_keys(context):
        checked = sales.fact_sales(store.scan(tables.SILVER_ORDERS, [key]), dim, products, now)
        facts, rejected = pl.collect_all(
            [
                checked.valid.select(list(tables.GOLD_FACT_SALES.schema)),
                checked.quarantined.select(list(tables.GOLD_FACT_SALES_QUARANTINE.schema)),
            ]
        )
        rejects = store.publish(tables.GOLD_FACT_SALES_QUARANTINE, key, rejected).rows
        result = store.publish(tables.GOLD_FACT_SALES, key, facts)
        published.append(
            record_partition(context, tables.GOLD_FACT_SALES, result, {"quarantined_rows": rejects})
        )
        quarantined += rejects
    return dg.MaterializeResult(
        metadata=published_metadata(
            tables.GOLD_FACT_SALES, published, {"quarantined_rows": quarantined}
        )
    )


@dg.asset(
    deps=[
        keys.GOLD_FACT_SALES,
        keys.SILVER_APP_EVENTS,
        keys.SILVER_SESSIONS,
        keys.GOLD_DIM_CUSTOMER,
    ],
    **asset_attributes(tables.GOLD_DAILY_SUMMARY, kinds=GOLD),
)
def daily_summary(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    store = lake.store()
    dim = store.scan(tables.GOLD_DIM_CUSTOMER).select("customer_id", "valid_from").collect().lazy()
    published = []
    for key in partition_keys(context):
        summary = sales.daily_summary(
            store.scan(tables.GOLD_FACT_SALES, [key]),
            store.scan(tables.SILVER_APP_EVENTS, [key]),
            store.scan(tables.SILVER_SESSIONS, [key]),
            dim,
            day(key),
        )
        result = store.publish(tables.GOLD_DAILY_SUMMARY, key, summary)
        published.append(record_partition(context, tables.GOLD_DAILY_SUMMARY, result))
    return dg.MaterializeResult(metadata=published_metadata(tables.GOLD_DAILY_SUMMARY, published))


@dg.asset(
    deps=[keys.SILVER_APP_EVENTS], **asset_attributes(tables.GOLD_EVENT_METRICS_HOURLY, kinds=GOLD)
)
def event_metrics(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    store = lake.store()
    published = []
    for key in partition_keys(context):
        metrics = event_metrics_hourly(store.scan(tables.SILVER_APP_EVENTS, [key]))
        result = store.publish(tables.GOLD_EVENT_METRICS_HOURLY, key, metrics)
        published.append(record_partition(context, tables.GOLD_EVENT_METRICS_HOURLY, result))
    return dg.MaterializeResult(
        metadata=published_metadata(tables.GOLD_EVENT_METRICS_HOURLY, published)
    )


@dg.asset(
    deps=[keys.GOLD_FACT_SALES, keys.SILVER_SESSIONS],
    **asset_attributes(tables.GOLD_USER_SEGMENTS, kinds=GOLD),
)
def user_segments_asset(lake: LakeResource) -> dg.MaterializeResult:
    store = lake.store()
    frame = user_segments(store.scan(tables.GOLD_FACT_SALES), store.scan(tables.SILVER_SESSIONS))
    published = store.publish(
        tables.GOLD_USER_SEGMENTS, None, frame.select(list(tables.GOLD_USER_SEGMENTS.schema))
    )
    return dg.MaterializeResult(metadata=published_metadata(tables.GOLD_USER_SEGMENTS, [published]))


GOLD_ASSETS = [dim_customer, fact_sales, daily_summary, event_metrics, user_segments_asset]
