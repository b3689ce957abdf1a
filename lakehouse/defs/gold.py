"""Gold assets: the star schema and the aggregates analysts query, each audited before publish."""

from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource
from duckdb import DuckDBPyConnection

from lakehouse import ml, tables
from lakehouse.defs.automation import follow_updates
from lakehouse.defs.ml import MODEL_KEY
from lakehouse.defs.publishing import (
    asset_attributes,
    asset_key,
    partition_keys,
    published_metadata,
    utc_now,
)
from lakehouse.defs.quality_gate import QualityGate, check_specs
from lakehouse.defs.resources import LakeResource
from lakehouse.defs.silver import CLEANED_CHECKS, MODEL_CHECKS
from lakehouse.ml import registry
from lakehouse.partitions import Partitioning, day
from lakehouse.quality.audited import audit_with_rejects
from lakehouse.quality.evaluate import Outcome
from lakehouse.storage import Audited, LakeStore, Quarantine, StagedPartition
from lakehouse.table_spec import TableSpec
from lakehouse.transforms import sales
from lakehouse.transforms.customers import customer_history
from lakehouse.transforms.event_metrics import event_metrics_hourly
from lakehouse.transforms.rules import Checked
from lakehouse.transforms.sentiment import product_sentiment_daily
from lakehouse.transforms.user_segments import user_segments

GOLD = {"polars"}


def gold_attributes(
    spec: TableSpec,
    partitioning: Partitioning,
    checks=MODEL_CHECKS,
    ignore: tuple[TableSpec, ...] = (),
    ignore_keys: tuple[dg.AssetKey, ...] = (),
) -> dict[str, Any]:
    """`ignore`: upstream tables (or other assets, `ignore_keys`) whose updates alone do not
    rebuild the asset."""
    return asset_attributes(
        spec,
        partitioning,
        kinds=GOLD,
        checks=check_specs(spec, checks, partitioning),
        automation=follow_updates((*_keys(*ignore), *ignore_keys)),
    )


def finish(gate: QualityGate, spec: TableSpec, published: list, extra=None) -> Iterator[Any]:
    yield dg.MaterializeResult(metadata=published_metadata(spec, published, extra))
    yield from gate.results()


def dim_customer(
    context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource
) -> Iterator[Any]:
    """Built from the CDC history in bronze (silver keeps only the current state), with the same
    validity rules as silver/customers; rejected changes are in silver's quarantine."""
    store = lake.store()
    gate = QualityGate(context, tables.GOLD_DIM_CUSTOMER, store)

    def steps() -> Iterator[Any]:
        history = customer_history(store.scan(tables.BRONZE_CUSTOMERS_CDC), utc_now())
        frame = tables.GOLD_DIM_CUSTOMER.conform(history).collect()
        with duckdb.get_connection() as con:
            published = gate.publish_by_model(con, None, frame)
        yield from finish(gate, tables.GOLD_DIM_CUSTOMER, [published])

    yield from gate.guard(steps())


def fact_sales(
    context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource
) -> Iterator[Any]:
    spec, store, now = tables.GOLD_FACT_SALES, lake.store(), utc_now()
    gate = QualityGate(context, spec, store)

    def steps(con: DuckDBPyConnection) -> Iterator[Any]:
        dim = store.scan(tables.GOLD_DIM_CUSTOMER).collect().lazy()
        products = store.scan(tables.SILVER_PRODUCTS).collect().lazy()
        published, quarantined = [], 0
        for key in partition_keys(context):
            orders = store.scan(tables.SILVER_ORDERS, [key])
            result = publish_facts(
                gate, con, key, orders, sales.fact_sales(orders, dim, products, now)
            )
            published.append(result.published)
            quarantined += result.quarantined.rows
        yield from finish(gate, spec, published, {"quarantined_rows": quarantined})

    with duckdb.get_connection() as con:
        yield from gate.guard(steps(con))


def publish_facts(
    gate: QualityGate,
    con: DuckDBPyConnection,
    key: str,
    orders: pl.LazyFrame,
    checked: Checked,
) -> Audited:
    """One day of facts and its rejected orders, with the quarantine rate audited."""
    spec, quarantine = tables.GOLD_FACT_SALES, tables.GOLD_FACT_SALES_QUARANTINE
    facts, rejected, rows_in = pl.collect_all(
        [
            spec.conform(checked.valid),
            quarantine.conform(checked.quarantined),
            orders.select(pl.len()),
        ]
    )

    def audit(staged: StagedPartition, rejects: StagedPartition | None) -> list[Outcome]:
        return audit_with_rejects(gate.store, con, staged, rejects, rows_in.item())

    return gate.publish(
        key,
        facts,
        audit,
        Quarantine(quarantine, lambda: rejected),
        {"quarantined_rows": rejected.height},
    )


def daily_summary(
    context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource
) -> Iterator[Any]:
    spec, store = tables.GOLD_DAILY_SUMMARY, lake.store()
    gate = QualityGate(context, spec, store)

    def steps() -> Iterator[Any]:
        dim = (
            store.scan(tables.GOLD_DIM_CUSTOMER)
            .select("customer_id", "valid_from")
            .collect()
            .lazy()
        )
        published = []
        for key in partition_keys(context):
            summary = sales.daily_summary(
                store.scan(tables.GOLD_FACT_SALES, [key]),
                store.scan(tables.SILVER_APP_EVENTS, [key]),
                store.scan(tables.SILVER_SESSIONS, [key]),
                dim,
                store.scan(tables.GOLD_REVIEW_SENTIMENT, [key]),
                day(key),
                as_of=utc_now(),
            )
            summary = spec.conform(summary).collect()
            published.append(gate.publish_by_model(con, key, summary))
        yield from finish(gate, spec, published)

    with duckdb.get_connection() as con:
        yield from gate.guard(steps())


def publish_days(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    duckdb: DuckDBResource,
    spec: TableSpec,
    day_frame: Callable[[LakeStore, str], pl.LazyFrame],
    extra: dict[str, Any] | None = None,
) -> Iterator[Any]:
    """A gold table whose day is computed from its inputs' same day: each partition of the
    run conformed, audited by the table's model and published."""
    store = lake.store()
    gate = QualityGate(context, spec, store)

    def steps() -> Iterator[Any]:
        published = [
            gate.publish_by_model(con, key, spec.conform(day_frame(store, key)).collect())
            for key in partition_keys(context)
        ]
        yield from finish(gate, spec, published, extra)

    with duckdb.get_connection() as con:
        yield from gate.guard(steps())


def event_metrics(
    context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource
) -> Iterator[Any]:
    yield from publish_days(
        context,
        lake,
        duckdb,
        tables.GOLD_EVENT_METRICS_HOURLY,
        lambda store, key: event_metrics_hourly(store.scan(tables.SILVER_APP_EVENTS, [key])),
    )


def review_sentiment(
    context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource
) -> Iterator[Any]:
    """Each day's reviews scored whole by the promoted model, in bounded batches."""
    model = registry.promoted(lake.store())
    spec = tables.GOLD_REVIEW_SENTIMENT

    def scored(store: LakeStore, key: str) -> pl.LazyFrame:
        batches = [
            batch.rename({ml.LABEL_COLUMN: "sentiment_label"}).with_columns(
                model_version=pl.lit(model.version)
            )
            for batch in ml.score_frame(model.model, store.scan(tables.SILVER_REVIEWS, [key]))
        ]
        return pl.concat(batches).lazy() if batches else pl.LazyFrame(schema=spec.polars_schema)

    yield from publish_days(context, lake, duckdb, spec, scored, {"model_version": model.version})


def product_sentiment(
    context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource
) -> Iterator[Any]:
    yield from publish_days(
        context,
        lake,
        duckdb,
        tables.GOLD_PRODUCT_SENTIMENT_DAILY,
        lambda store, key: product_sentiment_daily(store.scan(tables.GOLD_REVIEW_SENTIMENT, [key])),
    )


def user_segments_asset(
    context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource
) -> Iterator[Any]:
    spec, store = tables.GOLD_USER_SEGMENTS, lake.store()
    gate = QualityGate(context, spec, store)

    def steps() -> Iterator[Any]:
        frame = user_segments(
            store.scan(tables.GOLD_FACT_SALES), store.scan(tables.SILVER_SESSIONS)
        )
        frame = spec.conform(frame).collect(engine="streaming")
        with duckdb.get_connection() as con:
            published = gate.publish_by_model(con, None, frame)
        yield from finish(gate, spec, [published])

    yield from gate.guard(steps())


def gold_assets(partitioning: Partitioning) -> list[dg.AssetsDefinition]:
    """The gold assets on the given partitioning (see `lakehouse.definitions`): the bodies
    above become assets here, when the definitions are built."""
    return [
        dg.asset(
            deps=_keys(tables.BRONZE_CUSTOMERS_CDC, tables.SILVER_CUSTOMERS),
            **gold_attributes(tables.GOLD_DIM_CUSTOMER, partitioning),
        )(dim_customer),
        dg.asset(
            deps=_keys(tables.SILVER_ORDERS, tables.GOLD_DIM_CUSTOMER, tables.SILVER_PRODUCTS),
            **gold_attributes(
                tables.GOLD_FACT_SALES,
                partitioning,
                CLEANED_CHECKS,
                ignore=(tables.GOLD_DIM_CUSTOMER, tables.SILVER_PRODUCTS),
            ),
        )(fact_sales),
        dg.asset(
            deps=_keys(
                tables.GOLD_FACT_SALES,
                tables.SILVER_APP_EVENTS,
                tables.SILVER_SESSIONS,
                tables.GOLD_DIM_CUSTOMER,
                tables.GOLD_REVIEW_SENTIMENT,
            ),
            **gold_attributes(
                tables.GOLD_DAILY_SUMMARY, partitioning, ignore=(tables.GOLD_DIM_CUSTOMER,)
            ),
        )(daily_summary),
        dg.asset(
            deps=_keys(tables.SILVER_APP_EVENTS),
            **gold_attributes(tables.GOLD_EVENT_METRICS_HOURLY, partitioning),
        )(event_metrics),
        dg.asset(
            deps=[*_keys(tables.SILVER_REVIEWS), MODEL_KEY],
            **gold_attributes(tables.GOLD_REVIEW_SENTIMENT, partitioning, ignore_keys=(MODEL_KEY,)),
        )(review_sentiment),
        dg.asset(
            deps=_keys(tables.GOLD_REVIEW_SENTIMENT),
            **gold_attributes(tables.GOLD_PRODUCT_SENTIMENT_DAILY, partitioning),
        )(product_sentiment),
        dg.asset(
            deps=_keys(tables.GOLD_FACT_SALES, tables.SILVER_SESSIONS),
            **gold_attributes(tables.GOLD_USER_SEGMENTS, partitioning),
        )(user_segments_asset),
    ]


def _keys(*specs: TableSpec) -> list[dg.AssetKey]:
    """The assets of several tables (see `asset_key`)."""
    return [asset_key(spec) for spec in specs]
