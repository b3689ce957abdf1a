"""Per table facts the API lists and exports: partitions, rows, bytes, files and when it was
last committed, from the Delta log and the Parquet footers, cached per table version."""

from __future__ import annotations

import datetime as dt
import threading

import duckdb
import polars as pl
from prometheus_client.core import GaugeMetricFamily

from lakehouse.catalog import footer_rows
from lakehouse.storage import LakeStore
from lakehouse.table_spec import TableSpec
from lakehouse.tables import QUALITY_CHECK_RESULTS


class TableStats:
    def __init__(self, store: LakeStore) -> None:
        self.store = store
        #: Per table, the facts of the newest version seen (only the newest is asked for:
        #: keeping every version would grow with each commit in a long-running server).
        self._cache: dict[str, tuple[int, dict[str, object]]] = {}
        self._lock = threading.Lock()
        self._quality: tuple[int, pl.DataFrame] | None = None

    def of(self, spec: TableSpec) -> dict[str, object] | None:
        """The table's facts now; None when it was never written."""
        with self._lock:  # delta-rs tables are per thread; footers are read once per version
            table = self.store.delta_table(spec)
            if table is None:
                return None
            cached = self._cache.get(spec.qualified_name)
            if cached is None or cached[0] != table.version():
                cached = (table.version(), self._read(spec, table))
                self._cache[spec.qualified_name] = cached
            return cached[1]

    def _read(self, spec: TableSpec, table) -> dict[str, object]:
        entries = self.store.file_entries(spec)
        paths = [self.store.duckdb_path(entry.path) for entry in entries]
        rows = 0
        if paths:
            with duckdb.connect() as con:
                self.store.prepare_duckdb(con)
                rows = footer_rows(con, paths)
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

    def latest_quality(self) -> pl.DataFrame:
        """Per table, its newest day's quality score and failed ERROR checks (the quality
        history's `daily_scores`), recomputed only when the history has a new version."""
        from lakehouse.quality.history import daily_scores, results

        with self._lock:
            version = self.store.newest_version(QUALITY_CHECK_RESULTS)
            if version is None:
                return pl.DataFrame()
            if self._quality is None or self._quality[0] != version:
                scores = daily_scores(results(self.store)).collect()
                newest = scores.sort("day").group_by("table").agg(pl.all().last())
                self._quality = (version, newest)
            return self._quality[1]

    def quality_families(self):
        score = GaugeMetricFamily(
            "lakehouse_table_quality_score",
            "Share of rows passing the table's checks on its newest evaluated day.",
            labels=["table"],
        )
        failed = GaugeMetricFamily(
            "lakehouse_table_failed_error_checks",
            "ERROR checks failed on the table's newest evaluated day.",
            labels=["table"],
        )
        for row in self.latest_quality().iter_rows(named=True):
            score.add_metric([row["table"]], row["score"])
            failed.add_metric([row["table"]], row["error_failures"])
        return score, failed
