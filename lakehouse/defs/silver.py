"""Silver assets: cleaned, deduplicated, conformed tables; bad rows go to quarantine.

Each partition goes through `publish_audited`: staged (written and verified, invisible), audited
(row accounting, then the table's pandera model batch by batch and its quarantine rate) and
only then committed, quarantine first.
"""

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource
from duckdb import DuckDBPyConnection

from lakehouse import partitions, tables
from lakehouse.defs.automation import follow_updates
from lakehouse.defs.publishing import (
    asset_attributes,
    asset_key,
    partition_keys,
    published_metadata,
    sum_counts,
    utc_now,
)
from lakehouse.defs.quality_gate import QualityGate, audit_partition, check_specs
from lakehouse.defs.resources import LakeResource
from lakehouse.partitions import Partitioning
from lakehouse.quality.evaluate import (
    ERROR,
    QUARANTINE,
    RULES,
    SCHEMA,
    WARN,
    Outcome,
    quarantine_outcome,
)
from lakehouse.storage import (
    ROW_GROUP_ROWS,
    LakeStore,
    PublishedPartition,
    Quarantine,
    StagedPartition,
    TableSpec,
    arrow_schema,
    parquet_source,
    publish_audited,
    stage_query,
    stage_sorted,
)
from lakehouse.transforms.app_events import clean_app_events
from lakehouse.transforms.customers import current_customers
from lakehouse.transforms.orders import clean_orders
from lakehouse.transforms.products import latest_products
from lakehouse.transforms.rules import Cleaned
from lakehouse.transforms.sessions import sessionize

LATE_DAYS = partitions.LATE_ARRIVAL_DAYS
CLEANED_CHECKS = {
    SCHEMA: (ERROR, "Columns, types, nullability and key uniqueness of the pandera model"),
    RULES: (WARN, "Ranges, allowed values and cross-column rules of the pandera model"),
    QUARANTINE: (WARN, "Share of input rows sent to quarantine stays within the threshold"),
}
MODEL_CHECKS = {name: CLEANED_CHECKS[name] for name in (SCHEMA, RULES)}


class RowAccountingError(RuntimeError):
    """Rows that would vanish between input and output: nothing is published."""


Check = Callable[[Sequence[Outcome]], Sequence[Outcome]]


def publish_cleaned(
    store: LakeStore,
    con: DuckDBPyConnection,
    spec: TableSpec,
    quarantine: TableSpec,
    key: str | None,
    parts: Sequence[Cleaned],
    check: Check,
) -> tuple[PublishedPartition, dict[str, int]]:
    """Write-audit-publish one partition of a cleaned table (`publish_audited`): the audit
    first refuses rows that vanished (row accounting), then `check`s the pandera model and
    the quarantine rate on the staged files. Returns what was published and its counts.

    `parts` together make the partition. With `keep_first` (large tables) each part is computed
    on its own and appended to scratch files, and DuckDB deduplicates and sorts the clean rows
    within its memory limit: memory holds one part. Otherwise the single part's three lazy
    frames share one in-memory collect.
    """
    with contextlib.ExitStack() as scratch:
        if parts and parts[0].keep_first is not None:
            clean, rejects, counts = _write_in_parts(
                scratch, store, con, spec, quarantine, key, parts
            )
        else:
            (cleaned,) = parts
            clean, rejected, count_frame = pl.collect_all(
                [
                    spec.conform(cleaned.clean),
                    quarantine.conform(cleaned.quarantined),
                    cleaned.counts,
                ]
            )
            counts = {
                name: int(value or 0) for name, value in count_frame.row(0, named=True).items()
            }
            rejects = lambda: rejected  # noqa: E731

        def audit(staged: StagedPartition, rejected: StagedPartition | None) -> Sequence[Outcome]:
            assert rejected is not None
            counts.update(rows_out=staged.rows, quarantined=rejected.rows)
            accounting = accounting_metadata([counts])
            if not accounting["balanced"]:
                raise RowAccountingError(
                    f"{spec.qualified_name}: row accounting does not balance {accounting}; "
                    "nothing was published"
                )
            threshold = spec.pass_threshold
            return check(
                [
                    *audit_partition(store, con, staged),
                    quarantine_outcome(counts["rows_in"], store.scan_staged(rejected), threshold),
                ]
            )

        result = publish_audited(store, spec, key, clean, audit, Quarantine(quarantine, rejects))
    return result.published, counts


def _write_in_parts(
    scratch: contextlib.ExitStack,
    store: LakeStore,
    con: DuckDBPyConnection,
    spec: TableSpec,
    quarantine: TableSpec,
    key: str | None,
    parts: Sequence[Cleaned],
) -> tuple[StagedPartition, Callable[[], Iterator[Any]], dict[str, int]]:
    """The parts' clean rows staged deduplicated and sorted, and their rejects in a scratch
    file (streamed into quarantine when `publish_audited` asks for them)."""
    keep_first = parts[0].keep_first
    rows_in = 0
    folder = scratch.enter_context(store.scratch(spec, key or "_table"))
    clean_file, rejected_file = f"{folder}/clean.parquet", f"{folder}/rejected.parquet"
    with (
        store.parquet_writer(
            clean_file, arrow_schema(spec.polars_schema), scratch=True
        ) as clean_out,
        store.parquet_writer(
            rejected_file, arrow_schema(quarantine.polars_schema), scratch=True
        ) as bad,
    ):
        for part in parts:
            clean, rejects, count = pl.collect_all(
                [spec.conform(part.clean), quarantine.conform(part.quarantined), part.counts]
            )
            clean_out.write_table(clean.to_arrow(), row_group_size=ROW_GROUP_ROWS)
            bad.write_table(rejects.to_arrow(), row_group_size=ROW_GROUP_ROWS)
            rows_in += int(count["rows_in"].item())
    result = stage_sorted(store, con, spec, key, clean_file, keep_first)
    counts = {"rows_in": rows_in, "duplicates": result.duplicates, "removed_other": 0}
    return result.staged, lambda: store.read_batches(rejected_file), counts


def accounting_metadata(counts: list[dict[str, int]]) -> dict[str, int | bool]:
    """rows_in = rows_out + duplicates + removed_other + quarantined, summed over partitions."""
    total = sum_counts(counts)
    total["balanced"] = total.get("rows_in", 0) == sum(
        total.get(name, 0) for name in ("rows_out", "duplicates", "removed_other", "quarantined")
    )
    return total


def gated_publish(
    gate: QualityGate,
    store: LakeStore,
    con: DuckDBPyConnection,
    spec: TableSpec,
    quarantine: TableSpec,
    key: str | None,
    parts: Sequence[Cleaned],
) -> tuple[PublishedPartition, dict[str, int]]:
    """`publish_cleaned` with the gate's checks; the partition is recorded as published."""
    published, counts = publish_cleaned(
        store, con, spec, quarantine, key, parts, lambda outcomes: gate.check(key, outcomes)
    )
    gate.published_partition(published, accounting_metadata([counts]))
    return published, counts


def cleaned_attributes(
    spec: TableSpec,
    partitioning: Partitioning,
    checks: dict[str, tuple[str, str]] = CLEANED_CHECKS,
) -> dict[str, Any]:
    return asset_attributes(
        spec,
        partitioning,
        kinds={"polars"},
        automation=follow_updates(),
        checks=check_specs(spec, checks, partitioning),
    )


def _daily_cleaned_asset(
    spec: TableSpec,
    quarantine: TableSpec,
    upstream: TableSpec,
    mapping: dg.PartitionMapping,
    window: Callable[[str], list[str]],
    transform: Callable[..., Cleaned],
    partitioning: Partitioning,
    in_parts: bool = False,
) -> dg.AssetsDefinition:
    """A silver table by event date, reading the bronze arrival days of its late window.

    `in_parts`: each output row depends on one input row (deduplication is left to the store's
    `keep_first`), so the transform runs on a bounded group of bronze files at a time.
    """

    @dg.asset(
        deps=[dg.AssetDep(asset_key(upstream), partition_mapping=mapping)],
        **cleaned_attributes(spec, partitioning),
    )
    def _asset(
        context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource
    ) -> Iterator[Any]:
        store, now, first = lake.store(), utc_now(), partitioning.first_day
        gate = QualityGate(context, spec, store)

        def steps(con: DuckDBPyConnection) -> Iterator[Any]:
            published, counts = [], []
            for key in partition_keys(context):
                sources = (
                    store.scan_in_parts(upstream, window(key))
                    if in_parts
                    else [store.scan(upstream, window(key))]
                )
                parts = [
                    transform(source, partitions.day(key), first, LATE_DAYS, now)
                    for source in sources
                ]
                result, count = gated_publish(gate, store, con, spec, quarantine, key, parts)
                published.append(result)
                counts.append(count)
            yield dg.MaterializeResult(
                metadata=published_metadata(spec, published, accounting_metadata(counts))
            )
            yield from gate.results()

        with duckdb.get_connection() as con:
            yield from gate.guard(steps(con))

    return _asset


def _unpartitioned_cleaned(
    context: dg.AssetExecutionContext,
    store: LakeStore,
    duckdb: DuckDBResource,
    spec: TableSpec,
    quarantine: TableSpec,
    cleaned: Cleaned,
    extra: Callable[[dict[str, Any]], dict[str, Any]] = lambda metadata: metadata,
) -> Iterator[Any]:
    gate = QualityGate(context, spec, store)

    def steps(con: DuckDBPyConnection) -> Iterator[Any]:
        published, counts = gated_publish(gate, store, con, spec, quarantine, None, [cleaned])
        metadata = extra(accounting_metadata([counts]))
        yield dg.MaterializeResult(metadata=published_metadata(spec, [published], metadata))
        yield from gate.results()

    with duckdb.get_connection() as con:
        yield from gate.guard(steps(con))


def _renamed_accounting(metadata: dict[str, Any]) -> dict[str, Any]:
    metadata["deleted_customers"] = metadata.pop("removed_other", 0)
    metadata["superseded_versions"] = metadata.pop("duplicates", 0)
    return metadata


def silver_customers(
    context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource
) -> Iterator[Any]:
    """Rebuilt from the whole CDC history: the feed is small and deletes need every change."""
    store = lake.store()
    cleaned = current_customers(store.scan(tables.BRONZE_CUSTOMERS_CDC), utc_now())
    yield from _unpartitioned_cleaned(
        context,
        store,
        duckdb,
        tables.SILVER_CUSTOMERS,
        tables.SILVER_CUSTOMERS_QUARANTINE,
        cleaned,
        _renamed_accounting,
    )


def silver_products(
    context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource
) -> Iterator[Any]:
    """The latest published snapshot wins; older snapshots stay in bronze."""
    store = lake.store()
    latest = store.partition_keys(tables.BRONZE_PRODUCTS)[-1:]
    cleaned = latest_products(store.scan(tables.BRONZE_PRODUCTS, latest), utc_now())
    snapshot = latest[0] if latest else "none"
    yield from _unpartitioned_cleaned(
        context,
        store,
        duckdb,
        tables.SILVER_PRODUCTS,
        tables.SILVER_PRODUCTS_QUARANTINE,
        cleaned,
        lambda metadata: {**metadata, "snapshot_date": snapshot},
    )


def silver_sessions(
    context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource
) -> Iterator[Any]:
    spec = tables.SILVER_SESSIONS
    store = lake.store()
    gate = QualityGate(context, spec, store)

    def steps(con: DuckDBPyConnection) -> Iterator[Any]:
        published = []
        for key in partition_keys(context):
            files = store.files(tables.SILVER_APP_EVENTS, partitions.session_keys(key))
            if files:
                query = sessionize(parquet_source(store, files), partitions.day(key))
                rows = stage_query(store, con, spec, key, query)
            else:
                rows = pl.DataFrame(schema=spec.polars_schema)
            result = gate.publish(key, rows, lambda staged, _: audit_partition(store, con, staged))
            published.append(result.published)
        yield dg.MaterializeResult(metadata=published_metadata(spec, published))
        yield from gate.results()

    with duckdb.get_connection() as con:
        yield from gate.guard(steps(con))


def silver_assets(partitioning: Partitioning) -> list[dg.AssetsDefinition]:
    """The silver assets on the given partitioning (see `lakehouse.definitions`): the bodies
    above become assets here, when the definitions are built."""
    return [
        _daily_cleaned_asset(
            tables.SILVER_APP_EVENTS,
            tables.SILVER_APP_EVENTS_QUARANTINE,
            tables.BRONZE_APP_EVENTS,
            partitions.LATE_ARRIVAL_MAPPING,
            partitions.late_arrival_keys,
            clean_app_events,
            partitioning,
            in_parts=True,
        ),
        _daily_cleaned_asset(
            tables.SILVER_ORDERS,
            tables.SILVER_ORDERS_QUARANTINE,
            tables.BRONZE_ORDERS,
            partitions.LATE_ARRIVAL_MAPPING,
            partitions.late_arrival_keys,
            clean_orders,
            partitioning,
        ),
        dg.asset(
            deps=[asset_key(tables.BRONZE_CUSTOMERS_CDC)],
            **cleaned_attributes(tables.SILVER_CUSTOMERS, partitioning),
        )(silver_customers),
        dg.asset(
            deps=[asset_key(tables.BRONZE_PRODUCTS)],
            **cleaned_attributes(tables.SILVER_PRODUCTS, partitioning),
        )(silver_products),
        dg.asset(
            deps=[
                dg.AssetDep(
                    asset_key(tables.SILVER_APP_EVENTS),
                    partition_mapping=partitions.SESSION_MAPPING,
                )
            ],
            **cleaned_attributes(tables.SILVER_SESSIONS, partitioning, MODEL_CHECKS),
        )(silver_sessions),
    ]
