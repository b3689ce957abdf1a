"""Running one measured command: wall time and the peak RSS of its whole process tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import psutil

SAMPLE_SECONDS = 0.05
RESULT_PREFIX = "BENCH-RESULT "


class BenchCommandError(RuntimeError):
    """A measured command failed: the bench stops rather than report a figure it did not get."""


@dataclass
class Measured:
    wall_s: float
    peak_rss_bytes: int
    result: dict = field(default_factory=dict)


def tree_rss(process: psutil.Process) -> int:
    """Resident memory of a process and all its descendants (those that vanish meanwhile are
    skipped)."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            continue
    return total


def measure(
    command: Sequence[str], env: dict[str, str] | None = None, cwd: str | None = None
) -> Measured:
    """Run `command` to completion, sampling its tree's RSS every 50 ms.

    A command that prints a line starting with `BENCH-RESULT ` passes back a JSON object of
    figures it measured itself (e.g. time inside a Dagster run, excluding interpreter start-up).
    """
    started = time.perf_counter()
    child = subprocess.Popen(
        list(command),
        env={**os.environ, **(env or {})},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        try:
            process = psutil.Process(child.pid)
            while not done.is_set():
                peak = max(peak, tree_rss(process))
                done.wait(SAMPLE_SECONDS)
        except psutil.NoSuchProcess:
            return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = child.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    if child.returncode != 0:
        raise BenchCommandError(
            f"{' '.join(command)} exited {child.returncode}:\n{stderr[-4000:]}{stdout[-2000:]}"
        )
    result: dict = {}
    for line in stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX) :])
    return Measured(wall, peak, result)


def python_module(module: str, *args: str) -> list[str]:
    """A command running one of the bench's own modules with this interpreter."""
    return [sys.executable, "-m", module, *args]


def report_result(figures: dict) -> None:
    """Hand figures back to `measure` from inside a measured child process."""
    print(RESULT_PREFIX + json.dumps(figures), flush=True)
