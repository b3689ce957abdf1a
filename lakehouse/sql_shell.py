"""`lakehouse sql` and `lakehouse tables`: the catalog from a terminal, a script or cron.

A query's result is printed as a table, CSV or JSON, or written to a file (Parquet needs
`--out`). Bad SQL prints DuckDB's message, no traceback, and exits 1. Without a query and on a
terminal, an interactive prompt reads statements ending with `;`.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import TextIO

import duckdb
import polars as pl

from lakehouse.lake import CatalogMissing, Lake

TABLE_ROWS = 10_000
PROMPT, CONTINUATION = "lakehouse> ", "      ...> "


class UsageError(ValueError):
    """A command line that cannot be carried out (not a SQL error)."""


def run_query(
    con: duckdb.DuckDBPyConnection, query: str, fmt: str, out: Path | None, stdout: TextIO
) -> None:
    """Run one query and write its result in `fmt` to `out` (or `stdout`)."""
    if fmt == "parquet" and out is None:
        raise UsageError("--format parquet needs --out FILE")
    relation = con.sql(query)
    if relation is None:  # a statement without a result (SET, PRAGMA ...)
        return
    if fmt == "parquet":
        relation.write_parquet(str(out))
        return
    if fmt == "csv":
        text = relation.pl().write_csv()
    elif fmt == "json":
        rows = relation.pl().to_dicts()
        text = json.dumps(rows, indent=2, default=str) + "\n"
    else:
        text = _table(relation) + "\n"
    if out is None:
        stdout.write(text)
    else:
        out.write_text(text)


def _table(relation: duckdb.DuckDBPyRelation) -> str:
    frame = relation.limit(TABLE_ROWS + 1).pl()
    shown = frame.head(TABLE_ROWS)
    with pl.Config(
        tbl_rows=TABLE_ROWS,
        tbl_cols=-1,
        tbl_width_chars=200,
        fmt_str_lengths=60,
        tbl_hide_dataframe_shape=True,
    ):
        text = str(shown)
    more = f" (first {TABLE_ROWS:,} shown)" if frame.height > TABLE_ROWS else ""
    return f"{text}\n{shown.height:,} row{'s' if shown.height != 1 else ''}{more}"


def sql_command(
    query: str | None,
    fmt: str,
    out: Path | None,
    lake: Lake,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    stderr: TextIO = sys.stderr,
    as_of: dt.datetime | None = None,
) -> int:
    try:
        with lake.connect(as_of) as con:
            if query is not None:
                run_query(con, query, fmt, out, stdout)
            elif stdin.isatty():
                interactive(con, fmt, stdin, stdout, stderr)
            else:
                run_query(con, stdin.read(), fmt, out, stdout)
    except (duckdb.Error, UsageError, CatalogMissing) as error:
        print(f"lakehouse sql: {error}", file=stderr)
        return 1
    return 0


def interactive(
    con: duckdb.DuckDBPyConnection, fmt: str, stdin: TextIO, stdout: TextIO, stderr: TextIO
) -> None:
    """Read statements ending with `;` until end of input or `.quit`; errors do not end it."""
    print("lakehouse catalog (read-only). End statements with ';', .quit to leave.", file=stderr)
    lines: list[str] = []
    while True:
        stdout.write(CONTINUATION if lines else PROMPT)
        stdout.flush()
        line = stdin.readline()
        if not line or (not lines and line.strip() in (".quit", ".exit")):
            stdout.write("\n")
            return
        lines.append(line)
        statement = "".join(lines).strip()
        if not statement.endswith(";"):
            continue
        lines = []
        try:
            run_query(con, statement, "table" if fmt == "parquet" else fmt, None, stdout)
        except duckdb.Error as error:
            print(f"error: {error}", file=stderr)


def tables_command(lake: Lake, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr) -> int:
    query = (
        "SELECT view, owner, partitions, rows, bytes, last_materialized, retention "
        "FROM lakehouse.tables ORDER BY name"
    )
    return sql_command(query, "table", None, lake, stdout=stdout, stderr=stderr)
