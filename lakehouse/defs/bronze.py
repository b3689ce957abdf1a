"""Bronze assets: one per landing source, partitioned by arrival date."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from lakehouse import tables
from lakehouse.defs.publishing import asset_attributes, partition_keys, published_metadata, utc_now
from lakehouse.defs.quality_gate import QualityGate, check_specs
from lakehouse.defs.resources import LakeResource
from lakehouse.landing.batches import APPEND, INGEST_TAG, NotAppendable, next_batch, record_batch
from lakehouse.landing.contract import SOURCES, SourceContract
from lakehouse.landing.ingest import AppendBatch, IngestResult, drift_outcome, ingest_day
from lakehouse.landing.manifest import record_ingested
from lakehouse.partitions import Partitioning
from lakehouse.quality.evaluate import CONTRACT, DRIFT, ERROR, WARN, Outcome
from lakehouse.table_spec import TableSpec

#: Reading landing files can fail for passing reasons (a share hiccup, a file replaced mid-read):
#: retry the step with exponential backoff. A file that is really broken fails every attempt.
LANDING_RETRY = dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL)

#: Metadata of an appending bronze run: the event days of the rows it appended.
EVENT_DAYS = "appended_event_days"

BRONZE_CHECKS = {
    CONTRACT: (ERROR, "Typed rows match the landing source's pandera contract"),
    DRIFT: (WARN, "Landing files carry exactly the contract's columns (no extra, none missing)"),
}


def bronze_asset(
    contract: SourceContract, spec: TableSpec, partitioning: Partitioning
) -> dg.AssetsDefinition:
    quarantine = tables.BRONZE_QUARANTINE[spec.name]

    @dg.asset(
        retry_policy=LANDING_RETRY,
        **asset_attributes(
            spec,
            partitioning,
            kinds={"duckdb"},
            checks=check_specs(spec, BRONZE_CHECKS, partitioning),
        ),
    )
    def _bronze(
        context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource
    ) -> Iterator[Any]:
        store, landing, now = lake.store(), lake.landing(), utc_now()
        gate = QualityGate(context, spec, store)

        def ingest(day: str, con, batch: AppendBatch | None = None) -> IngestResult:
            result = ingest_day(
                landing=landing,
                store=store,
                contract=contract,
                table=spec,
                quarantine=quarantine,
                day=day,
                con=con,
                now=now,
                check=lambda outcomes: gate.check(day, outcomes),
                batch=batch,
            )
            for name in result.ignored_files:
                context.log.warning(f"{name} does not match {contract.patterns}; not read")
            for name, changes in result.drift.items():
                context.log.warning(f"{name} drifts from the contract: {changes}")
            if result.published is not None:
                gate.published_partition(result.published, result.figures)
            return result

        def appended(day: str, con) -> list[IngestResult] | None:
            """The day's new files, batch after batch until none is left; None when the
            day must be rewritten instead."""
            results = []
            try:
                while batch := next_batch(
                    store, landing, contract, spec, day, run_id=context.run.run_id, now=now
                ):
                    result = ingest(day, con, batch)
                    record_batch(
                        store, contract, day, batch, result, run_id=context.run.run_id, now=now
                    )
                    results.append(result)
            except NotAppendable as reason:
                context.log.info(f"{spec.qualified_name} {day}: rewritten whole: {reason}")
                return None
            if not results:  # an earlier run took every file: the checks pass on no rows
                gate.check(day, [Outcome(CONTRACT, ERROR, True, 0, 0), drift_outcome({}, {}, 0)])
            return results

        def steps() -> Iterator[Any]:
            days = partition_keys(context)
            results: list[IngestResult] | None = None
            with duckdb.get_connection() as con:
                con.execute("SET TimeZone = 'UTC'")  # timestamps leave DuckDB as UTC
                if context.run.tags.get(INGEST_TAG) == APPEND and len(days) == 1:
                    results = appended(days[0], con)
                appending = results is not None
                if results is None:
                    results = [ingest(day, con) for day in days]
                    # The one record of what was ingested, whoever launched this run:
                    # written once the days are committed to bronze, never before.
                    store.commit_deferred()
                    record_ingested(
                        store,
                        contract.name,
                        {
                            result.published.partition_key: {
                                path: (*result.listed[path], result.hashes[path])
                                for path in result.files
                            }
                            for result in results
                            if result.published is not None
                        },
                        context.run.run_id,
                        now,
                    )
            results = [result for result in results if result.published is not None]
            batches = len(results) if appending else None
            quarantined = sum(r.quarantined.rows for r in results if r.quarantined is not None)
            # One line per step, not per day: each log line is a stored event (several ms on
            # SQLite); the figures of each day are in its partition's metadata.
            context.log.info(
                f"{spec.qualified_name}: "
                + (f"{batches} batches appended, " if appending else f"{len(results)} days, ")
                + f"{sum(len(result.files) for result in results)} files, "
                f"{sum(result.published.rows for result in results)} rows, "
                f"{quarantined} quarantined"
            )
            figures = {
                **{
                    name: sum(result.figures[name] for result in results)
                    for name in (results[0].figures if results else {})
                },
                # The newest arrival day in bronze: the source's high-water mark.
                "watermark": max(
                    [*store.partition_keys(spec), *(r.published.partition_key for r in results)],
                    default="none",
                ),
            }
            if appending:
                figures["batches_appended"] = batches
                # The silver days the appended rows can change (`lakehouse build --watch`
                # rebuilds only those downstream).
                figures[EVENT_DAYS] = dg.MetadataValue.json(
                    sorted(set().union(*(result.event_days for result in results)))
                )
            yield dg.MaterializeResult(
                metadata=published_metadata(spec, [r.published for r in results], figures)
                if results
                else {**figures, "rows": 0, "note": "nothing new to append"}
            )
            yield from gate.results()

        yield from gate.guard(steps())

    return _bronze


#: Each landing source and the bronze table it lands in.
BRONZE_SOURCES = [
    (SOURCES["app_events"], tables.BRONZE_APP_EVENTS),
    (SOURCES["orders"], tables.BRONZE_ORDERS),
    (SOURCES["customers"], tables.BRONZE_CUSTOMERS_CDC),
    (SOURCES["products"], tables.BRONZE_PRODUCTS),
    (SOURCES["reviews"], tables.BRONZE_REVIEWS),
]


def bronze_assets(partitioning: Partitioning) -> list[dg.AssetsDefinition]:
    """The bronze assets on the given partitioning (see `lakehouse.definitions`)."""
    return [bronze_asset(contract, spec, partitioning) for contract, spec in BRONZE_SOURCES]
