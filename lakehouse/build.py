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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from lakehouse.landing.contract import SOURCES
from lakehouse.partitions import LATE_ARRIVAL_DAYS, range_tags
from lakehouse.storage.paths import InvalidPartitionKey, validate_day_key

BRONZE = "bronze"
ALL_ASSETS = "every asset"
DOWNSTREAM = "silver and gold"


@dataclass(frozen=True)
class PlannedRun:
    """One run: a selection of layers over a partition range."""

    selection: str
    first: str
    last: str
    reason: str

    def asset_keys(self, graph) -> list[dg.AssetKey]:
        keys = sorted(graph.get_all_asset_keys())
        if self.selection == ALL_ASSETS:
            return keys
        bronze = [key for key in keys if key.path[0] == BRONZE]
        return bronze if self.selection == BRONZE else [k for k in keys if k not in bronze]


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
    """The runs that bring every asset up to date with the landing days."""
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
    if missing:
        first, last = min(missing), max(missing)
        reason = f"{len(missing)} days not yet materialized"
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


def days_reaching_back(first_new: str, first_landing: str) -> str:
    """The earliest partition a new arrival day can change: rows arrive up to
    LATE_ARRIVAL_DAYS late, and a session reaches one day further back."""
    reach = dt.date.fromisoformat(first_new) - dt.timedelta(days=LATE_ARRIVAL_DAYS + 1)
    return max(reach.isoformat(), first_landing)


def execute_run(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    run: PlannedRun,
    report: Callable[[str], None] = print,
) -> bool:
    """One run of the planned selection over its range, in this process; True when it
    succeeded. Step failures are reported with their messages (the file and line, for a bad
    landing file)."""
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance,
        asset_selection=run.asset_keys(defs.resolve_asset_graph()),
        tags=range_tags(run.first, run.last),
        raise_on_error=False,
    )
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            cause = error.cause if error and error.cause else error
            report(f"step {event.step_key} failed: {cause.message.strip() if cause else ''}")
    return result.success
