"""Crashes are normal: a `lakehouse build` killed with SIGKILL at any point leaves the next
build able to finish, and the lake it finishes equals the lake of an undisturbed build."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from lakehouse.storage import LakeStore
from lakehouse_tests.conftest import SAMPLE, table_contents, written_tables

BIN = Path(sys.executable).parent
DAYS = [SAMPLE.date(i).isoformat() for i in range(SAMPLE.days)]


def cli_env(root: Path) -> dict[str, str]:
    return {
        **os.environ,
        "LAKEHOUSE_DATA_DIR": str(root),
        "DAGSTER_HOME": str(root / "dagster_home"),
    }


def start_build(root: Path, log: Path, *args: str) -> subprocess.Popen:
    with log.open("ab") as output:
        return subprocess.Popen(
            [str(BIN / "lakehouse"), "build", "--verbose", *args],
            env=cli_env(root),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill_group(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def wait_for_line(process: subprocess.Popen, log: Path, marker: str, timeout: float = 300) -> None:
    """Until `marker` appears in the build's output; fails if the build ends first."""
    deadline = time.monotonic() + timeout
    while marker not in log.read_text(errors="replace"):
        if process.poll() is not None:
            pytest.fail(f"the build ended before {marker!r}: {log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            kill_group(process)
            pytest.fail(f"no {marker!r} within {timeout}s: {log.read_text()[-3000:]}")
        time.sleep(0.05)


def build_killed_at(root: Path, marker: str, number: int) -> None:
    log = root / f"build-{number}.log"
    process = start_build(root, log)
    try:
        wait_for_line(process, log, marker)
    finally:
        kill_group(process)
        process.wait(timeout=30)


def step_started(step: str) -> str:
    return f'Started execution of step "{step}"'


def test_builds_killed_at_five_points_resume_to_the_undisturbed_lake(
    tmp_path: Path, sample_landing: Path, built_lake
) -> None:
    """Kills during bronze, silver, sessions, gold and the catalog refresh, on the first build
    and on an incremental one (a new arrival day whose late rows reach back four days); each
    next build fails the dead run, frees its pool slots and redoes what it left unfinished."""
    last_day = DAYS[-1]
    shutil.copytree(sample_landing, tmp_path / "landing", ignore=lambda _, n: [last_day])
    build_killed_at(tmp_path, step_started("bronze__app_events"), 1)
    build_killed_at(tmp_path, step_started("silver__sessions"), 2)
    finished = subprocess.run(
        [str(BIN / "lakehouse"), "build"], env=cli_env(tmp_path), capture_output=True, text=True
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "failed: process" in finished.stderr and "died" in finished.stderr

    # A new arrival day: bronze ingests it, then silver and gold are rebuilt four days back.
    for source in (tmp_path / "landing").iterdir():
        if (sample_landing / source.name / last_day).is_dir():
            shutil.copytree(sample_landing / source.name / last_day, source / last_day)
    build_killed_at(tmp_path, step_started("silver__app_events"), 3)
    build_killed_at(tmp_path, step_started("gold__fact_sales"), 4)
    build_killed_at(tmp_path, "refreshing the catalog", 5)

    resumed = subprocess.run(
        [str(BIN / "lakehouse"), "build"], env=cli_env(tmp_path), capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # The build after the kill in silver redid the days the killed run had left.
    assert "left unfinished by a failed or killed build" in (tmp_path / "build-4.log").read_text()
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        runs = instance.get_runs()
        assert not [run.run_id for run in runs if not run.is_finished]
        killed = [run for run in runs if run.status == dg.DagsterRunStatus.FAILURE]
        assert len(killed) == 4, [run.status for run in runs]
        assert instance.event_log_storage.get_concurrency_run_ids() == set()
    store = LakeStore.local(tmp_path / "lake")
    names = written_tables(built_lake.store)
    assert written_tables(store) == names
    expected = table_contents(built_lake.store, names, DAYS)
    for name, frame in table_contents(store, names, DAYS).items():
        assert frame.equals(expected[name]), name
    assert (tmp_path / "lake" / "catalog.duckdb").exists()
