"""`GET /tables/{table}/rows`: one page of a table's rows, read by DuckDB from the files of the
partitions the filters allow, PII masked for callers that may not see it.

Pages are in (file, row in file) order of one pinned Delta version, and the cursor names the
version and the first row of the next page: paging reads every row exactly once, whatever is
written meanwhile (until vacuum removes the version's files, days later).
"""

from __future__ import annotations

import base64
import json
import posixpath
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from lakehouse.api.filters import BadRequest, Filter, partitions, where_clause
from lakehouse.api.snapshots import Snapshot, check_files_kept
from lakehouse.catalog import duckdb_type
from lakehouse.masking import select_list
from lakehouse.storage import LakeStore, ident, literal
from lakehouse.table_spec import TableSpec

DEFAULT_LIMIT = 1000
MAX_LIMIT = 100_000
BATCH_ROWS = 8192
#: Pages of at most this many rows are read in one query and held whole; larger ones stream.
WHOLE_PAGE_ROWS = 10_000
#: The names the one-query page gives its row positions (not a column of any table).
_FILE, _ROW = "_lakehouse_file", "_lakehouse_row"


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: a version, a file (relative to the table) and a row."""

    version: int
    file: str
    row: int

    def encode(self) -> str:
        raw = json.dumps({"v": self.version, "f": self.file, "r": self.row}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            cursor = cls(int(raw["v"]), str(raw["f"]), int(raw["r"]))
        except (ValueError, KeyError, TypeError) as error:
            raise BadRequest("the cursor is not one this API returned") from error
        if cursor.file.startswith("/") or ".." in cursor.file.split("/"):
            raise BadRequest("the cursor is not one this API returned")
        return cursor


@dataclass
class Page:
    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    next_cursor: str | None
    version: int | None


def _source(store: LakeStore, spec: TableSpec, files: Sequence[str]) -> str:
    listed = "[" + ", ".join(literal(store.duckdb_path(path)) for path in files) + "]"
    hive = (
        f", hive_partitioning = true, hive_types = {{{literal(spec.partition_column)}: DATE}}"
        if spec.partition_column
        else ", hive_partitioning = false"
    )
    return f"read_parquet({listed}, file_row_number = true, union_by_name = true{hive})"


def page_columns(spec: TableSpec, columns: str | None) -> list[str]:
    """The columns of `columns=a,b` (all the table's when None), checked."""
    wanted = [c.strip() for c in columns.split(",") if c.strip()] if columns else []
    known = spec.read_schema  # built anew by each access: once here, not once per column
    wanted = wanted or list(known)
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise BadRequest(f"unknown columns {unknown} of {spec.qualified_name}")
    return wanted


def page_key(
    spec: TableSpec,
    version: int | None,
    masked: bool,
    columns: Sequence[str],
    filters: Sequence[Filter],
    limit: int,
    cursor: Cursor | None,
    fmt: str,
) -> tuple:
    """Everything a page's bytes depend on (filters in a canonical order: they are ANDed)."""
    ordered = tuple(sorted((f.column, f.op, f.value) for f in filters))
    return (spec.qualified_name, version, masked, tuple(columns), ordered, limit, cursor, fmt)


def read_page(
    con: duckdb.DuckDBPyConnection,
    store: LakeStore,
    spec: TableSpec,
    snapshot: Snapshot,
    *,
    columns: Sequence[str] | None,
    filters: Sequence[Filter],
    limit: int,
    cursor: Cursor | None,
    masked: bool,
) -> Page:
    """Plan and start one page: the next cursor is found first (a query of the row positions
    alone), then the rows stream in batches from `con` (a cursor of its own). `snapshot` is
    the table's version the page is read at (the cursor's, when there is one)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    known = spec.read_schema
    wanted = list(columns or known)
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise BadRequest(f"unknown columns {unknown} of {spec.qualified_name}")
    version = snapshot.version
    keys = None
    if spec.partition_column and any(f.column == spec.partition_column for f in filters):
        keys = partitions(spec, filters, snapshot.keys())
    files = snapshot.files_of(keys)
    root = store.table_dir(spec)
    if cursor is not None:
        start = posixpath.join(root, cursor.file)
        files = [path for path in files if path >= start]
        check_files_kept(store, spec, cursor.version, files)
    select = select_list(spec, wanted, masked)
    if not files:
        empty = con.sql(f"SELECT {select} FROM (SELECT {_typed_nulls(spec)}) WHERE false")
        reader = empty.to_arrow_reader(BATCH_ROWS)
        return Page(reader.schema, iter(reader), None, version)
    where, params = where_clause(spec, filters)
    if cursor is not None:
        start_path = store.duckdb_path(posixpath.join(root, cursor.file))
        where += (" AND " if where else " WHERE ") + (
            "(filename > ? OR (filename = ? AND file_row_number >= ?))"
        )
        params += [start_path, start_path, cursor.row]
    source = f"FROM {_source(store, spec, files)}{where} ORDER BY filename, file_row_number"

    def cursor_at(path: str, row: int) -> str:
        relative = posixpath.relpath(_lake_path(store, files, path), root)
        return Cursor(version, relative, int(row)).encode()

    try:
        if limit <= WHOLE_PAGE_ROWS:
            # One query reading the page and the row after it (the next cursor), held whole:
            # at most WHOLE_PAGE_ROWS rows, and half the work of the two queries below.
            table = con.sql(
                f"SELECT filename AS {_FILE}, file_row_number AS {_ROW}, {select} {source} "
                f"LIMIT {int(limit) + 1}",
                params=params,
            ).to_arrow_table()
            next_cursor = None
            if table.num_rows > limit:
                next_cursor = cursor_at(table[_FILE][limit].as_py(), table[_ROW][limit].as_py())
            rows = table.slice(0, limit).drop_columns([_FILE, _ROW])
            return Page(rows.schema, iter(rows.to_batches(BATCH_ROWS)), next_cursor, version)
        following = con.execute(
            f"SELECT filename, file_row_number {source} LIMIT 1 OFFSET {int(limit)}", params
        ).fetchall()
        # A relation's reader streams the batches (a DB-API result's would copy them first).
        reader = con.sql(f"SELECT {select} {source} LIMIT {int(limit)}", params=params)
        reader = reader.to_arrow_reader(BATCH_ROWS)
    except duckdb.ConversionException as error:
        raise BadRequest(f"a filter value does not fit its column: {error}") from error
    next_cursor = cursor_at(*following[0]) if following else None
    return Page(reader.schema, iter(reader), next_cursor, version)


def _lake_path(store: LakeStore, files: Sequence[str], duckdb_name: str) -> str:
    """The lake path of the file DuckDB named `duckdb_name`."""
    for path in files:
        if store.duckdb_path(path) == duckdb_name:
            return path
    raise AssertionError(f"{duckdb_name} is not one of the files read")


def _typed_nulls(spec: TableSpec) -> str:
    return ", ".join(
        f"NULL::{duckdb_type(dtype)} AS {ident(name)}" for name, dtype in spec.read_schema.items()
    )
