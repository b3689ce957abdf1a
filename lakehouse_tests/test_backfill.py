"""A year of daily partitions backfilled in a single run through the dagster CLI."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from lakehouse import tables
from lakehouse.bench.workloads import write_tiny_orders
from lakehouse.settings import ensure_dagster_home
from lakehouse.storage import LakeStore


def test_a_365_day_backfill_is_one_run(tmp_path: Path) -> None:
    first = dt.date.today() - dt.timedelta(days=366)
    days = [first + dt.timedelta(days=i) for i in range(365)]
    write_tiny_orders(tmp_path / "landing", [day.isoformat() for day in days])
    home = ensure_dagster_home(tmp_path / "dagster_home")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "LAKEHOUSE_DATA_DIR": str(tmp_path),
        "LAKEHOUSE_START_DATE": first.isoformat(),
    }
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "asset",
            "materialize",
            "-m",
            "lakehouse.definitions",
            "--select",
            "bronze/orders,silver/orders",
            "--partition-range",
            f"{days[0]}...{days[-1]}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert len(runs) == 1 and runs[0].is_success
        for key in (["bronze", "orders"], ["silver", "orders"]):
            assert len(instance.get_materialized_partitions(dg.AssetKey(key))) == 365
    silver = LakeStore.local(tmp_path / "lake").partition_keys(tables.SILVER_ORDERS)
    assert len(silver) == 365 and silver[0] == days[0].isoformat()
