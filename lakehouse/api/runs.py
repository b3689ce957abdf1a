"""The Dagster runs behind the lake, for `/metrics`: duration and status of the latest runs,
read from the instance's run storage (SQLite or PostgreSQL) when scraped."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily

from lakehouse import settings

#: Runs exported: the latest ones, so the label set stays small.
LATEST_RUNS = 20


class RunCollector:
    """Reads the Dagster home the lake's runs are recorded in (`DAGSTER_HOME`, else the data
    root's); a lake without one exports no run metrics. Never creates or configures a home."""

    def __init__(self, layout: settings.DataLayout) -> None:
        self.home = Path(os.environ.get("DAGSTER_HOME") or layout.dagster_home)
        self._instance = None
        self._lock = threading.Lock()

    def _open(self):
        if self._instance is None and self.home.is_dir():
            import dagster as dg

            self._instance = dg.DagsterInstance.from_config(str(self.home))
        return self._instance

    def close(self) -> None:
        if self._instance is not None:
            with contextlib.suppress(Exception):
                self._instance.dispose()

    def collect(self):
        duration = GaugeMetricFamily(
            "lakehouse_run_duration_seconds",
            f"Duration of each of the latest {LATEST_RUNS} runs (so far, when running).",
            labels=["run_id", "job", "status"],
        )
        ended = GaugeMetricFamily(
            "lakehouse_run_end_timestamp_seconds",
            f"Unix time each of the latest {LATEST_RUNS} finished runs ended.",
            labels=["run_id", "job", "status"],
        )
        with self._lock:
            instance = self._open()
            records = instance.get_run_records(limit=LATEST_RUNS) if instance else []
        now = time.time()
        for record in records:
            run = record.dagster_run
            labels = [run.run_id, run.job_name, run.status.value]
            if record.start_time is None:
                continue
            duration.add_metric(labels, (record.end_time or now) - record.start_time)
            if record.end_time is not None:
                ended.add_metric(labels, record.end_time)
        yield from (duration, ended)
