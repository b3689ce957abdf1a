"""Which runs are dead: STARTED or STARTING in the instance while their process is gone.

A run killed with SIGKILL (an OOM kill, a reboot, a ^C'd cron job) never writes its end: it
stays STARTED and keeps its concurrency-pool slots, and every later step of those pools waits
for it for good. A run executes in one process on one host: `lakehouse build` tags its runs with
both when it starts them (`HOST_TAG`, `PID_TAG`); a run launched by the daemon gets its host tag
from the launcher and its pid is the one Dagster records with the run's start event. A process
is asked about only on its own host; other hosts' runs are left to the daemon's run monitoring.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import dagster as dg

HOST_TAG = "lakehouse/host"
PID_TAG = "lakehouse/pid"
IN_PROGRESS = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def this_host() -> str:
    return socket.gethostname()


def process_tags() -> dict[str, str]:
    """The tags that say a run executes in this process."""
    return {HOST_TAG: this_host(), PID_TAG: str(os.getpid())}


@dataclass(frozen=True)
class RunProcess:
    host: str | None
    pid: int | None

    def __str__(self) -> str:
        return f"process {self.pid or '?'} on host {self.host or '?'}"


def run_process(instance: dg.DagsterInstance, run: dg.DagsterRun) -> RunProcess:
    """Where a run executes: its tags, else the pid of the process that started it."""
    pid = run.tags.get(PID_TAG)
    if pid is None:
        started = instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.RUN_START, limit=1
        ).records
        event = started[0].event_log_entry.dagster_event if started else None
        pid = event.pid if event is not None else None
    return RunProcess(run.tags.get(HOST_TAG), int(pid) if pid is not None else None)


def process_alive(pid: int, started_at: float | None = None) -> bool:
    """Whether `pid` is a live process of this host, and the same one: a pid that was reused
    by a process started after `started_at` (a run's start time) counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return True  # no /proc here: the signal check is all there is
    if fields[0] == "Z":
        return False  # exited; its parent has not collected it yet
    if started_at is None:
        return True
    ticks = os.sysconf("SC_CLK_TCK")
    began = _boot_time() + int(fields[19]) / ticks
    return began <= started_at + 1.0


def _boot_time() -> float:
    with open("/proc/stat", encoding="ascii") as stat:
        for line in stat:
            if line.startswith("btime "):
                return float(line.split()[1])
    return 0.0


def release_dead_runs(instance: dg.DagsterInstance, failed_by: str) -> list[str]:
    """Fail the in-progress runs whose process on this host is gone, naming it and who failed
    the run, then free the concurrency slots that finished runs still hold. Says what it did."""
    host, done = this_host(), []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=IN_PROGRESS)):
        run = record.dagster_run
        process = run_process(instance, run)
        if process.host != host or process.pid is None:
            continue  # another host's, or not started yet: the daemon's run monitoring decides
        started_at = record.start_time or record.create_timestamp.timestamp()
        if process_alive(process.pid, started_at):
            continue
        instance.report_run_failed(run, f"{process} died; run failed by {failed_by}")
        done.append(f"run {run.run_id} failed: {process} died")
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return done
    holders = storage.get_concurrency_run_ids()
    for run_id in sorted(holders):
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            storage.free_concurrency_slots_for_run(run_id)
            status = run.status.value if run else "deleted"
            done.append(f"freed the concurrency slots of run {run_id} ({status})")
    return done


@dataclass(frozen=True)
class HeldSlot:
    pool: str
    run_id: str
    step_key: str


def full_pools(instance: dg.DagsterInstance, pools: list[str]) -> list[HeldSlot]:
    """The slots held in each of `pools` that has none free: who a new step would wait for."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    held = []
    for pool, info in storage.get_concurrency_infos(pools).items():
        limit = info.limit if info.limit is not None else info.slot_count
        if limit is not None and info.active_slot_count >= limit:
            held += [HeldSlot(pool, slot.run_id, slot.step_key) for slot in info.claimed_slots]
    return held
