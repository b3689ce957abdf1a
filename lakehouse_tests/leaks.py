"""No process outlives the test suite: pytest adopts every orphan its tests leave (a child
subreaper), and at the end of the session whatever is still alive fails the run, named, then
is stopped with its process group.

Under pytest-xdist every worker adopts its tests' orphans too (so it can reap them: a server
stopped by a test waits for its whole process tree, and an orphan that exited stays a zombie
until its adoptive parent reaps it), but only the controller checks: a worker's leftovers are
orphaned to it when the worker exits, and it checks after its workers are gone (a worker's own
exit status would not fail the run)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time

import psutil
import pytest

PR_SET_CHILD_SUBREAPER = 36
#: Servers stopped with SIGTERM get this long to finish exiting before they count as leaked.
GRACE_ENV = "LAKEHOUSE_TESTS_LEAK_GRACE_SECONDS"


def adopt_orphans() -> None:
    """Processes whose parent dies are re-parented to pytest instead of init, so a server a
    test's child started and left behind is still found at the end."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def _living_descendants() -> list[psutil.Process]:
    alive = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if child.status() == psutil.STATUS_ZOMBIE:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(child.pid, os.WNOHANG)  # reap an adopted orphan that has exited
                continue
            alive.append(child)
    return alive


def describe(process: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return f"pid {process.pid}: {' '.join(process.cmdline())[:200]}"
    return f"pid {process.pid}"


def stop_leftovers() -> list[str]:
    """The processes still alive after the grace period, described; each is then killed with
    its process group."""
    deadline = time.monotonic() + float(os.environ.get(GRACE_ENV) or 15)
    quiet_scans = 0
    # Scanned until two scans half a second apart find nothing: a process that is exiting
    # may leave an orphan behind that shows up a moment later.
    while time.monotonic() < deadline and quiet_scans < 2:
        survivors = _living_descendants()
        if survivors:
            quiet_scans = 0
            psutil.wait_procs(survivors, timeout=min(1.0, deadline - time.monotonic()))
        else:
            quiet_scans += 1
            time.sleep(0.5)
    survivors = _living_descendants()
    described = [describe(process) for process in survivors]
    for process in survivors:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(os.getpgid(process.pid), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
    psutil.wait_procs(survivors, timeout=10)
    _living_descendants()  # reap them
    return described


def is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    adopt_orphans()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After xdist's own sessionfinish, which shuts the workers down."""
    if is_xdist_worker(session.config):
        return
    leftovers = stop_leftovers()
    if leftovers:
        lines = "\n".join(f"  {line}" for line in leftovers)
        message = f"processes started by the tests were still alive at the end:\n{lines}"
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
