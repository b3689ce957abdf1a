"""Every setting the project reads from the environment, in one place.

Values are read when a function is called, never at import time, so tests and the CLI can point
everything at a temporary data root by setting the environment first.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

#: First day of the sample `make run` generates, and so the default first daily partition.
SAMPLE_START_DATE = dt.date(2026, 11, 1)
SAMPLE_DAYS = 14
SAMPLE_EVENTS_PER_DAY = 100_000
SAMPLE_SEED = 42

DATA_DIR_ENV = "LAKEHOUSE_DATA_DIR"
START_DATE_ENV = "LAKEHOUSE_START_DATE"
DUCKDB_MEMORY_LIMIT_ENV = "LAKEHOUSE_DUCKDB_MEMORY_LIMIT"
DUCKDB_THREADS_ENV = "LAKEHOUSE_DUCKDB_THREADS"
ALERT_WEBHOOK_ENV = "LAKEHOUSE_ALERT_WEBHOOK_URL"
SETTLE_SECONDS_ENV = "LAKEHOUSE_SETTLE_SECONDS"
SENSOR_INTERVAL_ENV = "LAKEHOUSE_SENSOR_INTERVAL_SECONDS"
EXECUTOR_ENV = "LAKEHOUSE_EXECUTOR"


def sensor_interval_seconds() -> int:
    """How often the landing and automation sensors tick (default 30 s). Read when the code
    loads, like the partition set: the daemon picks it up on reload."""
    return int(os.environ.get(SENSOR_INTERVAL_ENV) or 30)


def data_dir() -> Path:
    """Root of landing, lake and Dagster home (`LAKEHOUSE_DATA_DIR`, default `./data`)."""
    return Path(os.environ.get(DATA_DIR_ENV) or "data").resolve()


def start_date() -> dt.date:
    """First daily partition (`LAKEHOUSE_START_DATE`, default the sample's first day)."""
    raw = os.environ.get(START_DATE_ENV)
    if not raw:
        return SAMPLE_START_DATE
    try:
        return dt.date.fromisoformat(raw)
    except ValueError as error:
        raise ValueError(f"{START_DATE_ENV}={raw!r} is not a date in YYYY-MM-DD form") from error


@dataclass(frozen=True)
class DataLayout:
    """The folders under one data root."""

    root: Path

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"


DAGSTER_YAML = """\
# Written by lakehouse: a local Dagster instance for this data root.
telemetry:
  enabled: false
# A run that fails is retried once by the daemon (steps reading landing files also retry
# on their own, with backoff).
run_retries:
  enabled: true
  max_retries: 1
# Keep a large backfill from overloading the machine: at most 2 runs at a time.
run_queue:
  max_concurrent_runs: 2
"""


def ensure_dagster_home(home: Path) -> Path:
    """Create a Dagster home with telemetry off, keeping a dagster.yaml the user already has."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    return home


def dagster_env(layout: DataLayout) -> dict[str, str]:
    """`DAGSTER_HOME` (kept when set, else under the data root, created with telemetry off) and
    the data root, for the processes that load the definitions."""
    home = os.environ.get("DAGSTER_HOME") or str(layout.dagster_home)
    ensure_dagster_home(Path(home))
    return {"DAGSTER_HOME": home, DATA_DIR_ENV: str(layout.root)}
