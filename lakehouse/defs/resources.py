"""Resources: where the data root is, and how each step's in-process DuckDB is sized."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import PrivateAttr

from lakehouse import settings
from lakehouse.storage import LakeFileSystem, LakeStore


class LakeResource(dg.ConfigurableResource):
    """The data root: landing files in, lake tables out, all through one file-system seam."""

    data_dir: str
    #: The lake's location when it is not `<data_dir>/lake`: `s3://bucket/prefix`.
    lake_url: str = ""
    _run_id: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Every Delta commit a step makes names its run (`lakehouse history`).
        self._run_id = context.run.run_id if context.run else None

    @property
    def layout(self) -> settings.DataLayout:
        return settings.DataLayout(Path(self.data_dir).resolve())

    def store(self) -> LakeStore:
        store = settings.lake_store(self.layout, self.lake_url or str(self.layout.lake))
        store.run_id = self._run_id
        return store

    def landing(self) -> LakeFileSystem:
        return LakeFileSystem.local(str(self.layout.landing))


class LandingWatchResource(dg.ConfigurableResource):
    """How the landing sensors watch: the settle delay and the work bound of one tick."""

    settle_seconds: float = 10.0
    max_files_hashed: int = 2_000
    max_partitions: int = 50


class AlertWebhookResource(dg.ConfigurableResource):
    """Where quality alerts are POSTed as JSON; empty means alerts are only logged and recorded."""

    url: str = ""


def duckdb_resource(memory_limit: str = "2GB", threads: int = 2) -> DuckDBResource:
    """An in-memory DuckDB per step: no database file on the write path."""
    return DuckDBResource(
        database=":memory:",
        connection_config={"memory_limit": memory_limit, "threads": threads},
    )


def build_resources() -> dict[str, object]:
    """Resources for the code location, read when the definitions are built: the data root,
    lake URL and webhook as `EnvVar`s where the environment sets them (resolved when a run or a
    sensor uses them), the sizes as values."""
    data_dir = (
        dg.EnvVar(settings.DATA_DIR_ENV)
        if os.environ.get(settings.DATA_DIR_ENV)
        else str(settings.data_dir())
    )
    webhook = (
        dg.EnvVar(settings.ALERT_WEBHOOK_ENV) if os.environ.get(settings.ALERT_WEBHOOK_ENV) else ""
    )
    lake_url = dg.EnvVar(settings.LAKE_URL_ENV) if os.environ.get(settings.LAKE_URL_ENV) else ""
    return {
        "lake": LakeResource(data_dir=data_dir, lake_url=lake_url),
        "landing_watch": LandingWatchResource(settle_seconds=settings.settle_seconds()),
        "alert_webhook": AlertWebhookResource(url=webhook),
        "duckdb": duckdb_resource(
            memory_limit=settings.duckdb_memory_limit(), threads=settings.duckdb_threads()
        ),
    }
