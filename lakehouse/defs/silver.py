"""Silver assets: cleaned, deduplicated, conformed tables; bad rows go to quarantine.

Each partition is staged (computed in memory), audited (row accounting, then the table's pandera
model and its quarantine rate) and only then published: write-audit-publish.
"""

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

import dagster as dg
import polars as pl

from lakehouse import partitions, tables
from lakehouse.defs import keys
from lakehouse.defs.automation import follow_updates
from lakehouse.defs.publishing import (
    asset_attributes,
    first_partition_day,
    partition_keys,
    published_metadata,
    sum_counts,
    utc_now,
)
from lakehouse.defs.quality_gate import QualityGate, check_specs
from lakehouse.defs.resources import LakeResource
from lakehouse.quality.evaluate import (
    ERROR,
    QUARANTINE,
    RULES,
    SCHEMA,
    WARN,
    audit,
    quarantine_outcome,
)
from lakehouse.quality.models import MODELS
from lakehouse.quality.thresholds import threshold_for
from lakehouse.storage import LakeStore, PublishedPartition, TableSpec
from lakehouse.transforms.app_events import clean_app_events
from lakehouse.transforms.customers import current_customers
from lakehouse.transforms.orders import clean_orders
from lakehouse.transforms.products import latest_products
from lakehouse.transforms.rules import Cleaned
from lakehouse.transforms.sessions import sessionize

CLEANED_CHECKS = {
    SCHEMA: (ERROR, "Columns, types, nullability and key uniqueness of the pandera model"),
    RULES: (WARN, "Ranges, allowed values and cross-column rules of the pandera model"),
    QUARANTINE: (WARN, "Share of input rows sent to quarantine stays within the threshold"),
}
MODEL_CHECKS = {name: CLEANED_CHECKS[name] for name in (SCHEMA, RULES)}


class RowAccountingError(RuntimeError):
    """Rows that would vanish between input and output: nothing is published."""


@dataclass(frozen=True)
class Staged:
    """A partition computed but not yet published."""

    clean: pl.DataFrame
    rejected: pl.DataFrame
    counts: pl.DataFrame

    @property
    def rows_in(self) -> int:
        return int(self.counts["rows_in"].item())


def stage_cleaned(spec: TableSpec, quarantine: TableSpec, cleaned: Cleaned) -> Staged:
    """Compute clean rows, rejects and counts in one pass; refuse if any input row vanished."""
    clean, rejected, counts = pl.collect_all(
        [
            spec.conform(cleaned.clean),
            quarantine.conform(cleaned.quarantined),
            cleaned.counts,
        ]
    )
    counts = counts.with_columns(rows_out=pl.lit(clean.height), quarantined=pl.lit(rejected.height))
    accounting = accounting_metadata([counts])
    if not accounting["balanced"]:
        raise RowAccountingError(
            f"{spec.qualified_name}: row accounting does not balance {accounting}; "
            "nothing was published"
        )
    return Staged(clean, rejected, counts)


def audit_staged(spec: TableSpec, staged: Staged) -> list:
    return [
        *audit(MODELS[spec.qualified_name], staged.clean),
        quarantine_outcome(staged.rows_in, staged.rejected, threshold_for(spec.qualified_name)),
    ]


def publish_staged(
    store: LakeStore, spec: TableSpec, quarantine: TableSpec, key: str | None, staged: Staged
) -> PublishedPartition:
    """Quarantine first, so a rejected row is never missing from both tables."""
    store.publish(quarantine, key, staged.rejected)
    return store.publish(spec, key, staged.clean)


def accounting_metadata(counts: list[pl.DataFrame]) -> dict[str, int | bool]:
    """rows_in = rows_out + duplicates + removed_other + quarantined, summed over partitions."""
    total = sum_counts(counts)
    total["balanced"] = total.get("rows_in", 0) == sum(
        total.get(name, 0) for name in ("rows_out", "duplicates", "removed_other", "quarantined")
    )
    return total


def gated_publish(
    gate: QualityGate,
    store: LakeStore,
    spec: TableSpec,
    quarantine: TableSpec,
    key: str | None,
    cleaned: Cleaned,
) -> Generator[Any, None, tuple[PublishedPartition, pl.DataFrame]]:
    """Stage, audit, then publish one partition; yields the gate's events, returns what was
    published and its counts."""
    staged = stage_cleaned(spec, quarantine, cleaned)
    yield from gate.evaluate(key, audit_staged(spec, staged))
    published = publish_staged(store, spec, quarantine, key, staged)
    gate.published_partition(published, accounting_metadata([staged.counts]))
    return published, staged.counts


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
        **asset_attributes(
            spec,
            kinds={"polars"},
            automation=follow_updates(),
            checks=check_specs(spec, CLEANED_CHECKS),
        ),
    )
    def _asset(context: dg.AssetExecutionContext, lake: LakeResource) -> Iterator[Any]:
        store, now, first = lake.store(), utc_now(), first_partition_day()
        gate = QualityGate(context, spec, store)

        def steps() -> Iterator[Any]:
            published, counts = [], []
            for key in partition_keys(context):
                bronze = store.scan(upstream, window(key))
                cleaned = transform(
                    bronze, partitions.day(key), first, partitions.LATE_ARRIVAL_DAYS, now
                )
                result, count = yield from gated_publish(
                    gate, store, spec, quarantine, key, cleaned
                )
                published.append(result)
                counts.append(count)
            yield dg.MaterializeResult(
                metadata=published_metadata(spec, published, accounting_metadata(counts))
            )
            yield from gate.results()

        yield from gate.guard(steps())

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


def _unpartitioned_cleaned(
    context: dg.AssetExecutionContext,
    store: LakeStore,
    spec: TableSpec,
    quarantine: TableSpec,
    cleaned: Cleaned,
    extra: Callable[[dict[str, Any]], dict[str, Any]] = lambda metadata: metadata,
) -> Iterator[Any]:
    gate = QualityGate(context, spec, store)

    def steps() -> Iterator[Any]:
        published, counts = yield from gated_publish(gate, store, spec, quarantine, None, cleaned)
        metadata = extra(accounting_metadata([counts]))
        yield dg.MaterializeResult(metadata=published_metadata(spec, [published], metadata))
        yield from gate.results()

    yield from gate.guard(steps())


def _renamed_accounting(metadata: dict[str, Any]) -> dict[str, Any]:
    metadata["deleted_customers"] = metadata.pop("removed_other", 0)
    metadata["superseded_versions"] = metadata.pop("duplicates", 0)
    return metadata


@dg.asset(
    deps=[keys.BRONZE_CUSTOMERS_CDC],
    **asset_attributes(
        tables.SILVER_CUSTOMERS,
        kinds={"polars"},
        automation=follow_updates(),
        checks=check_specs(tables.SILVER_CUSTOMERS, CLEANED_CHECKS),
    ),
)
def silver_customers(context: dg.AssetExecutionContext, lake: LakeResource) -> Iterator[Any]:
    """Rebuilt from the whole CDC history: the feed is small and deletes need every change."""
    store = lake.store()
    cleaned = current_customers(store.scan(tables.BRONZE_CUSTOMERS_CDC), utc_now())
    yield from _unpartitioned_cleaned(
        context,
        store,
        tables.SILVER_CUSTOMERS,
        tables.SILVER_CUSTOMERS_QUARANTINE,
        cleaned,
        _renamed_accounting,
    )


@dg.asset(
    deps=[keys.BRONZE_PRODUCTS],
    **asset_attributes(
        tables.SILVER_PRODUCTS,
        kinds={"polars"},
        automation=follow_updates(),
        checks=check_specs(tables.SILVER_PRODUCTS, CLEANED_CHECKS),
    ),
)
def silver_products(context: dg.AssetExecutionContext, lake: LakeResource) -> Iterator[Any]:
    """The latest published snapshot wins; older snapshots stay in bronze."""
    store = lake.store()
    latest = store.partition_keys(tables.BRONZE_PRODUCTS)[-1:]
    cleaned = latest_products(store.scan(tables.BRONZE_PRODUCTS, latest), utc_now())
    snapshot = latest[0] if latest else "none"
    yield from _unpartitioned_cleaned(
        context,
        store,
        tables.SILVER_PRODUCTS,
        tables.SILVER_PRODUCTS_QUARANTINE,
        cleaned,
        lambda metadata: {**metadata, "snapshot_date": snapshot},
    )


@dg.asset(
    deps=[dg.AssetDep(keys.SILVER_APP_EVENTS, partition_mapping=partitions.SESSION_MAPPING)],
    **asset_attributes(
        tables.SILVER_SESSIONS,
        kinds={"polars"},
        automation=follow_updates(),
        checks=check_specs(tables.SILVER_SESSIONS, MODEL_CHECKS),
    ),
)
def silver_sessions(context: dg.AssetExecutionContext, lake: LakeResource) -> Iterator[Any]:
    store = lake.store()
    gate = QualityGate(context, tables.SILVER_SESSIONS, store)

    def steps() -> Iterator[Any]:
        published = []
        for key in partition_keys(context):
            events = store.scan(tables.SILVER_APP_EVENTS, partitions.session_keys(key))
            frame = tables.SILVER_SESSIONS.conform(
                sessionize(events, partitions.day(key))
            ).collect()
            yield from gate.evaluate(
                key, audit(MODELS[tables.SILVER_SESSIONS.qualified_name], frame)
            )
            result = store.publish(tables.SILVER_SESSIONS, key, frame)
            published.append(gate.published_partition(result))
        yield dg.MaterializeResult(metadata=published_metadata(tables.SILVER_SESSIONS, published))
        yield from gate.results()

    yield from gate.guard(steps())


SILVER_ASSETS = [
    silver_app_events,
    silver_orders,
    silver_customers,
    silver_products,
    silver_sessions,
]
