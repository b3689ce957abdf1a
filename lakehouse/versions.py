"""Versions of lake tables for people: history, reading the past, rolling back.

Every publish, append, retention delete, compaction and restore is a Delta commit, so a table
keeps its versions until vacuum deletes the files they need (7 days by default). `history`
lists them with the Dagster run that wrote each; `as_of_connection` opens DuckDB views of every
table as it was at a time (`lakehouse sql --as-of`); `restore` rolls a table back as a new
commit and names the partitions whose content that changed, so Dagster can be told they (and
what is built from them) are stale.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from lakehouse import tables
from lakehouse.catalog import SCHEMAS, view_name, view_sql
from lakehouse.storage import RUN_ID_KEY, LakeStore
from lakehouse.table_spec import TableSpec


@dataclass(frozen=True)
class Version:
    """One commit of a table."""

    version: int
    time: dt.datetime
    operation: str
    partitions: str
    rows: int | None
    run_id: str | None

    def line(self) -> str:
        rows = "" if self.rows is None else f"{self.rows:,}"
        return (
            f"{self.version:>7}  {self.time:%Y-%m-%d %H:%M:%S}  {self.operation:<18}"
            f"{rows:>12}  {self.partitions:<24}  {self.run_id or ''}"
        )


HEADER = (
    f"{'version':>7}  {'time (UTC)':<19}  {'operation':<18}{'rows':>12}  {'partitions':<24}  run"
)


def history(store: LakeStore, spec: TableSpec, limit: int | None = None) -> list[Version]:
    """The table's versions, newest first."""
    return [_version(entry) for entry in store.history(spec, limit)]


def _version(entry: dict) -> Version:
    operation = str(entry.get("operation", ""))
    mode = (entry.get("operationParameters") or {}).get("mode")
    ours = entry.get("lakehouse.operation")
    label = ours or (f"{operation} ({mode.lower()})" if mode else operation)
    metrics = entry.get("operationMetrics") or {}
    if isinstance(metrics, str):
        metrics = json.loads(metrics)
    rows = entry.get("lakehouse.rows", metrics.get("num_added_rows", metrics.get("numOutputRows")))
    return Version(
        version=int(entry["version"]),
        time=dt.datetime.fromtimestamp(int(entry["timestamp"]) / 1000, dt.UTC),
        operation=label,
        partitions=str(entry.get("lakehouse.partitions", "")),
        rows=None if rows is None else int(rows),
        run_id=entry.get(RUN_ID_KEY),
    )


def changed_partitions(store: LakeStore, spec: TableSpec, before: int, after: int) -> list[str]:
    """Partitions whose files differ between two versions (None-keyed tables: [''])."""

    def files(version: int) -> dict[str | None, set[str]]:
        return {
            key: {entry.path for entry in entries}
            for key, entries in store.files_by_partition(spec, version=version).items()
        }

    old, new = files(before), files(after)
    keys = {key for key in old.keys() | new.keys() if old.get(key) != new.get(key)}
    return sorted(key or "" for key in keys)


def restore(store: LakeStore, spec: TableSpec, version: int) -> list[str]:
    """Roll the table back to `version` (a new commit; the rolled-back versions stay in the
    history). Returns the partitions it changed."""
    table = store.delta_table(spec)
    if table is None:
        raise ValueError(f"{spec.qualified_name} has never been written")
    current = table.version()
    if not 0 <= version <= current:
        raise ValueError(f"{spec.qualified_name} has versions 0 to {current}; not {version}")
    changed = changed_partitions(store, spec, current, version)
    store.restore(spec, version)
    return changed


def as_of_connection(
    store: LakeStore,
    as_of: dt.datetime,
    specs: Sequence[TableSpec] = tables.ALL_TABLES,
    config: dict | None = None,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the catalog's schemas and a view per table over the files of
    its version at `as_of` (no rows for a table that did not exist yet)."""
    con = duckdb.connect(config=config or {})
    store.prepare_duckdb(con)
    con.execute("SET TimeZone = 'UTC'")
    for schema in SCHEMAS:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for spec in specs:
        # Before its first commit a table reads as its creation: no files.
        files = store.files(spec, as_of=as_of)
        con.execute(f"CREATE VIEW {view_name(spec)} AS {view_sql(store, spec, files, False)}")
    return con
