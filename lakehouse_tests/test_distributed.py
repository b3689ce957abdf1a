"""Partition-parallel runs on 2 real Celery workers behind a Redis broker.

`dagster dev` (webserver and daemon) gets a backfill of the whole sample over GraphQL, as the
UI's "Materialize all" does. With `LAKEHOUSE_PARTITIONS_PER_RUN=2` the daemon splits it into
runs of 2 days that the run queue executes, at most 2 at a time, and `LAKEHOUSE_EXECUTOR=celery`
sends every step of those runs to the workers. The lake must equal the in-process build.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterable
from pathlib import Path

import dagster as dg
from dagster_graphql import DagsterGraphQLClient
from dagster_graphql.client.query import LAUNCH_PARTITION_BACKFILL_MUTATION

from lakehouse import settings
from lakehouse.settings import ensure_dagster_home
from lakehouse.storage import LakeStore
from lakehouse_tests.conftest import (
    SAMPLE,
    copy_landing,
    table_contents,
    written_tables,
)
from lakehouse_tests.servers import celery_workers, dagster_web, redis_server

DAYS = [SAMPLE.date(i).isoformat() for i in range(SAMPLE.days)]
#: Two bronze tables and the silver facts they feed: two levels of the graph, each a wait for the
#: backfill daemon's 30-second loop; the rest of the graph adds time, not coverage of the
#: executor.
BACKFILLED = [
    dg.AssetKey(["bronze", "app_events"]),
    dg.AssetKey(["bronze", "orders"]),
    dg.AssetKey(["silver", "app_events"]),
    dg.AssetKey(["silver", "orders"]),
]
BACKFILL_STATUS_QUERY = """
query($backfillId: String!) {
  partitionBackfillOrError(backfillId: $backfillId) {
    __typename
    ... on PartitionBackfill { status }
  }
}
"""
FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def launch_backfill(port: int, keys: list[dg.AssetKey], partitions: list[str]) -> str:
    """Launch an asset backfill through the webserver's GraphQL API, as the UI does."""
    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
    params = {
        "assetSelection": [{"path": key.path} for key in keys],
        "partitionNames": partitions,
        "title": "test: whole sample on Celery",
    }
    result = client._execute(LAUNCH_PARTITION_BACKFILL_MUTATION, {"backfillParams": params})
    launched = result["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    return launched["backfillId"]


def wait_for_backfill(port: int, backfill_id: str, timeout: float) -> str:
    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client._execute(BACKFILL_STATUS_QUERY, {"backfillId": backfill_id})
        status = answer["partitionBackfillOrError"]["status"]
        if status in FINISHED:
            return status
        time.sleep(2)
    raise AssertionError(f"backfill {backfill_id} did not finish within {timeout} s")


def event_pids(
    instance: dg.DagsterInstance, runs: list[dg.DagsterRun], kind: dg.DagsterEventType
) -> set[int]:
    """The processes that logged events of `kind` in `runs`."""
    return {
        record.event_log_entry.dagster_event.pid
        for run in runs
        for record in instance.get_records_for_run(run.run_id, of_type=kind).records
    }


def most_at_once(windows: Iterable[tuple[float, float]]) -> int:
    """The largest number of (start, end) windows open at one moment."""
    edges = sorted(edge for start, end in windows for edge in ((start, 1), (end, -1)))
    return max(itertools.accumulate(step for _, step in edges), default=0)


def test_a_backfill_on_two_celery_workers_builds_the_same_lake(
    built_lake, sample_landing: Path, tmp_path: Path
) -> None:
    root = copy_landing(sample_landing, tmp_path / "root")
    home = ensure_dagster_home(root / "dagster_home")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        settings.DATA_DIR_ENV: str(root),
        settings.EXECUTOR_ENV: "celery",
        settings.PARTITIONS_PER_RUN_ENV: "2",
        # The landing sensors stay out of the way: no file is old enough to be picked up.
        settings.SETTLE_SECONDS_ENV: "1000000",
    }
    with redis_server(tmp_path) as redis:
        env[settings.CELERY_BROKER_ENV] = f"{redis}/0"
        env[settings.CELERY_BACKEND_ENV] = f"{redis}/1"
        with (
            # Created first: the instance's SQLite files, before other processes open them.
            dg.DagsterInstance.from_config(str(home)) as instance,
            celery_workers(env, tmp_path, workers=2),
            dagster_web("dagster dev", env, tmp_path / "dagster-dev.log") as port,
        ):
            backfill_id = launch_backfill(port, BACKFILLED, DAYS)
            status = wait_for_backfill(port, backfill_id, timeout=400)
            records = instance.get_run_records(
                dg.RunsFilter(tags={"dagster/backfill": backfill_id})
            )
            runs = [record.dagster_run for record in records]
            step_pids = event_pids(instance, runs, dg.DagsterEventType.STEP_START)
            run_pids = event_pids(instance, runs, dg.DagsterEventType.RUN_START)
    assert status == "COMPLETED_SUCCESS", status
    assert len(runs) > 1 and all(run.is_success for run in runs)
    # Runs of at most 2 days each: 3 per level of the graph for the 5 sample days.
    assert len(runs) >= 3
    for run in runs:
        first = DAYS.index(run.tags["dagster/asset_partition_range_start"])
        last = DAYS.index(run.tags["dagster/asset_partition_range_end"])
        assert last - first < 2, run.tags
    # The run queue's limit held: never more than 2 runs in progress at once. (Whether two runs
    # did overlap depends on how fast the daemon submits them on this machine, so it is not
    # asserted; the two workers below show the parallel execution.)
    assert most_at_once((r.start_time, r.end_time) for r in records) <= 2
    # Every step ran in a worker process: two of them, neither a run's own process.
    assert len(step_pids) == 2 and not step_pids & run_pids, (step_pids, run_pids)
    store = LakeStore.local(root / "lake")
    # The backfilled tables and their quarantines. (Automation in `dagster dev` may also build
    # downstream tables while the backfill is half done, from partial inputs: not compared.)
    backfilled = {".".join(key.path) for key in BACKFILLED}
    names = written_tables(store) & (backfilled | {f"quarantine.{name}" for name in backfilled})
    assert backfilled <= names, names
    actual = table_contents(store, names, DAYS)
    expected = table_contents(built_lake.store, names, DAYS)
    for key in BACKFILLED:
        assert actual[".".join(key.path)].height > 0, key
    for name, frame in actual.items():
        assert frame.equals(expected[name]), name
