"""Bronze assets: one per landing source, partitioned by arrival date."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from lakehouse import tables
from lakehouse.defs.publishing import asset_attributes, partition_keys, published_metadata, utc_now
from lakehouse.defs.quality_gate import QualityGate, check_specs
from lakehouse.defs.resources import LakeResource
from lakehouse.landing.contract import SOURCES, SourceContract
from lakehouse.landing.ingest import ingest_day
from lakehouse.landing.manifest import record_ingested
from lakehouse.partitions import Partitioning
from lakehouse.quality.evaluate import CONTRACT, DRIFT, ERROR, WARN
from lakehouse.table_spec import TableSpec

#: Reading landing files can fail for passing reasons (a share hiccup, a file replaced mid-read):
#: retry the step with exponential backoff. A file that is really broken fails every attempt.
LANDING_RETRY = dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL)

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

        def steps() -> Iterator[Any]:
            results = []
            with duckdb.get_connection() as con:
                con.execute("SET TimeZone = 'UTC'")  # timestamps leave DuckDB as UTC
                for day in partition_keys(context):
                    result = ingest_day(
                        landing=landing,
                        store=store,
                        contract=contract,
                        table=spec,
                        quarantine=quarantine,
                        day=day,
                        con=con,
                        now=now,
                        check=lambda outcomes, day=day: gate.check(day, outcomes),
                    )
                    for name in result.ignored_files:
                        context.log.warning(f"{name} does not match {contract.patterns}; not read")
                    for name, changes in result.drift.items():
                        context.log.warning(f"{name} drifts from the contract: {changes}")
                    gate.published_partition(result.published, result.figures)
                    results.append(result)
            # The one record of what was ingested, whoever launched this run: written once the
            # days are committed to bronze, never before.
            store.commit_deferred()
            record_ingested(
                store,
                contract.name,
                {
                    result.published.partition_key: {
                        path: (*result.listed[path], result.hashes[path]) for path in result.files
                    }
                    for result in results
                    if result.published is not None
                },
                context.run.run_id,
                now,
            )
            # One line per step, not per day: each log line is a stored event (several ms on
            # SQLite); the figures of each day are in its partition's metadata.
            context.log.info(
                f"{spec.qualified_name}: {len(results)} days, "
                f"{sum(len(result.files) for result in results)} files, "
                f"{sum(result.published.rows for result in results)} rows, "
                f"{sum(result.quarantined.rows for result in results)} quarantined"
            )
            yield dg.MaterializeResult(
                metadata=published_metadata(
                    spec,
                    [result.published for result in results],
                    {
                        **{
                            name: sum(result.figures[name] for result in results)
                            for name in (results[0].figures if results else {})
                        },
                        # The newest arrival day in bronze: the source's high-water mark.
                        "watermark": max(
                            [
                                *store.partition_keys(spec),
                                *(r.published.partition_key for r in results),
                            ],
                            default="none",
                        ),
                    },
                )
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
]


def bronze_assets(partitioning: Partitioning) -> list[dg.AssetsDefinition]:
    """The bronze assets on the given partitioning (see `lakehouse.definitions`)."""
    return [bronze_asset(contract, spec, partitioning) for contract, spec in BRONZE_SOURCES]
