"""`POST /query`: one SELECT on a DuckDB connection that can read the lake and nothing else.

Two locks, each enough on its own for what it covers:
- the statement is parsed first, and anything but a single SELECT is refused (COPY, ATTACH,
  INSTALL/LOAD, SET, PRAGMA, CREATE, a second statement...);
- the connection itself cannot leave the lake: `allowed_directories` is the lake folder,
  `enable_external_access` is off (no other file, no URL, no extension download),
  extensions are neither installed nor loaded on demand, and `lock_configuration` keeps a
  statement from changing any of this or the memory and thread limits.
The views (`gold.fact_sales`, ...) are created over each table's live files before the lock,
so queries name tables, never paths. A timer interrupts a query past its time limit, and at
most `row_cap` rows are returned.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from lakehouse.api.filters import BadRequest
from lakehouse.catalog import SCHEMAS, view_name, view_sql
from lakehouse.storage import LakeStore, literal
from lakehouse.table_spec import TableSpec

ROW_CAP = 10_000


@dataclass
class QueryResult:
    columns: list[str]
    types: list[str]
    rows: list[tuple]
    truncated: bool


def single_select(sql: str) -> str:
    """The one SELECT statement `sql` holds; BadRequest saying why otherwise."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as error:
        raise BadRequest(f"the SQL does not parse: {error}") from error
    if len(statements) != 1:
        raise BadRequest(f"one statement per query, got {len(statements)}")
    (statement,) = statements
    if statement.type != duckdb.StatementType.SELECT:
        raise BadRequest(f"only SELECT is allowed, got {statement.type.name}")
    return statement.query


def sandbox(store: LakeStore, specs: Sequence[TableSpec], memory_limit: str = "1GB"):
    """A fresh in-memory DuckDB with a view per table over its live files, then locked."""
    if not store.fs.is_local:
        raise BadRequest("SQL over a lake on object storage is not served by the API yet")
    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    try:
        con.execute("SET TimeZone = 'UTC'")
        for schema in SCHEMAS:
            con.execute(f"CREATE SCHEMA {schema}")
        for spec in specs:
            files = store.files(spec)
            con.execute(f"CREATE VIEW {view_name(spec)} AS {view_sql(store, spec, files, False)}")
        root = store.fs.root.rstrip("/") + "/"
        con.execute(f"SET allowed_directories = [{literal(root)}]")
        con.execute(f"SET memory_limit = {literal(memory_limit)}")
        con.execute("SET threads = 2")
        con.execute("SET temp_directory = ''")  # no spill files: a query over the limit fails
        con.execute("SET autoload_known_extensions = false")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def run_query(
    store: LakeStore,
    specs: Sequence[TableSpec],
    sql: str,
    *,
    timeout: float,
    row_cap: int = ROW_CAP,
) -> QueryResult:
    statement = single_select(sql)
    with sandbox(store, specs) as con:
        timer = threading.Timer(timeout, con.interrupt)
        timer.start()
        try:
            con.execute(statement)
            rows = con.fetchmany(row_cap + 1)
            description = con.description or []
        except duckdb.InterruptException as error:
            raise BadRequest(f"the query ran longer than {timeout:g} s and was stopped") from error
        except duckdb.Error as error:
            raise BadRequest(f"{type(error).__name__}: {error}") from error
        finally:
            timer.cancel()
    return QueryResult(
        columns=[column[0] for column in description],
        types=[str(column[1]) for column in description],
        rows=rows[:row_cap],
        truncated=len(rows) > row_cap,
    )
