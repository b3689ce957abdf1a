"""Building the lake end to end: plan the partition ranges still missing, run them in process.

Every asset shares the daily partitions definition or has none, and every one has a single-run
backfill policy, so the whole graph for a partition range is one run: what
`dagster asset materialize --select '*' --partition-range A...B` does, without paying for a second
interpreter and a second load of the code. What the Dagster instance already records as
materialized is not built again unless asked. New arrival days are ingested in one run, and the
silver and gold days their rows can change (the late window) are rebuilt in a second.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from lakehouse.landing.contract import SOURCES
from lakehouse.partitions import LATE_ARRIVAL_DAYS, RANGE_END_TAG, RANGE_START_TAG, range_tags
from lakehouse.progress import LOGGER_NAME, StepProgress, build_logger
from lakehouse.runs.health import full_pools, process_tags, release_dead_runs
from lakehouse.storage import InvalidPartitionKey, validate_day_key

BRONZE = "bronze"
ALL_ASSETS = "every asset"
DOWNSTREAM = "silver and gold"
#: The parts of the graph each kind of planned run builds.
SELECTIONS = {BRONZE: (BRONZE,), DOWNSTREAM: (DOWNSTREAM,), ALL_ASSETS: (BRONZE, DOWNSTREAM)}
#: Marks the runs `lakehouse build` starts, with their selection.
BUILD_TAG = "lakehouse/build"


@dataclass(frozen=True)
class PlannedRun:
    """One run: a selection of layers over a partition range."""

    selection: str
    first: str
    last: str
    reason: str
    #: Only these assets of the selection (their keys as `bronze/orders`); all when empty.
    only: tuple[str, ...] = ()
    #: Tags the run carries besides the range and this process (a sensor's run key, say).
    tags: tuple[tuple[str, str], ...] = ()

    def pools(self, graph) -> list[str]:
        """The concurrency pools its steps claim."""
        return sorted({pool for key in self.asset_keys(graph) for pool in graph.get(key).pools})

    def asset_keys(self, graph) -> list[dg.AssetKey]:
        keys = sorted(graph.get_all_asset_keys())
        bronze = [key for key in keys if key.path[0] == BRONZE]
        chosen = {
            ALL_ASSETS: keys,
            BRONZE: bronze,
            DOWNSTREAM: [key for key in keys if key not in bronze],
        }[self.selection]
        if self.only:
            chosen = [key for key in chosen if key.to_user_string() in self.only]
        return chosen


@dataclass(frozen=True)
class BuildPlan:
    runs: list[PlannedRun]
    reason: str

    @property
    def needed(self) -> bool:
        return bool(self.runs)


def landing_days(landing: Path) -> tuple[list[str], list[str]]:
    """Arrival days present in the landing folder across all sources, and the folders whose
    names are not days (reported, never read)."""
    days, odd = set(), []
    for source in SOURCES:
        folder = landing / source
        if not folder.is_dir():
            continue
        for child in sorted(folder.iterdir()):
            try:
                days.add(validate_day_key(child.name))
            except InvalidPartitionKey as error:
                odd.append(f"{child.relative_to(landing)}: {error}")
    return sorted(days), odd


def plan_build(
    instance: dg.DagsterInstance, defs: dg.Definitions, days: list[str], *, full: bool = False
) -> BuildPlan:
    """The runs that bring every asset up to date with the landing days: the days not yet
    materialized, and the days of earlier builds' runs that failed or were killed (their
    partitions may hold what the run before them wrote, or nothing new)."""
    if not days:
        return BuildPlan([], "the landing folder has no arrival days")
    if full:
        return BuildPlan([PlannedRun(ALL_ASSETS, days[0], days[-1], "full rebuild")], "full")
    graph = defs.resolve_asset_graph()
    missing: set[str] = set()
    missing_bronze: set[str] = set()
    unpartitioned_missing = False
    for key in graph.get_all_asset_keys():
        if graph.get(key).partitions_def is None:
            unpartitioned_missing |= instance.get_latest_materialization_event(key) is None
            continue
        absent = set(days) - set(instance.get_materialized_partitions(key))
        missing |= absent
        if key.path[0] == BRONZE:
            missing_bronze |= absent
    owed = unfinished_days(instance, days)
    missing |= owed[BRONZE] | owed[DOWNSTREAM]
    missing_bronze |= owed[BRONZE]
    if missing:
        first, last = min(missing), max(missing)
        reason = f"{len(missing)} days not yet materialized"
        if owed[BRONZE] or owed[DOWNSTREAM]:
            reason += " or left unfinished by a failed or killed build"
        reach = days_reaching_back(min(missing_bronze), days[0]) if missing_bronze else first
        if min(reach, first) == days[0] or not missing_bronze:
            return BuildPlan([PlannedRun(ALL_ASSETS, min(reach, first), last, reason)], reason)
        # New arrival days: ingest them alone, then rebuild the days their late rows reach.
        return BuildPlan(
            [
                PlannedRun(BRONZE, min(missing_bronze), max(missing_bronze), "new arrival days"),
                PlannedRun(
                    DOWNSTREAM,
                    min(reach, first),
                    last,
                    "the new days and the days their late rows belong to",
                ),
            ],
            reason,
        )
    if unpartitioned_missing:
        reason = "unpartitioned tables not yet materialized"
        return BuildPlan([PlannedRun(ALL_ASSETS, days[-1], days[-1], reason)], reason)
    return BuildPlan([], "every asset is materialized for every landing day")


def unfinished_days(
    instance: dg.DagsterInstance, days: list[str], lookback: int = 50
) -> dict[str, set[str]]:
    """The days, of bronze and of silver and gold, that earlier builds' runs were to build
    but did not finish, and no later successful build run covered. A killed run is failed
    before planning (`wait_for_pools` releases dead runs) so it counts here."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(tags={BUILD_TAG: list(SELECTIONS)}), limit=lookback
    )
    covered = {BRONZE: set(), DOWNSTREAM: set()}
    owed = {BRONZE: set(), DOWNSTREAM: set()}
    for record in records:  # newest first
        run = record.dagster_run
        span = _days_between(
            days, run.tags.get(RANGE_START_TAG, ""), run.tags.get(RANGE_END_TAG, "")
        )
        parts = SELECTIONS.get(run.tags.get(BUILD_TAG, ""), ())
        if run.status == dg.DagsterRunStatus.SUCCESS:
            for part in parts:
                covered[part] |= span
        elif run.is_finished:
            for part in parts:
                owed[part] |= span - covered[part]
    return owed


def _days_between(days: list[str], first: str, last: str) -> set[str]:
    return {day for day in days if first <= day <= last}


def days_reaching_back(first_new: str, first_landing: str) -> str:
    """The earliest partition a new arrival day can change: rows arrive up to
    LATE_ARRIVAL_DAYS late, and a session reaches one day further back."""
    reach = dt.date.fromisoformat(first_new) - dt.timedelta(days=LATE_ARRIVAL_DAYS + 1)
    return max(reach.isoformat(), first_landing)


class PoolsBusy(Exception):
    """The pools a run needs stayed full, held by live runs, for the whole wait."""


def wait_for_pools(
    instance: dg.DagsterInstance,
    pools: list[str],
    wait_seconds: float,
    report: Callable[[str], None],
    poll_seconds: float = 5.0,
) -> None:
    """Return once each of `pools` has a free slot. Dead runs' slots are released first; slots
    of live runs are waited for, saying whose they are, sleeping between looks, for at most
    `wait_seconds` (then PoolsBusy)."""
    deadline = time.monotonic() + wait_seconds
    said = None
    while True:
        for action in release_dead_runs(instance, failed_by="lakehouse build"):
            report(action)
        held = full_pools(instance, pools)
        if not held:
            return
        holders = "; ".join(
            f"pool {h.pool} held by run {h.run_id} (step {h.step_key})" for h in held
        )
        left = deadline - time.monotonic()
        if left <= 0:
            raise PoolsBusy(f"gave up after {wait_seconds:g} s: {holders}")
        if holders != said:
            report(f"waiting up to {left:.0f} s for a free slot: {holders}")
            said = holders
        time.sleep(min(poll_seconds, left))


def execute_run(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    run: PlannedRun,
    report: Callable[[str], None] = print,
    run_id: str | None = None,
    progress: StepProgress | None = None,
) -> bool:
    """One run of the planned selection over its range, in this process; True when it
    succeeded. With `progress`, its events go there (progress lines, the full log in a file)
    instead of Dagster's console logger; without, step failures are reported with their
    messages (the file and line, for a bad landing file). The run is tagged with this host and
    process, so a later build can tell if it died; whatever stops it, its slots are freed."""
    job = defs.resolve_implicit_global_asset_job_def()
    run_config = None
    if progress is not None:
        job = job.with_logger_defs({LOGGER_NAME: build_logger(progress)})
        run_config = {"loggers": {LOGGER_NAME: {}}}
    run_id = run_id or str(uuid.uuid4())
    try:
        result = job.execute_in_process(
            run_config=run_config,
            instance=instance,
            asset_selection=run.asset_keys(defs.resolve_asset_graph()),
            tags={
                **range_tags(run.first, run.last),
                **process_tags(),
                BUILD_TAG: run.selection,
                **dict(run.tags),
            },
            raise_on_error=False,
            run_id=run_id,
        )
    finally:
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    if progress is None:
        for event in result.all_events:
            if event.is_step_failure:
                error = event.step_failure_data.error
                cause = error.cause if error and error.cause else error
                report(f"step {event.step_key} failed: {cause.message.strip() if cause else ''}")
    return result.success
