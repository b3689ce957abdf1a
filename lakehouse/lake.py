"""Read the lake from a notebook or a script.

    from lakehouse import lake

    sales = lake.scan("gold.fact_sales", start="2026-11-01", end="2026-11-07")  # Polars, lazy
    daily = lake.sql("SELECT * FROM gold.daily_summary ORDER BY summary_date")  # Polars frame

`scan` opens only the files of the partitions in `start..end` (inclusive); `sql` runs on the
DuckDB catalog (`lakehouse catalog` builds it), read-only, and returns through Arrow. Both read
the past too: `scan(..., version=12)` or `as_of=datetime(...)`, `sql(query, as_of=...)`.
The data root is `LAKEHOUSE_DATA_DIR` (default `./data`), or `Lake(data_dir)`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl

from lakehouse import settings
from lakehouse.catalog import catalog_path
from lakehouse.tables import find_table

Day = str | dt.date


class CatalogMissing(FileNotFoundError):
    """The catalog has not been built yet."""


class Lake:
    """One data root's lake tables, for reading."""

    def __init__(self, data_dir: str | Path | None = None) -> None:
        root = Path(data_dir).resolve() if data_dir else settings.data_dir()
        self.layout = settings.DataLayout(root)
        self.store = settings.lake_store(self.layout)

    @property
    def catalog(self) -> Path:
        return catalog_path(self.layout.catalog_dir)

    def scan(
        self,
        table: str,
        start: Day | None = None,
        end: Day | None = None,
        *,
        version: int | None = None,
        as_of: dt.datetime | None = None,
    ) -> pl.LazyFrame:
        """A table as a lazy frame over the partitions from `start` to `end` (inclusive), at
        its current version or an earlier `version` or `as_of` a time."""
        spec = find_table(table)
        keys = None
        if spec.is_partitioned and (start is not None or end is not None):
            first, last = _day(start), _day(end)
            keys = [
                key
                for key in self.store.partition_keys(spec, version=version, as_of=as_of)
                if (first is None or key >= first) and (last is None or key <= last)
            ]
        elif start is not None or end is not None:
            raise ValueError(f"{spec.qualified_name} is not partitioned: no start or end")
        return self.store.scan(spec, keys, version=version, as_of=as_of)

    def connect(self, as_of: dt.datetime | None = None) -> duckdb.DuckDBPyConnection:
        """A read-only connection to the catalog: never blocks a rebuild, never is blocked.
        With `as_of`, an in-memory catalog of every table as it was at that time."""
        if as_of is not None:
            from lakehouse.versions import as_of_connection

            return as_of_connection(self.store, as_of)
        if not self.catalog.exists():
            raise CatalogMissing(
                f"no catalog at {self.catalog}: run `lakehouse catalog` (or `make run`) first"
            )
        con = duckdb.connect(str(self.catalog), read_only=True)
        if not self.store.fs.is_local:
            self.store.prepare_duckdb(con)  # reads through the lake's own S3 client
        return con

    def sql(self, query: str, as_of: dt.datetime | None = None) -> pl.DataFrame:
        """Run SQL on the catalog's views (as of a time when given); a Polars frame back."""
        with self.connect(as_of) as con:
            return con.sql(query).pl()

    def tables(self) -> pl.DataFrame:
        """Every table with its owner, partitions, rows, bytes and retention."""
        return self.sql("SELECT * FROM lakehouse.tables ORDER BY name")


def _day(value: Day | None) -> str | None:
    if value is None:
        return None
    return (
        value.isoformat()
        if isinstance(value, dt.date)
        else dt.date.fromisoformat(value).isoformat()
    )


_default: Lake | None = None


def default() -> Lake:
    """The lake under `LAKEHOUSE_DATA_DIR` (or `./data`), opened on first use."""
    global _default
    if _default is None:
        _default = Lake()
    return _default


def scan(table: str, start: Day | None = None, end: Day | None = None) -> pl.LazyFrame:
    return default().scan(table, start, end)


def sql(query: str) -> pl.DataFrame:
    return default().sql(query)


def tables() -> pl.DataFrame:
    return default().tables()
