"""What a person sees while `lakehouse build` runs: one line per finished step, not the event log.

Dagster's console logger prints every event (about 600 DEBUG lines for the sample lake). The
build attaches its own logger to the run instead: every event goes, formatted as Dagster
formats it, to a log file under `data/logs/`; the terminal gets one line per step as it
finishes (asset, partitions, rows, quarantined, seconds), the failing step's error in full, and
on a terminal a live status line of the steps done. `--verbose` prints the whole event log too.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import time
from pathlib import Path
from typing import IO

import dagster as dg
from dagster._core.log_manager import construct_log_record_message, get_log_record_metadata

LOGGER_NAME = "lakehouse_build"
QUARANTINE_KEYS = ("quarantined_rows", "quarantined")
#: Log files kept per command: a cron job's logs do not pile up for good.
KEEP_LOGS = 50


def log_path(logs: Path, command: str) -> Path:
    """A new log file for one command, named by its start time; the oldest beyond
    `KEEP_LOGS` are removed."""
    logs.mkdir(parents=True, exist_ok=True)
    for old in sorted(logs.glob(f"{command}-*.log"))[: -(KEEP_LOGS - 1)]:
        old.unlink(missing_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%f")
    return logs / f"{command}-{stamp}.log"


class StepProgress(logging.Handler):
    """Turns a run's Dagster events into progress lines (and the full log into a file)."""

    def __init__(self, log: IO[str], out: IO[str], verbose: bool) -> None:
        super().__init__(logging.DEBUG)
        self.log, self.out, self.verbose = log, out, verbose
        self.live = out.isatty() and not verbose
        self.total = self.done = 0
        self.started: dict[str, float] = {}
        self.figures: dict[str, dict[str, tuple[int | None, int | None, int]]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        meta = get_log_record_metadata(record)
        now = dt.datetime.now(dt.UTC)
        line = f"{now:%Y-%m-%d %H:%M:%S} {record.levelname} {construct_log_record_message(meta)}"
        self.log.write(line + "\n")
        self.log.flush()
        if self.verbose:
            self.out.write(line + "\n")
        event = meta.get("dagster_event")
        if event is not None:
            self._progress(event)

    def _progress(self, event: dg.DagsterEvent) -> None:
        kind = event.event_type
        step = event.step_key
        if kind == dg.DagsterEventType.RUN_START:
            self.total = self.done = 0
        elif kind in (dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE):
            if self.live:
                self.out.write("\r\033[K")
        elif kind == dg.DagsterEventType.ENGINE_EVENT and event.engine_event_data:
            keys = event.engine_event_data.metadata.get("step_keys")
            if keys is not None and not self.total:
                self.total = len(str(keys.value).split(","))
        elif kind == dg.DagsterEventType.STEP_START:
            self.started[step] = time.monotonic()
            self._status(f"running {step}")
        elif kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            self._count(step, event.asset_key, event.event_specific_data.materialization.metadata)
        elif kind == dg.DagsterEventType.STEP_SUCCESS:
            self._finished(step, "done")
        elif kind == dg.DagsterEventType.STEP_FAILURE:
            self._finished(step, "FAILED")
            error = event.step_failure_data.error
            if error is not None:
                self._print(f"  {error.to_string().rstrip()}".replace("\n", "\n  "))

    def _count(self, step: str, key: dg.AssetKey, metadata) -> None:
        """Figures of each partition add up; a materialization without its own partition's
        figures (`partition_key` in its metadata) carries the step's totals, counted once."""
        assets = self.figures.setdefault(step, {})
        name = key.to_user_string()
        rows, quarantined, partitions = assets.get(name, (None, None, 0))
        own = "partition_key" in metadata or partitions == 0
        rows_value = metadata.get("rows") or metadata.get("rows_out")
        quarantined_value = next((metadata[k] for k in QUARANTINE_KEYS if k in metadata), None)
        if own and rows_value is not None:
            rows = (rows or 0) + rows_value.value
        if own and quarantined_value is not None:
            quarantined = (quarantined or 0) + quarantined_value.value
        assets[name] = (rows, quarantined, partitions + 1)

    def _finished(self, step: str, outcome: str) -> None:
        self.done += 1
        seconds = time.monotonic() - self.started.pop(step, time.monotonic())
        assets = self.figures.pop(step, {}) or {step.replace("__", "/"): (None, None, 0)}
        for name, (rows, quarantined, partitions) in assets.items():
            parts = [f"{name:<28}", outcome]
            if partitions > 1 or (partitions == 1 and rows is not None):
                parts.append(f"{partitions} partition{'s' if partitions != 1 else ''}")
            if rows is not None:
                parts.append(f"{rows:,} rows")
            if quarantined is not None:
                parts.append(f"{quarantined:,} quarantined")
            parts.append(f"{seconds:.1f} s")
            self._print("  ".join(parts))
        self._status("")

    def _print(self, line: str) -> None:
        if self.live:
            self.out.write("\r\033[K")
        self.out.write(line + "\n")
        self.out.flush()

    def _status(self, what: str) -> None:
        if not self.live:
            return
        total = self.total or "?"
        self.out.write(f"\r\033[K[{self.done}/{total} steps] {what}")
        self.out.flush()


def build_logger(handler: StepProgress) -> dg.LoggerDefinition:
    """A Dagster logger that hands every event of the run to `handler`."""

    @dg.logger(description="lakehouse build: progress lines and a full log file")
    def _logger(init_context: dg.InitLoggerContext) -> logging.Logger:
        logger = logging.Logger(LOGGER_NAME, logging.DEBUG)
        logger.addHandler(handler)
        return logger

    return _logger


def terminal() -> IO[str]:
    """stderr on a descriptor of its own. While a run executes, Dagster captures the process's
    output by pointing descriptors 1 and 2 at a file that `tail -F` copies back about once a
    second, and stops that tail when the run ends: a line written to stderr just before the end
    could be lost. What is written here goes straight to the terminal, in order."""
    return os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1)
