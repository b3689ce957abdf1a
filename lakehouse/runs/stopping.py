"""Stopping a command that runs Dagster in process, on SIGTERM as on Ctrl-C.

While a run executes, Dagster installs its own handlers (SIGTERM mapped to SIGINT): the step
in progress is interrupted and the run is marked failed, and control comes back to the
command. Which signal it was is still known: the signal module writes every signal it handles
to a wakeup pipe, whoever's handler then runs.
"""

from __future__ import annotations

import fcntl
import os
import signal
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignals:
    """Within it, SIGTERM and SIGINT raise KeyboardInterrupt (outside a run's execution) and
    are remembered (in it too); `received` says which came first."""

    def __enter__(self) -> StopSignals:
        self._read, write = os.pipe()
        for fd in (self._read, write):
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        self._write = write
        self._previous_fd = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        self._previous = {sig: signal.signal(sig, self._interrupt) for sig in STOP_SIGNALS}
        self._seen: list[int] = []
        return self

    @staticmethod
    def _interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    def received(self) -> signal.Signals | None:
        try:
            while data := os.read(self._read, 512):
                self._seen += [number for number in data if number in STOP_SIGNALS]
        except BlockingIOError:
            pass
        return signal.Signals(self._seen[0]) if self._seen else None

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(self._previous_fd)
        os.close(self._read)
        os.close(self._write)
