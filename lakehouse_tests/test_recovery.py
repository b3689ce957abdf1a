"""Crashes are normal: a `lakehouse build` killed with SIGKILL at any point leaves the next
build able to finish, and the lake it finishes equals the lake of an undisturbed build."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from lakehouse.runs.health import HOST_TAG, PID_TAG, this_host
from lakehouse.settings import ensure_dagster_home
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


def tiny_lake(root: Path, sample_landing: Path, days: int = 2) -> Path:
    for source in sample_landing.iterdir():
        if source.is_dir():
            for day in DAYS[:days]:
                shutil.copytree(source / day, root / "landing" / source.name / day)
    return root


def test_sigterm_stops_a_build_at_once_and_fails_its_run(
    tmp_path: Path, sample_landing: Path
) -> None:
    """What `timeout` and a stopping service send: the build ends within seconds, its run is
    marked failed (not left STARTED), its slots are freed, and the next build finishes."""
    root = tiny_lake(tmp_path, sample_landing)
    log = root / "build.log"
    process = start_build(root, log)
    try:
        wait_for_line(process, log, step_started("silver__app_events"))
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
        stopped_after = time.monotonic() - sent
    finally:
        kill_group(process)
    assert code == 128 + signal.SIGTERM, log.read_text()[-3000:]
    assert stopped_after < 20, stopped_after
    assert "stopped by SIGTERM" in log.read_text()
    with dg.DagsterInstance.from_config(str(root / "dagster_home")) as instance:
        (run,) = instance.get_runs()
        assert run.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
        assert instance.event_log_storage.get_concurrency_run_ids() == set()
    after = subprocess.run(
        [str(BIN / "lakehouse"), "build"], env=cli_env(root), capture_output=True, text=True
    )
    assert after.returncode == 0, after.stderr[-3000:]
    assert "died" not in after.stderr  # nothing was left for it to release


def hold_slots(instance: dg.DagsterInstance, pool: str, pid: int) -> str:
    """A STARTED run of process `pid` on this host holding every slot of `pool`."""
    run = instance.add_run(
        dg.DagsterRun(
            job_name="holder",
            status=dg.DagsterRunStatus.STARTED,
            tags={HOST_TAG: this_host(), PID_TAG: str(pid)},
        )
    )
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default(pool)
    for step in range(storage.get_concurrency_info(pool).slot_count):
        assert storage.claim_concurrency_slot(pool, run.run_id, f"step_{step}").is_claimed
    return run.run_id


def test_slots_of_a_live_run_are_waited_for_without_spinning_and_a_dead_runs_are_freed(
    tmp_path: Path, sample_landing: Path
) -> None:
    root = tiny_lake(tmp_path, sample_landing, days=1)
    home = ensure_dagster_home(root / "dagster_home")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        holder = hold_slots(instance, "bronze", os.getpid())  # alive: this test's process
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    busy = subprocess.run(
        [str(BIN / "lakehouse"), "build", "--wait-seconds", "12"],
        env=cli_env(root),
        capture_output=True,
        text=True,
    )
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert busy.returncode == 3, busy.stderr[-3000:]
    assert f"pool bronze held by run {holder} (step step_0)" in busy.stderr
    assert "waiting up to" in busy.stderr and "gave up after 12 s" in busy.stderr
    # Twelve seconds of waiting cost almost no CPU: the rest is start-up and planning.
    assert cpu < wall - 8, (cpu, wall)

    gone = subprocess.Popen(["true"])
    gone.wait()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.delete_run(holder)
        holder = hold_slots(instance, "bronze", gone.pid)  # its process has exited
    freed = subprocess.run(
        [str(BIN / "lakehouse"), "build", "--wait-seconds", "0"],
        env=cli_env(root),
        capture_output=True,
        text=True,
    )
    assert freed.returncode == 0, freed.stderr[-3000:]
    assert f"run {holder} failed: process {gone.pid} on host {this_host()} died" in freed.stderr
    with dg.DagsterInstance.from_config(str(home)) as instance:
        dead = instance.get_run_by_id(holder)
        assert dead.status == dg.DagsterRunStatus.FAILURE
        failure = instance.get_records_for_run(
            holder, of_type=dg.DagsterEventType.RUN_FAILURE
        ).records[0]
        assert "run failed by lakehouse build" in failure.event_log_entry.message
        assert instance.event_log_storage.get_concurrency_run_ids() == set()


def test_a_step_blocked_by_a_full_pool_sleeps_until_a_slot_frees(
    tmp_path: Path, sample_landing: Path
) -> None:
    """Inside Dagster's executor too (a run the daemon launched, or a build whose slot was
    taken after it looked): the blocked step waits without burning a core."""
    import threading

    from lakehouse_tests.conftest import BRONZE_ASSETS, resources_for

    root = tiny_lake(tmp_path, sample_landing, days=1)
    products = next(a for a in BRONZE_ASSETS if a.key.path[-1] == "products")
    overrides = {"concurrency": {"pools": {"default_limit": 1}}}
    with dg.instance_for_test(overrides=overrides) as instance:
        holder = hold_slots(instance, "bronze", os.getpid())
        outcome: list[bool] = []

        def materialize() -> None:
            result = dg.materialize(
                [products],
                partition_key=DAYS[0],
                resources=resources_for(root),
                instance=instance,
                raise_on_error=False,
            )
            outcome.append(result.success)

        worker = threading.Thread(target=materialize)
        worker.start()
        deadline = time.monotonic() + 60
        while not instance.event_log_storage.get_concurrency_info("bronze").pending_steps:
            assert time.monotonic() < deadline, "the step never waited for the pool"
            time.sleep(0.1)
        cpu_before, wall_before = time.process_time(), time.monotonic()
        time.sleep(6)
        cpu = time.process_time() - cpu_before
        wall = time.monotonic() - wall_before
        assert worker.is_alive() and not outcome  # still blocked
        instance.event_log_storage.free_concurrency_slots_for_run(holder)
        worker.join(timeout=120)
    assert outcome == [True]
    assert cpu < 0.25 * wall, (cpu, wall)
