"""Silver assets: cleaned, deduplicated, conformed tables; bad rows go to quarantine.

Each partition is staged (written to a staging folder and verified), audited (row accounting, then
the table's pandera model batch by batch and its quarantine rate) and only then published:
write-audit-publish.
"""

from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
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
from lakehouse.defs.quality_gate import QualityGate, check_specs
from lakehouse.defs.resources import LakeResource
from lakehouse.partitions import Partitioning
from lakehouse.quality.evaluate import (
    ERROR,
    QUARANTINE,
    RULES,
    SCHEMA,
    WARN,
    Outcome,
    audit_batches,
    quarantine_outcome,
)
from lakehouse.storage import LakeStore, PublishedPartition, StagedPartition, TableSpec
from lakehouse.storage.parquet import ROW_GROUP_ROWS, arrow_schema
from lakehouse.storage.sorting import duplicated_rows, parquet_source, stage_query, stage_sorted
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


@dataclass(frozen=True)
class Staged:
    """A partition written to staging and verified, but not yet published."""

    clean: StagedPartition
    rejected: StagedPartition
    counts: dict[str, int]

    @property
    def rows_in(self) -> int:
        return self.counts["rows_in"]


def stage_cleaned(
    store: LakeStore,
    con: DuckDBPyConnection,
    spec: TableSpec,
    quarantine: TableSpec,
    key: str | None,
    parts: Sequence[Cleaned],
) -> Staged:
    """Stage clean rows and rejects; refuse (staging discarded) if any input row vanished.

    `parts` together make the partition. With `keep_first` (large tables) each part is computed
    on its own and appended to scratch files, and DuckDB deduplicates and sorts the clean rows
    within its memory limit: memory holds one part. Otherwise the single part's three lazy
    frames share one in-memory collect.
    """
    if parts and parts[0].keep_first is not None:
        clean, rejected, counts = _stage_in_parts(store, con, spec, quarantine, key, parts)
    else:
        (cleaned,) = parts
        frame, rejects, count_frame = pl.collect_all(
            [spec.conform(cleaned.clean), quarantine.conform(cleaned.quarantined), cleaned.counts]
        )
        counts = {name: int(value or 0) for name, value in count_frame.row(0, named=True).items()}
        rejected = store.stage(quarantine, key, rejects)
        try:
            clean = store.stage(spec, key, frame)
        except BaseException:
            store.discard(rejected)
            raise
    counts |= {"rows_out": clean.rows, "quarantined": rejected.rows}
    accounting = accounting_metadata([counts])
    if not accounting["balanced"]:
        store.discard(clean)
        store.discard(rejected)
        raise RowAccountingError(
            f"{spec.qualified_name}: row accounting does not balance {accounting}; "
            "nothing was published"
        )
    return Staged(clean, rejected, counts)


def _stage_in_parts(
    store: LakeStore,
    con: DuckDBPyConnection,
    spec: TableSpec,
    quarantine: TableSpec,
    key: str | None,
    parts: Sequence[Cleaned],
) -> tuple[StagedPartition, StagedPartition, dict[str, int]]:
    keep_first = parts[0].keep_first
    rows_in = 0
    with store.scratch(spec, key or "_table") as folder:
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
        rejected = store.stage(quarantine, key, store.read_batches(rejected_file))
        try:
            result = stage_sorted(store, con, spec, key, clean_file, keep_first)
        except BaseException:
            store.discard(rejected)
            raise
    counts = {"rows_in": rows_in, "duplicates": result.duplicates, "removed_other": 0}
    return result.staged, rejected, counts


def audit_staged(store: LakeStore, con: DuckDBPyConnection, staged: Staged) -> list[Outcome]:
    """The model's checks a batch at a time, uniqueness over the whole partition, and the
    quarantine rate: memory holds one batch whatever the partition's size."""
    spec = staged.clean.spec
    return [
        *audit_partition(store, con, staged.clean),
        quarantine_outcome(
            staged.rows_in,
            store.scan_staged(staged.rejected),
            spec.pass_threshold,
        ),
    ]


def audit_partition(
    store: LakeStore, con: DuckDBPyConnection, staged: StagedPartition
) -> list[Outcome]:
    """The table's pandera model on a staged partition, a batch at a time."""
    return audit_batches(
        staged.spec.model,
        staged_batches(store, staged),
        lambda columns: duplicated_rows(con, store, staged.files, columns),
    )


def staged_batches(store: LakeStore, staged: StagedPartition) -> Iterator[pl.DataFrame]:
    """A staged partition a row group at a time; one empty frame when it has no rows."""
    empty = True
    for path in staged.files:
        for batch in store.read_batches(path):
            empty = False
            yield pl.from_arrow(batch, schema=staged.spec.polars_schema)
    if empty:
        yield pl.DataFrame(schema=staged.spec.polars_schema)


def publish_staged(store: LakeStore, staged: Staged) -> PublishedPartition:
    """Quarantine first, so a rejected row is never missing from both tables."""
    store.commit(staged.rejected)
    return store.commit(staged.clean)


def discard_staged(store: LakeStore, staged: Staged) -> None:
    store.discard(staged.rejected)
    store.discard(staged.clean)


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
) -> Generator[Any, None, tuple[PublishedPartition, dict[str, int]]]:
    """Stage, audit, then publish one partition; yields the gate's events, returns what was
    published and its counts. A failed ERROR check discards the staged files."""
    staged = stage_cleaned(store, con, spec, quarantine, key, parts)
    try:
        yield from gate.evaluate(key, audit_staged(store, con, staged))
    except BaseException:
        discard_staged(store, staged)
        raise
    published = publish_staged(store, staged)
    gate.published_partition(published, accounting_metadata([staged.counts]))
    return published, staged.counts


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
                result, count = yield from gated_publish(
                    gate, store, con, spec, quarantine, key, parts
                )
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
        published, counts = yield from gated_publish(
            gate, store, con, spec, quarantine, None, [cleaned]
        )
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
                staged = stage_query(store, con, spec, key, query)
            else:
                staged = store.stage(spec, key, pl.DataFrame(schema=spec.polars_schema))
            try:
                yield from gate.evaluate(key, audit_partition(store, con, staged))
            except BaseException:
                store.discard(staged)
                raise
            published.append(gate.published_partition(store.commit(staged)))
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
