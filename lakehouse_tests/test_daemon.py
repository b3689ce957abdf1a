"""End to end: the Dagster daemon with the sensors on, killed midway and restarted."""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import signal
from pathlib import Path

import dagster as dg
import polars as pl

from lakehouse import tables
from lakehouse.landing.contract import EVENT_TYPES
from lakehouse.settings import ensure_dagster_home
from lakehouse.storage import LakeStore
from lakehouse_tests.conftest import SAMPLE
from lakehouse_tests.servers import daemon_env, start_daemon, wait_for

DAYS = [SAMPLE.date(i).isoformat() for i in range(2)]
SILVER_EVENTS = dg.AssetKey(["silver", "app_events"])
BRONZE_EVENTS = dg.AssetKey(["bronze", "app_events"])


def test_sensors_ingest_everything_once_across_a_killed_daemon(
    tmp_path: Path, sample_landing: Path
) -> None:
    for source in ("app_events", "orders", "customers", "products"):
        for day in DAYS:
            shutil.copytree(sample_landing / source / day, tmp_path / "landing" / source / day)
    home = ensure_dagster_home(tmp_path / "dagster_home")
    env = daemon_env(tmp_path, home)
    log = tmp_path / "daemon.log"
    with dg.DagsterInstance.from_config(str(home)) as instance:

        def materialized(key: dg.AssetKey) -> set[str]:
            return set(instance.get_materialized_partitions(key))

        daemons = [start_daemon(env, log)]
        try:
            wait_for(lambda: materialized(BRONZE_EVENTS), 180, "a first bronze partition")
            # Only the daemon dies; runs it launched go on, as after a crash of the daemon.
            daemons[0].send_signal(signal.SIGKILL)
            daemons[0].wait()
            daemons.append(start_daemon(env, log))

            def settled() -> bool:
                busy = instance.get_runs(
                    filters=dg.RunsFilter(
                        statuses=[
                            dg.DagsterRunStatus.QUEUED,
                            dg.DagsterRunStatus.STARTING,
                            dg.DagsterRunStatus.STARTED,
                        ]
                    )
                )
                return materialized(SILVER_EVENTS) >= set(DAYS) and not busy

            wait_for(settled, 300, "silver app events for every landed day")
        finally:
            for daemon in daemons:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(daemon.pid, signal.SIGKILL)  # with the code server it started
                daemon.wait(timeout=60)
        runs = instance.get_runs()
        bronze_runs = [r for r in runs if r.asset_selection == {BRONZE_EVENTS}]
    assert sorted(r.tags["dagster/partition"] for r in bronze_runs) == DAYS, log.read_text()[-3000:]
    assert all(r.is_success for r in runs), [(r.run_id, r.status) for r in runs]
    store = LakeStore.local(tmp_path / "lake")
    # Nothing lost: every landed line is in bronze or in its quarantine...
    landed_lines = sum(
        len(gzip.decompress(path.read_bytes()).splitlines())
        for day in DAYS
        for path in (tmp_path / "landing" / "app_events" / day).glob("*.jsonl.gz")
    )
    bronze = store.scan(tables.BRONZE_APP_EVENTS).collect()
    rejected = store.scan(tables.BRONZE_QUARANTINE["app_events"]).collect()
    assert bronze.height + rejected.height == landed_lines
    # ...and every valid event is in silver exactly once.
    valid = bronze.filter(
        pl.col("event_id").is_not_null() & pl.col("event_type").is_in(list(EVENT_TYPES))
    )
    events = store.scan(tables.SILVER_APP_EVENTS).collect()
    assert events["event_id"].n_unique() == events.height == valid["event_id"].n_unique() > 0
