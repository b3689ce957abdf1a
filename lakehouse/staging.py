"""Partitions staged from DuckDB queries: bounded-memory sorting and deduplication, and the
duplicate count the uniqueness audit needs.

Polars sorts in memory: a day of 1M events needed about 3 times its own size to sort and
deduplicate. DuckDB sorts within its `memory_limit` and spills to its temp directory beyond it,
so a partition's rows are first written to a scratch Parquet file, then read back by DuckDB in
the table's order, one Arrow batch at a time, into the staged partition.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import duckdb
import polars as pl

from lakehouse.storage import (
    ROW_GROUP_ROWS,
    LakeStore,
    StagedPartition,
    ident,
    literal,
    parquet_source,
)
from lakehouse.table_spec import TableSpec


class FirstPerKey(Protocol):
    """One row per `key`: the first when ordered by `prefer` (earliest arrival, say). The
    transforms declare it (`lakehouse.transforms.rules.KeepFirst`); storage only reads it."""

    @property
    def key(self) -> str: ...

    @property
    def prefer(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class SortedStage:
    """A staged partition and what the sort saw: rows in and distinct keys among them."""

    staged: StagedPartition
    rows_in: int
    distinct_keys: int

    @property
    def duplicates(self) -> int:
        return self.rows_in - self.distinct_keys


def stage_sorted(
    store: LakeStore,
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    key: str | None,
    rows_file: str,
    keep_first: FirstPerKey | None = None,
) -> SortedStage:
    """Stage the rows of `rows_file` (a scratch Parquet file of the table's columns) sorted by
    `spec.sort_by`, deduplicated by `keep_first` when given, holding at most DuckDB's memory
    limit plus a batch."""
    store.prepare_duckdb(con)
    source = parquet_source(store, [rows_file])
    (rows_in,) = con.execute(f"SELECT count(*) FROM {source}").fetchone()  # from the footer
    distinct = rows_in
    if keep_first is not None:
        # Deduplicate into a second scratch file, then sort it: a window feeding a sort in one
        # query runs out of memory where each alone spills. COPY returns the rows it wrote.
        first_rows = posixpath.join(posixpath.dirname(rows_file), "first-per-key.parquet")
        prefer = ", ".join(ident(name) for name in keep_first.prefer)
        (distinct,) = con.execute(
            f"COPY (SELECT * FROM {source} QUALIFY row_number() OVER "
            f"(PARTITION BY {ident(keep_first.key)} ORDER BY {prefer}) = 1) "
            f"TO {literal(store.duckdb_path(first_rows))} (FORMAT parquet)"
        ).fetchone()
        source = parquet_source(store, [first_rows])
    order = [*spec.sort_by, *([keep_first.key] if keep_first else [])]
    staged = stage_query(store, con, spec, key, sorted_query(spec, source, order))
    return SortedStage(staged, int(rows_in), int(distinct))


def stage_query(
    store: LakeStore,
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    key: str | None,
    query: str,
) -> StagedPartition:
    """Stage the rows of a DuckDB query (the table's columns, in order), streamed batch by
    batch; the query's sorts, windows and aggregates spill past DuckDB's memory limit."""
    store.prepare_duckdb(con)
    reader = con.sql(query).to_arrow_reader(ROW_GROUP_ROWS)
    return store.stage(spec, key, reader)


def duplicated_rows(
    con: duckdb.DuckDBPyConnection,
    store: LakeStore,
    files: Sequence[str],
    columns: Sequence[str],
    sample: int = 20,
) -> tuple[int, pl.DataFrame | None]:
    """Rows of `files` whose `columns` value occurs more than once (a spilling aggregate), and
    up to `sample` of them."""
    store.prepare_duckdb(con)
    source = parquet_source(store, files)
    key = ", ".join(ident(name) for name in columns)
    copies = f"SELECT {key} FROM {source} GROUP BY {key} HAVING count(*) > 1"
    duplicated = f"SELECT * FROM {source} SEMI JOIN ({copies}) USING ({key})"
    (count,) = con.sql(f"SELECT count(*) FROM ({duplicated})").fetchall()[0]
    rows = con.sql(f"{duplicated} ORDER BY {key} LIMIT {sample}").pl() if count else None
    return int(count), rows


def sorted_query(spec: TableSpec, source: str, order: Sequence[str]) -> str:
    query = f"SELECT {', '.join(ident(name) for name in spec.schema)} FROM {source}"
    if order:
        query += " ORDER BY " + ", ".join(ident(name) for name in order)
    return query
