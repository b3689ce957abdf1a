"""Silver assets: cleaned, deduplicated, conformed tables; bad rows go to quarantine.

Each asset reads its inputs, calls its transform and publishes each partition through
`lakehouse.quality.audited.publish_cleaned` (write-audit-publish: staged, audited for row
accounting, the pandera model and the quarantine rate, then committed, quarantine first); this
module only makes Dagster assets of that.
"""

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource
from deltalake import Transaction
from duckdb import DuckDBPyConnection

from lakehouse import partitions, tables
from lakehouse.defs.automation import NEW_ROWS_TAG, follow_updates
from lakehouse.defs.publishing import (
    asset_attributes,
    asset_key,
    partition_keys,
    published_metadata,
    utc_now,
)
from lakehouse.defs.quality_gate import QualityGate, check_specs
from lakehouse.defs.resources import LakeResource
from lakehouse.partitions import Partitioning
from lakehouse.quality.audited import (
    accounting_metadata,
    publish_cleaned,
    publish_new_rows,
)
from lakehouse.quality.evaluate import (
    ERROR,
    QUARANTINE,
    RULES,
    SCHEMA,
    WARN,
)
from lakehouse.scratch import scratch_folder
from lakehouse.staging import stage_query
from lakehouse.storage import (
    LakeStore,
    PublishedPartition,
    StagedPartition,
    literal,
    parquet_source,
    watermark_id,
)
from lakehouse.table_spec import TableSpec
from lakehouse.transforms.app_events import clean_app_events
from lakehouse.transforms.customers import current_customers
from lakehouse.transforms.orders import clean_orders
from lakehouse.transforms.products import latest_products
from lakehouse.transforms.reviews import clean_reviews
from lakehouse.transforms.rules import Cleaned
from lakehouse.transforms.sessions import sessionize, windowed_events

LATE_DAYS = partitions.LATE_ARRIVAL_DAYS
CLEANED_CHECKS = {
    SCHEMA: (ERROR, "Columns, types, nullability and key uniqueness of the pandera model"),
    RULES: (WARN, "Ranges, allowed values and cross-column rules of the pandera model"),
    QUARANTINE: (WARN, "Share of input rows sent to quarantine stays within the threshold"),
}
MODEL_CHECKS = {name: CLEANED_CHECKS[name] for name in (SCHEMA, RULES)}


def gated_publish(
    gate: QualityGate,
    con: DuckDBPyConnection,
    quarantine: TableSpec,
    key: str | None,
    parts: Sequence[Cleaned],
    watermark: Transaction | None = None,
) -> tuple[PublishedPartition, dict[str, int]]:
    """`publish_cleaned` of the gate's table with its checks; the partition is recorded as
    published."""
    published, counts = publish_cleaned(
        gate.store,
        con,
        gate.spec,
        quarantine,
        key,
        parts,
        lambda outcomes: gate.check(key, outcomes),
        watermark,
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
    lookup: TableSpec | None = None,
) -> dg.AssetsDefinition:
    """A silver table by event date, reading the bronze arrival days of its late window.

    `in_parts`: each output row depends on one input row (deduplication is left to the store's
    `keep_first`), so the transform runs on a bounded group of bronze files at a time.
    `lookup`: an unpartitioned table the transform checks rows against (its last argument);
    its updates alone do not rebuild every day.
    """
    deps = [dg.AssetDep(asset_key(upstream), partition_mapping=mapping)]
    attributes = cleaned_attributes(spec, partitioning)
    if lookup is not None:
        deps.append(dg.AssetDep(asset_key(lookup)))
        attributes["automation_condition"] = follow_updates((asset_key(lookup),))

    @dg.asset(deps=deps, **attributes)
    def _asset(
        context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource
    ) -> Iterator[Any]:
        store, now, first = lake.store(), utc_now(), partitioning.first_day
        gate = QualityGate(context, spec, store)
        lookups = [store.scan(lookup)] if lookup is not None else []

        new_rows_only = in_parts and context.run.tags.get(NEW_ROWS_TAG) == "true"

        def cleaned(key: str) -> Callable[[pl.LazyFrame], Cleaned]:
            day = partitions.day(key)
            return lambda source: transform(source, day, first, LATE_DAYS, now, *lookups)

        def steps(con: DuckDBPyConnection) -> Iterator[Any]:
            published, counts, appended = [], [], 0
            for key in partition_keys(context):
                done = None
                if new_rows_only:
                    done = publish_new_rows(
                        store,
                        con,
                        spec,
                        quarantine,
                        key,
                        upstream,
                        window(key),
                        cleaned(key),
                        lambda outcomes, key=key: gate.check(key, outcomes),
                    )
                if done is not None:
                    gate.published_partition(done[0], accounting_metadata([done[1]]))
                    appended += 1
                else:
                    sources, mark = [store.scan(upstream, window(key))], None
                    bronze = store.delta_table(upstream) if in_parts else None
                    if bronze is not None:
                        # Read at one version, recorded with the day: where new rows start.
                        reading = bronze.version()
                        sources = store.scan_in_parts(upstream, window(key), version=reading)
                        mark = Transaction(watermark_id(key), reading)
                    parts = [cleaned(key)(source) for source in sources]
                    done = gated_publish(gate, con, quarantine, key, parts, mark)
                published.append(done[0])
                counts.append(done[1])
            metadata = accounting_metadata(counts)
            if new_rows_only:
                metadata["partitions_appended_to"] = appended
            yield dg.MaterializeResult(metadata=published_metadata(spec, published, metadata))
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
        published, counts = gated_publish(gate, con, quarantine, None, [cleaned])
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


#: Session days computed in one pass: each pass also reads the day after its last day, so
#: longer blocks read fewer events twice; shorter ones sort less at once.
SESSION_BLOCK_DAYS = 14


def silver_sessions(
    context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource
) -> Iterator[Any]:
    spec = tables.SILVER_SESSIONS
    store = lake.store()
    gate = QualityGate(context, spec, store)

    def steps(con: DuckDBPyConnection) -> Iterator[Any]:
        published, windowed, events = [], 0, 0
        # Before the first query: lake files on object storage become readable, and the
        # windows spill to the scratch area (the temp directory cannot change once used).
        store.prepare_duckdb(con)
        for block in partitions.blocks(partition_keys(context), SESSION_BLOCK_DAYS):
            first, last = block[0], block[-1]
            files = store.files(tables.SILVER_APP_EVENTS, partitions.session_keys(first, last))
            with scratch_folder(store, spec, f"{first}..{last}") as folder:
                sessions = literal(store.duckdb_path(f"{folder}/sessions.parquet"))
                if files:
                    source = parquet_source(store, files)
                    days = (partitions.day(first), partitions.day(last))
                    counts = con.execute(windowed_events(source, *days)).fetchone()
                    windowed, events = windowed + counts[0], events + counts[1]
                    query = sessionize(source, *days)
                    con.execute(f"COPY ({query}) TO {sessions} (FORMAT parquet)")
                for key in block:
                    rows: StagedPartition | pl.DataFrame = pl.DataFrame(schema=spec.polars_schema)
                    if files:
                        day = f"FROM read_parquet({sessions}) WHERE session_date = {literal(key)}"
                        day_query = f"SELECT * EXCLUDE (session_date) {day}"
                        rows = stage_query(store, con, spec, key, day_query)
                    published.append(gate.publish_by_model(con, key, rows))
        reads = {
            "events_windowed": windowed,
            "events_in_range": events,
            "windowed_per_event": round(windowed / events, 4) if events else 0.0,
        }
        yield dg.MaterializeResult(metadata=published_metadata(spec, published, reads))
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
        _daily_cleaned_asset(
            tables.SILVER_REVIEWS,
            tables.SILVER_REVIEWS_QUARANTINE,
            tables.BRONZE_REVIEWS,
            partitions.LATE_ARRIVAL_MAPPING,
            partitions.late_arrival_keys,
            clean_reviews,
            partitioning,
            lookup=tables.SILVER_PRODUCTS,
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
