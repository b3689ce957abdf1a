"""Per table facts the API lists and exports: partitions, rows, bytes, files and when it was
last committed, from the Delta log and the Parquet footers, cached per table version."""

from __future__ import annotations

import datetime as dt
import threading

import duckdb

from lakehouse.storage import LakeStore
from lakehouse.table_spec import TableSpec


class TableStats:
    def __init__(self, store: LakeStore) -> None:
        self.store = store
        self._cache: dict[tuple[str, int], dict[str, object]] = {}
        self._lock = threading.Lock()

    def of(self, spec: TableSpec) -> dict[str, object] | None:
        """The table's facts now; None when it was never written."""
        with self._lock:  # delta-rs tables are per thread; footers are read once per version
            table = self.store.delta_table(spec)
            if table is None:
                return None
            key = (spec.qualified_name, table.version())
            if key not in self._cache:
                self._cache[key] = self._read(spec, table)
            return self._cache[key]

    def _read(self, spec: TableSpec, table) -> dict[str, object]:
        entries = self.store.file_entries(spec)
        paths = [self.store.duckdb_path(entry.path) for entry in entries]
        rows = 0
        if paths:
            with duckdb.connect() as con:
                self.store.prepare_duckdb(con)
                (rows,) = con.execute(
                    "SELECT coalesce(sum(num_rows), 0) FROM parquet_file_metadata(?)", [paths]
                ).fetchall()[0]
        history = table.history(1)
        committed = (
            dt.datetime.fromtimestamp(history[0]["timestamp"] / 1000, dt.UTC) if history else None
        )
        return {
            "version": table.version(),
            "partitions": len(self.store.partition_keys(spec)) if spec.is_partitioned else None,
            "rows": int(rows),
            "bytes": sum(entry.size for entry in entries),
            "files": len(entries),
            "last_materialized": committed,
        }
