"""`lakehouse build --watch`: the landing sensors' micro-batch loop in the foreground, for hosts
that run no daemon.

Each round does what the landing sensors and automation do under the daemon: plan every source's
tick (settled files, their hashes, the manifest), run the bronze partition of each requested day
(appending the new files where it can, `landing/batches.py`), then one run of silver and gold
over what the new rows can change, then
refresh the catalog. The downstream run is as narrow as the new rows allow
(`downstream_reach`): only the assets below the bronze tables that took rows, and only the days
the appended rows' events fall on, widened through the partition mappings (sessions read the
day before). Runs carry the sensors' run keys, so a round stopped anywhere is finished by
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
from lakehouse.defs.automation import NEW_ROWS_TAG
from lakehouse.defs.bronze import EVENT_DAYS
from lakehouse.defs.landing_sensors import RUN_KEY_TAG, run_outcome_lookup
from lakehouse.defs.publishing import latest_materialization
from lakehouse.landing.batches import APPEND, INGEST_TAG
from lakehouse.landing.contract import SOURCES
from lakehouse.landing.manifest import load_manifest, merge_manifest
from lakehouse.landing.watch import WatchLimits, plan_tick
from lakehouse.storage import LakeFileSystem


@dataclass(frozen=True)
class BronzeUpdate:
    """A bronze partition a round wrote: with the event days of the rows it appended, or
    None when it rewrote the day (any day of its late window may have changed)."""

    key: dg.AssetKey
    day: str
    event_days: frozenset[str] | None


def appended_event_days(
    instance: dg.DagsterInstance, key: dg.AssetKey, day: str
) -> frozenset[str] | None:
    """The event days its latest materialization appended (`EVENT_DAYS`); None after a
    rewrite, which records none."""
    record = latest_materialization(instance, key, day)
    materialization = record.asset_materialization if record else None
    value = materialization.metadata.get(EVENT_DAYS) if materialization else None
    return frozenset(value.value) if value is not None else None


def downstream_reach(graph, updates: list[BronzeUpdate]) -> dict[dg.AssetKey, set[str | None]]:
    """Every asset partition below the updated bronze partitions that the new rows can change
    (None: an unpartitioned asset), through the graph's partition mappings.

    Appended rows reach only their arrival day and their own event days of the silver table
    they feed (the late window's other days get none of them). As the automation conditions
    do, an unpartitioned table's update does not reach partitioned ones (a dimension changing
    would rebuild every day of the facts), and assets without an automation condition (the
    sentiment model) are not reached; the daily schedule and `--full` refresh those.
    """
    reach: dict[dg.AssetKey, set[str | None]] = {}
    pending: list[tuple[dg.AssetKey, str | None, frozenset[str] | None]] = [
        (update.key, update.day, update.event_days) for update in updates
    ]
    while pending:
        parent, key, event_days = pending.pop()
        for child in graph.get(parent).child_keys:
            if graph.get(child).automation_condition is None:
                continue  # not kept current by automation (the model): the schedule's job
            if graph.get(child).partitions_def is None:
                keys: list[str | None] = [None]
            elif key is None:
                continue
            else:
                keys = list(graph.get_child_partition_keys_of_parent(key, parent, child))
                if event_days is not None:
                    keys = [day for day in keys if day == key or day in event_days]
            for child_key in keys:
                if child_key not in reach.setdefault(child, set()):
                    reach[child].add(child_key)
                    pending.append((child, child_key, None))
    return reach


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
    graph = defs.resolve_asset_graph()
    daily = next(node.partitions_def for node in graph.asset_nodes if node.partitions_def)
    done = Round()
    updates: list[BronzeUpdate] = []
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
        bronze = dg.AssetKey([BRONZE, contract.bronze_table])
        for request in plan.requests:
            tags = {RUN_KEY_TAG: request.run_key, "lakehouse/source": contract.name}
            if request.append:
                tags[INGEST_TAG] = APPEND
            planned = PlannedRun(
                BRONZE,
                request.day,
                request.day,
                f"{len(request.files)} new or changed {contract.name} files",
                only=(bronze.to_user_string(),),
                tags=tuple(tags.items()),
            )
            report(f"{contract.name} {request.day}: {planned.reason}")
            done.bronze_runs.append(f"{contract.name} {request.day}")
            if run(planned):
                updates.append(
                    BronzeUpdate(
                        bronze, request.day, appended_event_days(instance, bronze, request.day)
                    )
                )
            else:
                done.failed.append(f"bronze {contract.name} {request.day}")
    if updates:
        reach = downstream_reach(graph, updates)
        days = sorted({key for keys in reach.values() for key in keys if key is not None})
        days = days or sorted({update.day for update in updates})
        done.downstream = PlannedRun(
            DOWNSTREAM,
            days[0],
            days[-1],
            "what the new rows can change",
            only=tuple(sorted(key.to_user_string() for key in reach)),
            tags=((NEW_ROWS_TAG, "true"),),
        )
        report(f"silver and gold for {days[0]}...{days[-1]}: {', '.join(done.downstream.only)}")
        if not run(done.downstream):
            done.failed.append(f"silver and gold {days[0]}...{days[-1]}")
    done.seconds = time.perf_counter() - started
    return done
