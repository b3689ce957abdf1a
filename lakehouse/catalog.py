"""The lake's DuckDB catalog: a schema per layer and a view per table, for anyone to open.

`build_catalog` writes `catalog.duckdb` next to the lake's tables: schemas `bronze`, `silver`,
`gold`, `quarantine`, `quality` and `ml` (the model registry), one view per table over the
Parquet files of its current Delta version (the partition column typed DATE), the asset
descriptions as table and column comments, and `lakehouse.tables` (owner, tags, partitions,
rows, bytes, last materialization, retention, and whether the catalog stores the table or a
view of it).

Gold tables up to `copy_limit_bytes` of Parquet are stored in the catalog as DuckDB tables
instead of views, as a dbt-duckdb project would materialize them: a year of daily partitions is
365 files, and opening them cost an analyst's query about 55 ms where the stored copy answers in
a few. The copy is of the same Delta version the views name, so it is exactly as current.

Each view names the files the Delta log lists as live, never a glob: files a later version
replaced, or a dead writer left, never show. The views are pinned to the version current at the
build, and the catalog is rebuilt after every run; the files they name stay until vacuum's
grace period has passed, so an open catalog keeps reading. The file is written in DuckDB's
v1.2 storage format, so DuckDB 1.x clients (the `duckdb` CLI) open it too, under a temporary
name renamed into place: a reader holding the previous catalog open keeps reading it, never a
half-written one (`duckdb -readonly data/lake/catalog.duckdb`). No process ever writes to the
catalog a reader has open.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from lakehouse import tables
from lakehouse.masking import select_list
from lakehouse.storage import LakeStore, ident, literal
from lakehouse.table_spec import TableSpec

CATALOG_FILE = "catalog.duckdb"
#: The analysts' catalog: gold only, PII masked by the declared rules (`lakehouse.masking`).
ANALYST_CATALOG_FILE = "catalog_analyst.duckdb"
#: The newest storage format DuckDB 1.x clients open (DuckDB 2.0 writes a newer one otherwise).
STORAGE_VERSION = "v1.2.0"
#: Gold tables up to this much Parquet are stored in the catalog rather than viewed.
COPY_LIMIT_BYTES = 256 * 1024 * 1024
SCHEMAS = ("bronze", "silver", "gold", "quarantine", "quality", "lakehouse", "ml", "governance")

_DUCKDB_TYPES: dict[type[pl.DataType], str] = {
    pl.String: "VARCHAR",
    pl.Int64: "BIGINT",
    pl.Int32: "INTEGER",
    pl.Float64: "DOUBLE",
    pl.Boolean: "BOOLEAN",
    pl.Date: "DATE",
}


@dataclass(frozen=True)
class CatalogBuild:
    path: Path
    tables: int
    rows: int
    seconds: float


def catalog_path(folder: Path) -> Path:
    """The catalog file in its folder (`DataLayout.catalog_dir`)."""
    return folder / CATALOG_FILE


def view_name(spec: TableSpec) -> str:
    """`gold.fact_sales`; quarantine tables are `quarantine.<layer>_<table>`."""
    schema, *rest = spec.path
    return f"{schema}.{'_'.join(rest)}"


def duckdb_type(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMPTZ" if dtype.time_zone else "TIMESTAMP"
    if isinstance(dtype, pl.Decimal):
        return f"DECIMAL({dtype.precision}, {dtype.scale})"
    return _DUCKDB_TYPES[type(dtype)]


def view_sql(store: LakeStore, spec: TableSpec, files: Sequence[str], uniform: bool = True) -> str:
    """The SELECT behind a table's view: its live files, or no rows of the right types.
    `uniform` says every file has exactly the declared columns; otherwise some predate a
    column added since, and are read by name with the missing column NULL."""
    columns = [*spec.schema, *([spec.partition_column] if spec.partition_column else [])]
    listed = ", ".join(ident(name) for name in columns)
    if not files:
        typed = ", ".join(
            f"NULL::{duckdb_type(dtype)} AS {ident(name)}"
            for name, dtype in spec.read_schema.items()
        )
        return f"SELECT {typed} WHERE false"
    source = "[" + ", ".join(literal(store.duckdb_path(path)) for path in files) + "]"
    # union_by_name only where needed: unifying footers made the benchmark's gold queries
    # about 30% slower.
    by_name = "" if uniform else ", union_by_name = true"
    if spec.partition_column is None:
        return f"SELECT {listed} FROM read_parquet({source}{by_name})"
    return (
        f"SELECT {listed} FROM read_parquet({source}, "
        f"hive_partitioning = true, hive_types = {{{literal(spec.partition_column)}: DATE}}"
        f"{by_name})"
    )


def _uniform(con: duckdb.DuckDBPyConnection, spec: TableSpec, paths: Sequence[str]) -> bool:
    """Whether every file has exactly the declared columns (none predates an added one)."""
    fewest, most = con.execute(
        "SELECT min(n), max(n) FROM "
        "(SELECT count(*) - 1 AS n FROM parquet_schema(?) GROUP BY file_name)",
        [list(paths)],
    ).fetchall()[0]
    return fewest == most == len(spec.schema)


def footer_rows(con: duckdb.DuckDBPyConnection, paths: list[str]) -> int:
    """Rows of the given Parquet files, from their footers alone (no data read)."""
    if not paths:
        return 0
    (rows,) = con.execute(
        "SELECT coalesce(sum(num_rows), 0) FROM parquet_file_metadata(?)", [paths]
    ).fetchall()[0]
    return int(rows)


def table_stats(
    store: LakeStore,
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    materialized: Mapping[str, dt.datetime],
) -> dict[str, object]:
    """One row of `lakehouse.tables`, and the view's files and whether they are uniform (the
    keys starting with `_`, not columns)."""
    entries = store.file_entries(spec)
    rows, uniform = 0, True
    if entries:
        paths = [store.duckdb_path(entry.path) for entry in entries]
        rows = footer_rows(con, paths)
        uniform = _uniform(con, spec, paths)
    tags = {"layer": spec.layer, "domain": spec.domain, **({"pii": "true"} if spec.pii else {})}
    newest = max((entry.mtime_ns for entry in entries), default=0)
    return {
        "name": spec.qualified_name,
        "view": view_name(spec),
        "layer": spec.path[0],
        "owner": spec.owner,
        "tags": [f"{key}={value}" for key, value in tags.items()],
        "description": spec.description,
        "partition_column": spec.partition_column,
        "partitions": len(store.partition_keys(spec)) if spec.is_partitioned else None,
        "files": len(entries),
        "rows": int(rows),
        "bytes": sum(entry.size for entry in entries),
        "last_materialized": materialized.get(spec.qualified_name),
        "last_written": dt.datetime.fromtimestamp(newest / 1e9, dt.UTC) if newest else None,
        "retention": describe_retention(spec),
        "retention_days": spec.retention_days,
        "path": store.table_uri(spec),
        "stored_in_catalog": False,
        "_files": [entry.path for entry in entries],
        "_uniform": uniform,
    }


TABLES_SCHEMA = {
    "name": pl.String(),
    "view": pl.String(),
    "layer": pl.String(),
    "owner": pl.String(),
    "tags": pl.List(pl.String()),
    "description": pl.String(),
    "partition_column": pl.String(),
    "partitions": pl.Int64(),
    "files": pl.Int64(),
    "rows": pl.Int64(),
    "bytes": pl.Int64(),
    "last_materialized": pl.Datetime("us", "UTC"),
    "last_written": pl.Datetime("us", "UTC"),
    "retention": pl.String(),
    "retention_days": pl.Int64(),
    "path": pl.String(),
    "stored_in_catalog": pl.Boolean(),
}


def build_catalog(
    store: LakeStore,
    folder: Path,
    materialized: Mapping[str, dt.datetime] | None = None,
    specs: Sequence[TableSpec] = tables.ALL_TABLES,
    copy_limit_bytes: int = COPY_LIMIT_BYTES,
) -> CatalogBuild:
    """Write the catalog under a temporary name, then rename it over the previous one; then the
    analysts' catalog beside it (`write_analyst_catalog`)."""
    started = dt.datetime.now(dt.UTC)
    target = catalog_path(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{CATALOG_FILE}.{os.getpid()}.{uuid.uuid4().hex}")
    files: dict[str, tuple[list[str], bool]] = {}
    try:
        config = {"storage_compatibility_version": STORAGE_VERSION}
        with duckdb.connect(str(temporary), config=config) as con:
            store.prepare_duckdb(con)
            con.execute("SET TimeZone = 'UTC'")
            for schema in SCHEMAS:
                con.execute(f"CREATE SCHEMA {schema}")
            rows = [table_stats(store, con, spec, materialized or {}) for spec in specs]
            for spec, row in zip(specs, rows, strict=True):
                row["stored_in_catalog"] = spec.layer == "gold" and row["bytes"] <= copy_limit_bytes
                files[spec.qualified_name] = (row.pop("_files"), row.pop("_uniform"))
                _create_relation(
                    con, store, spec, *files[spec.qualified_name], stored=row["stored_in_catalog"]
                )
            overview = pl.DataFrame(rows, schema=TABLES_SCHEMA)  # noqa: F841 (read by DuckDB)
            con.execute("CREATE TABLE lakehouse._tables AS SELECT * FROM overview")
            con.execute("CREATE VIEW lakehouse.tables AS SELECT * FROM lakehouse._tables")
            con.execute(
                "COMMENT ON VIEW lakehouse.tables IS 'Every lake table: owner, tags, "
                "partitions, rows, bytes, last materialization and retention, as of the "
                f"catalog build at {started.isoformat(timespec='seconds')}'"
            )
        os.replace(temporary, target)
    finally:
        for leftover in (temporary, temporary.with_name(temporary.name + ".wal")):
            leftover.unlink(missing_ok=True)
    write_analyst_catalog(store, folder, specs, rows, files)
    seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
    return CatalogBuild(target, len(specs), sum(int(row["rows"]) for row in rows), seconds)


def write_analyst_catalog(
    store: LakeStore,
    folder: Path,
    specs: Sequence[TableSpec],
    rows: Sequence[Mapping[str, object]],
    files: Mapping[str, tuple[list[str], bool]],
) -> Path:
    """`catalog_analyst.duckdb`: what an analyst may read, as the API serves it to one: views
    of the gold tables with their PII columns masked, and `lakehouse.tables` listing gold only.
    Written under a temporary name and renamed into place, like the main catalog."""
    target = folder / ANALYST_CATALOG_FILE
    temporary = target.with_name(f".{ANALYST_CATALOG_FILE}.{os.getpid()}.{uuid.uuid4().hex}")
    gold = [(spec, row) for spec, row in zip(specs, rows, strict=True) if spec.layer == "gold"]
    try:
        config = {"storage_compatibility_version": STORAGE_VERSION}
        with duckdb.connect(str(temporary), config=config) as con:
            store.prepare_duckdb(con)
            con.execute("SET TimeZone = 'UTC'")
            con.execute("CREATE SCHEMA gold")
            con.execute("CREATE SCHEMA lakehouse")
            for spec, _ in gold:
                select = view_sql(store, spec, *files[spec.qualified_name])
                columns = select_list(spec, list(spec.read_schema), masked=True)
                con.execute(f"CREATE VIEW {view_name(spec)} AS SELECT {columns} FROM ({select})")
                con.execute(f"COMMENT ON VIEW {view_name(spec)} IS {literal(_table_comment(spec))}")
            overview = pl.DataFrame(  # noqa: F841 (read by DuckDB)
                [{**row, "stored_in_catalog": False} for _, row in gold], schema=TABLES_SCHEMA
            )
            con.execute("CREATE TABLE lakehouse._tables AS SELECT * FROM overview")
            con.execute("CREATE VIEW lakehouse.tables AS SELECT * FROM lakehouse._tables")
        os.replace(temporary, target)
    finally:
        for leftover in (temporary, temporary.with_name(temporary.name + ".wal")):
            leftover.unlink(missing_ok=True)
    return target


def _create_relation(
    con: duckdb.DuckDBPyConnection,
    store: LakeStore,
    spec: TableSpec,
    files: Sequence[str],
    uniform: bool,
    stored: bool,
) -> None:
    """A view over the table's files, or (`stored`) a table holding their rows in the
    partition column's order, so DuckDB's zone maps prune a date filter as folders would."""
    name, select = view_name(spec), view_sql(store, spec, files, uniform)
    if stored:
        order = f" ORDER BY {ident(spec.partition_column)}" if spec.partition_column else ""
        con.execute(f"CREATE TABLE {name} AS {select}{order}")
    else:
        con.execute(f"CREATE VIEW {name} AS {select}")
    kind = "TABLE" if stored else "VIEW"
    con.execute(f"COMMENT ON {kind} {name} IS {literal(_table_comment(spec))}")
    for column, text in spec.column_descriptions.items():
        con.execute(f"COMMENT ON COLUMN {name}.{ident(column)} IS {literal(text)}")
    if spec.partition_column:
        con.execute(
            f"COMMENT ON COLUMN {name}.{ident(spec.partition_column)} IS "
            f"{literal('Partition key (from the folder name); filter on it to prune files')}"
        )


def describe_retention(spec: TableSpec) -> str:
    """The spec's retention for people: "5 years", "90 days" or "rebuilt whole"."""
    days = spec.retention_days
    if days is None:
        return "rebuilt whole"
    if days % 365 == 0:
        years = days // 365
        return f"{years} year{'s' if years > 1 else ''}"
    return f"{days} days"


def _table_comment(spec: TableSpec) -> str:
    return f"{spec.description} Owner: {spec.owner}. Retention: {describe_retention(spec)}."
