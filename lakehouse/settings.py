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
LAKE_URL_ENV = "LAKEHOUSE_LAKE_URL"
START_DATE_ENV = "LAKEHOUSE_START_DATE"
DUCKDB_MEMORY_LIMIT_ENV = "LAKEHOUSE_DUCKDB_MEMORY_LIMIT"
DUCKDB_THREADS_ENV = "LAKEHOUSE_DUCKDB_THREADS"
ALERT_WEBHOOK_ENV = "LAKEHOUSE_ALERT_WEBHOOK_URL"
SETTLE_SECONDS_ENV = "LAKEHOUSE_SETTLE_SECONDS"
SENSOR_INTERVAL_ENV = "LAKEHOUSE_SENSOR_INTERVAL_SECONDS"
EXECUTOR_ENV = "LAKEHOUSE_EXECUTOR"
DAGSTER_POSTGRES_URL_ENV = "LAKEHOUSE_DAGSTER_POSTGRES_URL"
CELERY_BROKER_ENV = "LAKEHOUSE_CELERY_BROKER"
CELERY_BACKEND_ENV = "LAKEHOUSE_CELERY_BACKEND"
PARTITIONS_PER_RUN_ENV = "LAKEHOUSE_PARTITIONS_PER_RUN"
SCRATCH_DIR_ENV = "LAKEHOUSE_SCRATCH_DIR"
RUN_START_TIMEOUT_ENV = "LAKEHOUSE_RUN_START_TIMEOUT_SECONDS"
API_QUERY_TIMEOUT_ENV = "LAKEHOUSE_API_QUERY_TIMEOUT_SECONDS"
API_AUDIT_FLUSH_ENV = "LAKEHOUSE_API_AUDIT_FLUSH_SECONDS"
API_CACHE_MB_ENV = "LAKEHOUSE_API_CACHE_MB"


def _positive_int(name: str, raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name}={raw!r} is not a positive whole number")
    return int(raw)


def sensor_interval_seconds() -> int:
    """How often the landing and automation sensors tick (`LAKEHOUSE_SENSOR_INTERVAL_SECONDS`,
    default 30 s)."""
    return _positive_int(SENSOR_INTERVAL_ENV, os.environ.get(SENSOR_INTERVAL_ENV) or "30")


def partitions_per_run() -> int | None:
    """How many partitions one backfill run covers (`LAKEHOUSE_PARTITIONS_PER_RUN`). Unset, a
    backfill is one run (cheapest on one machine); a number splits it into runs of that many
    partitions that the run queue executes side by side."""
    raw = os.environ.get(PARTITIONS_PER_RUN_ENV)
    return _positive_int(PARTITIONS_PER_RUN_ENV, raw) if raw else None


def duckdb_memory_limit() -> str:
    """Memory limit of each step's DuckDB (`LAKEHOUSE_DUCKDB_MEMORY_LIMIT`, default 2GB)."""
    return os.environ.get(DUCKDB_MEMORY_LIMIT_ENV) or "2GB"


def duckdb_threads() -> int:
    """Threads of each step's DuckDB (`LAKEHOUSE_DUCKDB_THREADS`, default 2)."""
    return _positive_int(DUCKDB_THREADS_ENV, os.environ.get(DUCKDB_THREADS_ENV) or "2")


def settle_seconds() -> float:
    """How long a landing file must stay unchanged before a sensor requests it
    (`LAKEHOUSE_SETTLE_SECONDS`, default 10)."""
    raw = os.environ.get(SETTLE_SECONDS_ENV) or "10"
    try:
        return float(raw)
    except ValueError as error:
        raise ValueError(f"{SETTLE_SECONDS_ENV}={raw!r} is not a number of seconds") from error


def executor() -> str:
    """How a run executes its steps (`LAKEHOUSE_EXECUTOR`, default in_process; see
    `lakehouse.defs.executor`)."""
    return os.environ.get(EXECUTOR_ENV) or "in_process"


def api_query_timeout_seconds() -> float:
    """How long one `POST /query` may run before it is interrupted
    (`LAKEHOUSE_API_QUERY_TIMEOUT_SECONDS`, default 10)."""
    return _seconds(API_QUERY_TIMEOUT_ENV, os.environ.get(API_QUERY_TIMEOUT_ENV) or "10")


def api_audit_flush_seconds() -> float:
    """How often the API appends its buffered request log to the lake
    (`LAKEHOUSE_API_AUDIT_FLUSH_SECONDS`, default 5; also at shutdown)."""
    return _seconds(API_AUDIT_FLUSH_ENV, os.environ.get(API_AUDIT_FLUSH_ENV) or "5")


def api_cache_bytes() -> int:
    """Memory each API process may hold in encoded pages for repeated reads
    (`LAKEHOUSE_API_CACHE_MB`, default 64; 0 turns the cache off)."""
    raw = os.environ.get(API_CACHE_MB_ENV) or "64"
    if not raw.isdigit():
        raise ValueError(f"{API_CACHE_MB_ENV}={raw!r} is not a whole number of megabytes")
    return int(raw) * 2**20


def _seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError as error:
        raise ValueError(f"{name}={raw!r} is not a number of seconds") from error
    if value <= 0:
        raise ValueError(f"{name}={raw!r} must be more than 0 seconds")
    return value


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
class CodeSettings:
    """The settings the code location's definitions are built from: the partition set (and so
    every partitioned asset), the backfill policy, the sensors' interval and the executor.

    Built by `from_env` when the definitions are built (`lakehouse.definitions`), never at
    import time: a process that changes its environment and builds the definitions again gets
    the new values. The defaults are the documented ones; tests build definitions from them
    explicitly, whatever the environment says.
    """

    start_date: dt.date = SAMPLE_START_DATE
    partitions_per_run: int | None = None
    sensor_interval_seconds: int = 30
    executor: str = "in_process"

    @classmethod
    def from_env(cls) -> CodeSettings:
        return cls(
            start_date=start_date(),
            partitions_per_run=partitions_per_run(),
            sensor_interval_seconds=sensor_interval_seconds(),
            executor=executor(),
        )


@dataclass(frozen=True)
class DataLayout:
    """The folders under one data root."""

    root: Path

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def lake(self) -> Path:
        """The local lake folder (used unless `LAKEHOUSE_LAKE_URL` moves the lake)."""
        return self.root / "lake"

    @property
    def lake_url(self) -> str:
        """Where the lake is: `LAKEHOUSE_LAKE_URL` (e.g. s3://bucket/prefix), else `lake`."""
        return os.environ.get(LAKE_URL_ENV) or str(self.lake)

    @property
    def catalog_dir(self) -> Path:
        """Where the DuckDB catalog file is built: a local file even when the lake is not."""
        return self.lake if self.lake_url == str(self.lake) else self.root

    @property
    def scratch(self) -> Path:
        """Local scratch space of a lake on object storage (DuckDB spills, sort files):
        `LAKEHOUSE_SCRATCH_DIR` (a pod's own fast disk, say), else `scratch`."""
        return Path(os.environ.get(SCRATCH_DIR_ENV) or self.root / "scratch")

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def api(self) -> Path:
        """The API server's own files: its token hashes (`lakehouse token`)."""
        return self.root / "api"


DAGSTER_YAML_MARKER = "# Written by lakehouse"

DAGSTER_YAML = """\
# Written by lakehouse from its settings, and rewritten when they change: remove this first
# line to keep your own edits.
telemetry:
  enabled: false
# A run whose worker crashed, was killed or did not start in time is retried by the daemon,
# up to 3 times (on a loaded machine a retry may itself time out starting). A failed step is
# not: a failed quality gate fails the same way again; steps reading landing files retry on
# their own, with backoff.
run_retries:
  enabled: true
  max_retries: 3
  retry_on_asset_or_op_failure: false
# Keep a large backfill from overloading the machine: at most 2 runs at a time, and at most
# 2 steps of one layer (each asset's pool is its layer) at a time across all runs.
# Runs are launched on this host's code servers and watched: a run whose process is gone
# (killed with the daemon, say) is failed, then retried as above, as is a run that did not
# start in time (its worker died before it began); the pool slots of finished runs are freed
# (lakehouse/runs/launcher.py).
run_launcher:
  module: lakehouse.runs.launcher
  class: LocalRunLauncher
run_monitoring:
  enabled: true
  poll_interval_seconds: 10
  start_timeout_seconds: {start_timeout}
  max_resume_run_attempts: 0
  free_slots_after_run_end_seconds: 10
concurrency:
  runs:
    max_concurrent_runs: 2
  pools:
    default_limit: 2
"""

POSTGRES_STORAGE_YAML = f"""\
# Runs, event logs, schedules and sensor ticks in PostgreSQL ({DAGSTER_POSTGRES_URL_ENV}).
storage:
  postgres:
    postgres_url:
      env: {DAGSTER_POSTGRES_URL_ENV}
"""


def dagster_postgres_url() -> str | None:
    """PostgreSQL URL of the Dagster instance's storage (`LAKEHOUSE_DAGSTER_POSTGRES_URL`);
    unset, the instance keeps SQLite files in its home."""
    url = os.environ.get(DAGSTER_POSTGRES_URL_ENV) or None
    if url and not url.startswith("postgresql+psycopg2://"):
        # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3, which dagster-postgres does
        # not install; its driver is psycopg2.
        scheme = url.split("://", 1)[0]
        raise ValueError(
            f"{DAGSTER_POSTGRES_URL_ENV} must start with postgresql+psycopg2:// (got {scheme}://)"
        )
    return url


def run_start_timeout_seconds() -> int:
    """How long a launched run may take to start before the daemon fails (and retries) it:
    a worker killed before it began never reports. `LAKEHOUSE_RUN_START_TIMEOUT_SECONDS`,
    default 90 (a run worker starts in seconds; Dagster's own default is 180)."""
    return _positive_int(RUN_START_TIMEOUT_ENV, os.environ.get(RUN_START_TIMEOUT_ENV) or "90")


def dagster_yaml() -> str:
    """The instance configuration the current settings ask for."""
    config = DAGSTER_YAML.replace("{start_timeout}", str(run_start_timeout_seconds()))
    if dagster_postgres_url():
        return config + POSTGRES_STORAGE_YAML
    return config


def lake_store(layout: DataLayout, lake_url: str | None = None):
    """The lake store of a data root, wherever its lake is (`lake_url`, else the setting)."""
    from lakehouse.storage import LakeStore

    return LakeStore.from_url(lake_url or layout.lake_url, scratch_dir=layout.scratch)


def ensure_dagster_home(home: Path) -> Path:
    """Create a Dagster home with telemetry off. A dagster.yaml lakehouse wrote follows the
    settings; one the user wrote (without the marker line) is kept as it is."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    current = config.read_text() if config.exists() else None
    if current is not None and not current.startswith(DAGSTER_YAML_MARKER):
        return home
    wanted = dagster_yaml()
    if current != wanted:
        config.write_text(wanted)
    return home


def dagster_home(layout: DataLayout) -> Path:
    """The Dagster home: `DAGSTER_HOME` when set, else under the data root; created with
    telemetry off."""
    return ensure_dagster_home(Path(os.environ.get("DAGSTER_HOME") or layout.dagster_home))
