"""The command line as cron and CI use it: `lakehouse build` drives the dagster CLI."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl

from lakehouse import tables
from lakehouse.storage import LakeStore
from lakehouse_tests.conftest import ALL_ASSETS, FIRST_DAY
from lakehouse_tests.leaks import GRACE_ENV
from lakehouse_tests.servers import project_env

BIN = Path(sys.executable).parent
TINY = ["--days", "3", "--events-per-day", "480", "--seed", "11"]


def run(args: list[str], root: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "LAKEHOUSE_DATA_DIR": str(root),
        "DAGSTER_HOME": str(root / "dagster_home"),
    }
    return subprocess.run(
        [str(BIN / "lakehouse"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def parquet_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in (root / "lake").rglob("*.parquet")}


def test_build_runs_the_whole_range_in_one_cli_run_and_then_nothing(tmp_path: Path) -> None:
    generated = run(["generate", *TINY], tmp_path)
    assert generated.returncode == 0, generated.stderr
    assert [line.split(" (")[0] for line in generated.stderr.splitlines()] == [
        "day 1/3",
        "day 2/3",
        "day 3/3",
    ]
    (tmp_path / "landing" / "orders" / "2026-02-30").mkdir()
    (tmp_path / "landing" / "orders" / "latest").mkdir()
    again = run(["generate", *TINY], tmp_path)
    assert "already holds generated data" in again.stdout

    first = run(["build"], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    last = (dt.date.fromisoformat(FIRST_DAY) + dt.timedelta(days=2)).isoformat()
    assert f"{FIRST_DAY}...{last}" in first.stdout
    assert "gold.fact_sales" in first.stdout and "(not built)" not in first.stdout
    assert "skipping landing folder orders/2026-02-30: partition key '2026-02-30' is not a" in (
        first.stderr
    )
    assert "skipping landing folder orders/latest" in first.stderr
    # A build a person can follow: a line per step with its figures, not Dagster's event log,
    # which goes to the log file it names.
    assert "DEBUG" not in first.stderr and "STEP_START" not in first.stderr
    step_lines = [line for line in first.stderr.splitlines() if "  done  " in line]
    # A line per asset step, then the freshness checks' steps (how Dagster groups those is
    # its own business).
    asset_lines = [
        line for line in step_lines if line.split("/")[0] in ("bronze", "silver", "gold", "ml")
    ]
    assert len(asset_lines) == len(ALL_ASSETS) and len(step_lines) > len(ALL_ASSETS), first.stderr
    events = next(line for line in step_lines if line.startswith("bronze/app_events "))
    assert "3 partitions" in events and " rows  " in events and "quarantined" in events
    log = Path(first.stderr.split("full event log: ", 1)[1].split()[0])
    assert log.parent == tmp_path / "logs"
    # Every step the log says succeeded has its line, by name.
    succeeded = re.findall(r'STEP_SUCCESS - Finished execution of step "(\w+)"', log.read_text())
    printed = [line.split()[0] for line in step_lines]
    assert sorted(printed) == sorted(key.replace("__", "/") for key in succeeded), first.stderr
    assert (tmp_path / "dagster_home" / "dagster.yaml").read_text().count("enabled: false") == 1
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        runs = instance.get_runs()
        assert len(runs) == 1 and runs[0].is_success
        assert runs[0].tags["dagster/asset_partition_range_start"] == FIRST_DAY
        assert runs[0].tags["dagster/asset_partition_range_end"] == last
        materialized = instance.get_materialized_partitions(dg.AssetKey(["gold", "fact_sales"]))
        assert len(materialized) == 3
    files = parquet_files(tmp_path)
    assert any(name.startswith("lake/gold/daily_summary/summary_date=") for name in files)

    second = run(["build", "--verbose"], tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "nothing to materialize" in second.stdout
    assert parquet_files(tmp_path) == files

    # Versions: a full rebuild makes new versions while the previous one still reads back;
    # history names the runs, restore rolls back and tells Dagster.
    store = LakeStore.local(tmp_path / "lake")
    summary = tables.GOLD_DAILY_SUMMARY
    built_version = store.delta_table(summary).version()
    before = store.scan(summary).collect().sort("summary_date")
    rebuilt = run(["build", "--full"], tmp_path)
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    assert store.delta_table(summary).version() > built_version
    assert store.scan(summary, version=built_version).collect().sort("summary_date").equals(before)
    listed = run(["history", "gold.daily_summary"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        run_ids = {r.run_id for r in instance.get_runs()}
    lines = listed.stdout.splitlines()
    assert lines[1].split()[:2] == ["version", "time"]
    newest = lines[2].split()
    assert int(newest[0]) == store.delta_table(summary).version() and newest[-1] in run_ids
    # One version for the whole range: rows, then the partitions it replaced.
    middle = (dt.date.fromisoformat(FIRST_DAY) + dt.timedelta(days=1)).isoformat()
    assert newest[3] == "publish" and newest[5] == f"{FIRST_DAY},{middle},{last}"
    restored = run(["restore", "gold.daily_summary", "--version", str(built_version)], tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert f"restored gold.daily_summary to version {built_version}" in restored.stdout
    assert store.scan(summary).collect().sort("summary_date").equals(before)
    newest = run(["history", "gold.daily_summary", "--limit", "1"], tmp_path).stdout
    assert newest.splitlines()[2].split()[3] == "restore"
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        latest = instance.get_latest_materialization_event(dg.AssetKey(["gold", "daily_summary"]))
        assert latest.asset_materialization.metadata["restored_to_version"].value == built_version
    bad = run(["restore", "gold.daily_summary", "--version", "9999"], tmp_path)
    assert bad.returncode == 2 and "versions 0 to" in bad.stderr


def test_a_failed_cli_build_exits_non_zero(tmp_path: Path) -> None:
    assert run(["generate", *TINY], tmp_path).returncode == 0
    broken = tmp_path / "landing" / "app_events" / FIRST_DAY / "events-05.jsonl.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00truncated")
    result = run(["build"], tmp_path)
    assert result.returncode != 0
    assert f"app_events/{FIRST_DAY}/events-05.jsonl.gz" in result.stdout + result.stderr
    # The failing step's error in full, and where the whole event log is.
    assert "bronze/app_events             FAILED" in result.stderr
    assert "Traceback" in result.stderr or 'File "' in result.stderr
    assert "the full event log is in" in result.stderr


def partition_rows(root: Path) -> dict[str, int]:
    """Rows per silver and gold partition (`<layer>/<table>/<column>=<day>`), from the
    tables' current versions."""

    store = LakeStore.local(root / "lake")
    counts = {}
    for spec in (*tables.SILVER_TABLES, *tables.GOLD_TABLES):
        if spec.partition_column is None:
            continue
        for key, files in store.files_by_partition(spec).items():
            rows = store.scan(spec, [key]).select(pl.len()).collect().item()
            assert len(files) >= 1
            counts[f"{spec.layer}/{spec.name}/{spec.partition_column}={key}"] = rows
    return counts


def test_a_new_arrival_day_rebuilds_the_days_its_late_rows_belong_to(tmp_path: Path) -> None:
    generated = tmp_path / "generated"
    days = ["--days", "6", "--events-per-day", "480", "--seed", "5", "--landing", str(generated)]
    assert run(["generate", *days], tmp_path).returncode == 0
    new_day = (dt.date.fromisoformat(FIRST_DAY) + dt.timedelta(days=5)).isoformat()
    shutil.copytree(generated, tmp_path / "landing", ignore=lambda _, names: [new_day])
    assert run(["build"], tmp_path).returncode == 0

    shutil.copytree(generated, tmp_path / "landing", dirs_exist_ok=True)
    incremental = run(["build"], tmp_path)
    assert incremental.returncode == 0, incremental.stderr[-3000:]
    reach = (dt.date.fromisoformat(new_day) - dt.timedelta(days=4)).isoformat()
    # The new day alone is ingested; silver and gold are rebuilt as far back as late rows reach.
    assert f"materializing bronze for {new_day}...{new_day} in one run" in incremental.stdout
    assert f"materializing silver and gold for {reach}...{new_day}" in incremental.stdout
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        assert len(instance.get_runs()) == 3
    after_incremental = partition_rows(tmp_path)

    full = run(["build", "--full"], tmp_path)
    assert full.returncode == 0, full.stderr[-3000:]
    assert partition_rows(tmp_path) == after_incremental
    assert f"silver/app_events/event_date={new_day}" in after_incremental


def test_a_process_left_running_by_a_test_fails_the_session(tmp_path: Path) -> None:
    """The suite's own guard: a server a test starts in its own session and never stops is
    named at the end, killed, and the run fails."""
    (tmp_path / "conftest.py").write_text(
        "from lakehouse_tests.leaks import pytest_configure, pytest_sessionfinish  # noqa\n"
    )
    (tmp_path / "test_leaky.py").write_text(
        "import subprocess\n\n"
        "def test_starts_a_server():\n"
        "    subprocess.Popen(['sh', '-c', 'sleep 600 & exit 0'], start_new_session=True)\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env={**project_env(), GRACE_ENV: "2"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert "still alive at the end" in result.stdout and "sleep 600" in result.stdout
    survivors = subprocess.run(["pgrep", "-f", "^sleep 600$"], capture_output=True, text=True)
    assert survivors.stdout == ""


def test_a_lake_written_before_delta_is_named_with_the_fix(tmp_path: Path) -> None:
    old = tmp_path / "lake" / "gold" / "daily_summary" / f"summary_date={FIRST_DAY}"
    old.mkdir(parents=True)
    pl.DataFrame({"orders": [1]}).write_parquet(old / "part-0.parquet")
    result = run(["build"], tmp_path)
    assert result.returncode == 2, result.stderr
    assert "lakehouse build: gold.daily_summary" in result.stderr
    assert "no Delta log" in result.stderr and "lakehouse build --full" in result.stderr
    assert "Traceback" not in result.stderr
