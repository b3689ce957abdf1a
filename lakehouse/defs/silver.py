"""Silver assets: cleaned, deduplicated, conformed tables; bad rows go to quarantine."""

from collections.abc import Callable

import dagster as dg
import polars as pl

from lakehouse import partitions, tables
from lakehouse.defs import keys
from lakehouse.defs.publishing import (
    asset_attributes,
    first_partition_day,
    partition_keys,
    published_metadata,
    record_partition,
    sum_counts,
    utc_now,
)
from lakehouse.defs.resources import LakeResource
from lakehouse.storage import LakeStore, PublishedPartition, TableSpec
from lakehouse.transforms.app_events import clean_app_events
from lakehouse.transforms.customers import current_customers
from lakehouse.transforms.orders import clean_orders
from lakehouse.transforms.products import latest_products
from lakehouse.transforms.rules import Cleaned
from lakehouse.transforms.sessions import sessionize


class RowAccountingError(RuntimeError):
    """Rows that would vanish between input and output: nothing is published."""


def publish_cleaned(
    store: LakeStore, spec: TableSpec, quarantine: TableSpec, key: str | None, cleaned: Cleaned
) -> tuple[PublishedPartition, PublishedPartition, pl.DataFrame]:
    """Compute clean rows, rejects and counts in one pass; publish only if every input row is
    accounted for. Quarantine goes first, so a rejected row is never missing from both."""
    clean, rejected, counts = pl.collect_all(
        [
            cleaned.clean.select(list(spec.schema)),
            cleaned.quarantined.select(list(quarantine.schema)),
            cleaned.counts,
        ]
    )
    counts = counts.with_columns(rows_out=pl.lit(clean.height), quarantined=pl.lit(rejected.height))
    if not accounting_metadata([counts])["balanced"]:
        where = f" partition {key}" if key else ""
        raise RowAccountingError(
            f"{spec.qualified_name}{where}: row accounting does not balance "
            f"{accounting_metadata([counts])}; nothing was published"
        )
    quarantined = store.publish(quarantine, key, rejected)
    published = store.publish(spec, key, clean)
    return published, quarantined, counts


def accounting_metadata(counts: list[pl.DataFrame]) -> dict[str, int | bool]:
    """rows_in = rows_out + duplicates + removed_other + quarantined, summed over partitions."""
    total = sum_counts(counts)
    total["balanced"] = total.get("rows_in", 0) == sum(
        total.get(name, 0) for name in ("rows_out", "duplicates", "removed_other", "quarantined")
    )
    return total


def _daily_cleaned_asset(
    spec: TableSpec,
    quarantine: TableSpec,
    upstream: TableSpec,
    mapping: dg.PartitionMapping,
    window: Callable[[str], list[str]],
    transform: Callable[..., Cleaned],
) -> dg.AssetsDefinition:
    """A silver table by event date, reading the bronze arrival days of its late window."""

    @dg.asset(
        deps=[dg.AssetDep(keys.key_of(upstream), partition_mapping=mapping)],
        **asset_attributes(spec, kinds={"polars"}),
    )
    def _asset(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        store, now, first = lake.store(), utc_now(), first_partition_day()
        published, counts = [], []
        for key in partition_keys(context):
            bronze = store.scan(upstream, window(key))
            cleaned = transform(
                bronze, partitions.day(key), first, partitions.LATE_ARRIVAL_DAYS, now
            )
            result, _, count = publish_cleaned(store, spec, quarantine, key, cleaned)
            record_partition(context, spec, result, accounting_metadata([count]))
            published.append(result)
            counts.append(count)
        metadata = accounting_metadata(counts)
        return dg.MaterializeResult(metadata=published_metadata(spec, published, metadata))

    return _asset


silver_app_events = _daily_cleaned_asset(
    tables.SILVER_APP_EVENTS,
    tables.SILVER_APP_EVENTS_QUARANTINE,
    tables.BRONZE_APP_EVENTS,
    partitions.LATE_ARRIVAL_MAPPING,
    partitions.late_arrival_keys,
    clean_app_events,
)
silver_orders = _daily_cleaned_asset(
    tables.SILVER_ORDERS,
    tables.SILVER_ORDERS_QUARANTINE,
    tables.BRONZE_ORDERS,
    partitions.LATE_ARRIVAL_MAPPING,
    partitions.late_arrival_keys,
    clean_orders,
)


@dg.asset(
    deps=[keys.BRONZE_CUSTOMERS_CDC], **asset_attributes(tables.SILVER_CUSTOMERS, kinds={"polars"})
)
def silver_customers(lake: LakeResource) -> dg.MaterializeResult:
    """Rebuilt from the whole CDC history: the feed is small and deletes need every change."""
    store = lake.store()
    cleaned = current_customers(store.scan(tables.BRONZE_CUSTOMERS_CDC), utc_now())
    published, _, counts = publish_cleaned(
        store, tables.SILVER_CUSTOMERS, tables.SILVER_CUSTOMERS_QUARANTINE, None, cleaned
    )
    metadata = accounting_metadata([counts])
    metadata["deleted_customers"] = metadata.pop("removed_other", 0)
    metadata["superseded_versions"] = metadata.pop("duplicates", 0)
    return dg.MaterializeResult(
        metadata=published_metadata(tables.SILVER_CUSTOMERS, [published], metadata)
    )


@dg.asset(deps=[keys.BRONZE_PRODUCTS], **asset_attributes(tables.SILVER_PRODUCTS, kinds={"polars"}))
def silver_products(lake: LakeResource) -> dg.MaterializeResult:
    """The latest published snapshot wins; older snapshots stay in bronze."""
    store = lake.store()
    latest = store.partition_keys(tables.BRONZE_PRODUCTS)[-1:]
    cleaned = latest_products(store.scan(tables.BRONZE_PRODUCTS, latest), utc_now())
    published, _, counts = publish_cleaned(
        store, tables.SILVER_PRODUCTS, tables.SILVER_PRODUCTS_QUARANTINE, None, cleaned
    )
    metadata = {**accounting_metadata([counts]), "snapshot_date": latest[0] if latest else "none"}
    return dg.MaterializeResult(
        metadata=published_metadata(tables.SILVER_PRODUCTS, [published], metadata)
    )


@dg.asset(
    deps=[dg.AssetDep(keys.SILVER_APP_EVENTS, partition_mapping=partitions.SESSION_MAPPING)],
    **asset_attributes(tables.SILVER_SESSIONS, kinds={"polars"}),
)
def silver_sessions(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    store = lake.store()
    published = []
    for key in partition_keys(context):
        events = store.scan(tables.SILVER_APP_EVENTS, partitions.session_keys(key))
        frame = sessionize(events, partitions.day(key)).select(list(tables.SILVER_SESSIONS.schema))
        result = store.publish(tables.SILVER_SESSIONS, key, frame)
        published.append(record_partition(context, tables.SILVER_SESSIONS, result))
    return dg.MaterializeResult(metadata=published_metadata(tables.SILVER_SESSIONS, published))


SILVER_ASSETS = [
    silver_app_events,
    silver_orders,
    silver_customers,
    silver_products,
    silver_sessions,
]
