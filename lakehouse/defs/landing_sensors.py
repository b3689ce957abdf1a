"""Landing sensors: one per source, requesting bronze partitions for new or changed files.

The sensor's memory is the manifest in the lake (`lakehouse/landing/manifest.py`), not its
cursor; every bronze run records there what it ingested, so a file ingested by `lakehouse build`
or the UI is not requested again. Run keys come from file contents, so Dagster never launches
the same content twice even when a tick is retried; finished runs are read back from the
instance to mark files ingested or failed.
"""

import datetime as dt
from collections.abc import Sequence

import dagster as dg

from lakehouse.defs.resources import LakeResource, LandingWatchResource
from lakehouse.landing.batches import APPEND, INGEST_TAG
from lakehouse.landing.contract import SOURCES, SourceContract
from lakehouse.landing.manifest import load_manifest, merge_manifest
from lakehouse.landing.watch import RunOutcome, WatchLimits, plan_tick

RUN_KEY_TAG = "dagster/run_key"
FINISHED_OK = {dg.DagsterRunStatus.SUCCESS}
FINISHED_BADLY = {dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def run_outcome_lookup(instance: dg.DagsterInstance):
    def lookup(run_key: str) -> RunOutcome | None:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: run_key}), limit=1)
        if not runs:
            return None
        run = runs[0]
        if run.status in FINISHED_OK:
            return RunOutcome(True, run.run_id)
        if run.is_complete_and_waiting_to_retry:
            return RunOutcome(None, run.run_id)  # the daemon retries it (`run_retries`)
        if run.status in FINISHED_BADLY:
            return RunOutcome(False, run.run_id, _failure_message(instance, run.run_id))
        return RunOutcome(None, run.run_id)

    return lookup


def _failure_message(instance: dg.DagsterInstance, run_id: str) -> str:
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.STEP_FAILURE, limit=1
    ).records
    if records:
        error = records[0].event_log_entry.dagster_event.step_failure_data.error
        cause = error.cause.message if error and error.cause else error.message if error else ""
        return f"run {run_id} failed: {cause.strip()}"[:2000]
    return f"run {run_id} failed"


def landing_sensor(
    contract: SourceContract, bronze: dg.AssetsDefinition, interval_seconds: int
) -> dg.SensorDefinition:
    """The sensor of one source; it requests only days of `bronze`'s partition set."""
    daily = bronze.partitions_def

    @dg.sensor(
        name=f"landing_{contract.name}",
        target=[bronze],
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Requests bronze partitions for new or changed files in "
        f"landing/{contract.name}/ once they have settled.",
    )
    def _sensor(
        context: dg.SensorEvaluationContext, lake: LakeResource, landing_watch: LandingWatchResource
    ) -> dg.SensorResult:
        store = lake.store()
        plan = plan_tick(
            lake.landing(),
            contract,
            load_manifest(store, contract.name),
            now=dt.datetime.now(dt.UTC),
            limits=WatchLimits(
                settle_seconds=landing_watch.settle_seconds,
                max_files_hashed=landing_watch.max_files_hashed,
                max_partitions=landing_watch.max_partitions,
            ),
            run_outcome=run_outcome_lookup(context.instance),
            is_partition=lambda day: daily.has_partition_key(day),
        )
        # Only its own changes: a bronze run may have recorded files since the load above.
        merge_manifest(store, contract.name, plan.changed_rows)
        for note in plan.notes:
            context.log.info(note)
        requests = [
            dg.RunRequest(
                run_key=request.run_key,
                partition_key=request.day,
                asset_selection=[bronze.key],
                tags={
                    "lakehouse/source": contract.name,
                    "lakehouse/files": str(len(request.files)),
                    **({INGEST_TAG: APPEND} if request.append else {}),
                },
            )
            for request in plan.requests
        ]
        return dg.SensorResult(
            run_requests=requests,
            skip_reason=None if requests else "no new or changed settled files",
        )

    return _sensor


def landing_sensors(
    bronze: Sequence[dg.AssetsDefinition], interval_seconds: int
) -> list[dg.SensorDefinition]:
    """One sensor per landing source, targeting its bronze asset among `bronze`."""
    by_table = {asset.key.path[-1]: asset for asset in bronze}
    return [
        landing_sensor(contract, by_table[contract.bronze_table], interval_seconds)
        for contract in SOURCES.values()
    ]
