"""`lakehouse build --watch`: the landing sensors' micro-batch loop in the foreground, for hosts
that run no daemon.

Each round does what the landing sensors and automation do under the daemon: plan every source's
tick (settled files, their hashes, the manifest), run the bronze partition of each requested day
(appending the new files where it can, `landing/batches.py`), then one run of silver and gold
over the days the new rows can change (the arrival days and the late window before them), then
refresh the catalog. Runs carry the sensors' run keys, so a round stopped anywhere is finished by
the next one (or by the daemon) without doing anything twice. Between rounds it sleeps; Ctrl-C or
SIGTERM ends the sleep (or the run in progress, failed as `lakehouse build` fails it) at once.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from lakehouse import settings
from lakehouse.build import BRONZE, DOWNSTREAM, PlannedRun, execute_run
from lakehouse.defs.landing_sensors import RUN_KEY_TAG, run_outcome_lookup
from lakehouse.landing.batches import APPEND, INGEST_TAG
from lakehouse.landing.contract import SOURCES
from lakehouse.landing.manifest import load_manifest, merge_manifest
from lakehouse.landing.watch import WatchLimits, plan_tick
from lakehouse.partitions import LATE_ARRIVAL_DAYS
from lakehouse.storage import LakeFileSystem


@dataclass
class Round:
    """What one round did."""

    bronze_runs: list[str] = field(default_factory=list)
    downstream: PlannedRun | None = None
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def idle(self) -> bool:
        return not self.bronze_runs


def watch_round(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    layout: settings.DataLayout,
    limits: WatchLimits,
    report: Callable[[str], None],
    run: Callable[[PlannedRun], bool] | None = None,
) -> Round:
    """One round: a tick per source, its bronze runs, then silver and gold for their days."""
    run = run or (lambda planned: execute_run(defs, instance, planned, report))
    started = time.perf_counter()
    store = settings.lake_store(layout)
    landing = LakeFileSystem.local(str(layout.landing))
    daily = next(
        node.partitions_def
        for node in defs.resolve_asset_graph().asset_nodes
        if node.partitions_def is not None
    )
    done = Round()
    days: set[str] = set()
    for contract in SOURCES.values():
        plan = plan_tick(
            landing,
            contract,
            load_manifest(store, contract.name),
            now=dt.datetime.now(dt.UTC),
            limits=limits,
            run_outcome=run_outcome_lookup(instance),
            is_partition=daily.has_partition_key,
        )
        merge_manifest(store, contract.name, plan.changed_rows)
        for request in plan.requests:
            tags = {RUN_KEY_TAG: request.run_key, "lakehouse/source": contract.name}
            if request.append:
                tags[INGEST_TAG] = APPEND
            planned = PlannedRun(
                BRONZE,
                request.day,
                request.day,
                f"{len(request.files)} new or changed {contract.name} files",
                only=(f"bronze/{contract.bronze_table}",),
                tags=tuple(tags.items()),
            )
            report(f"{contract.name} {request.day}: {planned.reason}")
            done.bronze_runs.append(f"{contract.name} {request.day}")
            if run(planned):
                days.add(request.day)
            else:
                done.failed.append(f"bronze {contract.name} {request.day}")
    if days:
        first_partition = daily.get_first_partition_key()
        reach = dt.date.fromisoformat(min(days)) - dt.timedelta(days=LATE_ARRIVAL_DAYS)
        first = max(reach.isoformat(), first_partition)
        done.downstream = PlannedRun(
            DOWNSTREAM, first, max(days), "the new rows' days and their late window"
        )
        report(f"silver and gold for {first}...{max(days)}")
        if not run(done.downstream):
            done.failed.append(f"silver and gold {first}...{max(days)}")
    done.seconds = time.perf_counter() - started
    return done
