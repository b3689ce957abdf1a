"""The Dagster instance on a real PostgreSQL: runs, event logs, schedules and sensor ticks.

The test starts a throwaway server (Debian's postgresql) on a loopback port, points
`LAKEHOUSE_DAGSTER_POSTGRES_URL` at it, lets the daemon's landing sensor launch a run, then
materializes in process against the same instance, and stops the server.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from lakehouse import tables
from lakehouse.settings import DAGSTER_POSTGRES_URL_ENV, ensure_dagster_home
from lakehouse.storage import LakeStore
from lakehouse_tests.conftest import SAMPLE, SILVER_ASSETS, resources_for
from lakehouse_tests.servers import (
    daemon_env,
    postgres_server,
    start_daemon,
    stop_daemon,
    wait_for,
)

DAY = SAMPLE.date(0).isoformat()
BRONZE_ORDERS = dg.AssetKey(["bronze", "orders"])
SILVER_ORDERS = dg.AssetKey(["silver", "orders"])


def test_runs_events_and_sensor_ticks_live_in_postgres(
    tmp_path: Path, sample_landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(sample_landing / "orders" / DAY, tmp_path / "landing" / "orders" / DAY)
    with postgres_server() as url:
        monkeypatch.setenv(DAGSTER_POSTGRES_URL_ENV, url)
        home = ensure_dagster_home(tmp_path / "dagster_home")
        env = daemon_env(tmp_path, home)
        log = tmp_path / "daemon.log"
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert isinstance(instance.run_storage, PostgresRunStorage)
            assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
            assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
            # Nothing in the home but the configuration: the state is in the database.
            assert sorted(p.name for p in home.iterdir()) == ["dagster.yaml"]

            daemon = start_daemon(env, log)
            try:

                def ingested() -> bool:
                    runs = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": DAY}))
                    return bool(runs) and all(run.is_finished for run in runs)

                wait_for(ingested, 180, f"the landing sensor's run of {DAY} ({log})")
            finally:
                stop_daemon(daemon)

            sensor_ticks = [
                tick
                for state in instance.all_instigator_state()
                if state.instigator_name == "landing_orders"
                for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id)
            ]
            assert any(tick.run_ids for tick in sensor_ticks), (
                "no tick of the sensor launched a run"
            )
            # The sensor's run (the automation sensor may have followed it with silver, which
            # stopping the daemon may cut short: not this test's subject).
            runs = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": DAY}))
            [bronze_run] = [run for run in runs if run.asset_selection == {BRONZE_ORDERS}]
            assert bronze_run.is_success, bronze_run.status

            # The same asset code in process, against the same Postgres instance.
            silver_orders = [a for a in SILVER_ASSETS if a.key == SILVER_ORDERS]
            result = dg.materialize(
                silver_orders,
                resources=resources_for(tmp_path),
                instance=instance,
                partition_key=DAY,
            )
            assert result.success
            assert DAY in instance.get_materialized_partitions(SILVER_ORDERS)
            latest = instance.get_latest_materialization_event(SILVER_ORDERS)
            assert latest is not None and latest.run_id == result.run_id
    store = LakeStore.local(tmp_path / "lake")
    assert store.scan(tables.SILVER_ORDERS).collect().height > 0
