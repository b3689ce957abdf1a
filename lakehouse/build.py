"""Building the lake end to end through the dagster CLI, in one run per partitions definition.

Every asset shares the daily partitions definition or has none, and every one has a single-run
backfill policy, so the whole graph for a partition range is one `dagster asset materialize`.
What the Dagster instance already records as materialized is not built again unless asked;
new arrival days also rebuild the earlier days their late rows belong to.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from lakehouse import settings
from lakehouse.landing.contract import SOURCES
from lakehouse.partitions import LATE_ARRIVAL_DAYS
from lakehouse.storage.paths import InvalidPartitionKey, validate_day_key

CODE_MODULE = "lakehouse.definitions"


@dataclass(frozen=True)
class BuildPlan:
    first: str | None
    last: str | None
    reason: str

    @property
    def needed(self) -> bool:
        return self.first is not None


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


def plan_build(instance: dg.DagsterInstance, defs: dg.Definitions, days: list[str]) -> BuildPlan:
    """The partition range still missing from the instance (every day when nothing is built)."""
    if not days:
        return BuildPlan(None, None, "the landing folder has no arrival days")
    graph = defs.resolve_asset_graph()
    missing: set[str] = set()
    unpartitioned_missing = False
    for key in graph.get_all_asset_keys():
        if graph.get(key).partitions_def is None:
            unpartitioned_missing |= instance.get_latest_materialization_event(key) is None
        else:
            missing |= set(days) - set(instance.get_materialized_partitions(key))
    if missing:
        first, reason = min(missing), f"{len(missing)} days not yet materialized"
        reach = days_reaching_back(first, days[0])
        if reach != first:
            # Late rows in the new arrival days belong to event dates already built.
            first, reason = reach, f"{reason}, and the days their late rows belong to"
        return BuildPlan(first, max(missing), reason)
    if unpartitioned_missing:
        return BuildPlan(days[-1], days[-1], "unpartitioned tables not yet materialized")
    return BuildPlan(None, None, "every asset is materialized for every landing day")


def days_reaching_back(first_new: str, first_landing: str) -> str:
    """The earliest partition a new arrival day can change: rows arrive up to
    LATE_ARRIVAL_DAYS late, and a session reaches one day further back."""
    reach = dt.date.fromisoformat(first_new) - dt.timedelta(days=LATE_ARRIVAL_DAYS + 1)
    return max(reach.isoformat(), first_landing)


def materialize_range(first: str, last: str, env: dict[str, str] | None = None) -> None:
    """One run for the whole graph over [first, last], through the dagster CLI."""
    command = [
        str(Path(sys.executable).with_name("dagster")),
        "asset",
        "materialize",
        "-m",
        CODE_MODULE,
        "--select",
        "*",
        "--partition-range",
        f"{first}...{last}",
    ]
    subprocess.run(command, check=True, env={**os.environ, **(env or {})})


def dagster_env(layout: settings.DataLayout) -> dict[str, str]:
    home = os.environ.get("DAGSTER_HOME") or str(layout.dagster_home)
    settings.ensure_dagster_home(Path(home))
    return {"DAGSTER_HOME": home, settings.DATA_DIR_ENV: str(layout.root)}
