"""Reading landing files into typed rows, keeping every line that breaks the contract.

A file is split into lines (with their numbers), each line into raw field values, and DuckDB types
the values in one vectorised query. A line that is not valid JSON, has the wrong number of CSV
fields, or holds a value of the wrong type becomes a rejected row with the file, the line, the
raw text and the reason. Only a file that cannot be read at all (a truncated gzip, say) raises
`LandingFileError`, which names the file.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from dataclasses import dataclass, field

import duckdb
import polars as pl
import pyarrow as pa

from lakehouse.landing.contract import (
    BOOLEAN,
    DECIMAL,
    DUCKDB_TYPES,
    INTEGER,
    JSON,
    STRING,
    TIMESTAMP,
    Field,
    SourceContract,
)
from lakehouse.storage.filesystem import LakeFileSystem

EXTRA_COLUMN = "_extra"
REJECT_SCHEMA = {
    "_source_file": pl.String(),
    "_source_line": pl.Int64(),
    "_raw": pl.String(),
    "_reason": pl.String(),
}


class LandingFileError(ValueError):
    """A landing file that cannot be read at all."""


@dataclass
class ParsedFile:
    """The typed rows of one landing file and the rows it rejected."""

    path: str
    rows: pl.DataFrame
    rejected: pl.DataFrame
    blank_lines: int = 0
    unexpected_columns: list[str] = field(default_factory=list)

    @property
    def lines(self) -> int:
        return self.rows.height + self.rejected.height


def read_landing_file(
    fs: LakeFileSystem,
    path: str,
    relative_path: str,
    contract: SourceContract,
    con: duckdb.DuckDBPyConnection,
) -> ParsedFile:
    """Parse one landing file; `relative_path` is what lineage columns record."""
    text, bad_utf8_lines = _read_text(fs, path, relative_path)
    if contract.format == "jsonl":
        raw, blank = _jsonl_lines(text)
        unexpected: list[str] = []
        query = _jsonl_query(contract)
    else:
        raw, blank, unexpected = _csv_fields(text, relative_path, contract)
        query = _typing_query(contract, "raw_rows")
    if bad_utf8_lines:
        raw = _mark(raw, dict(bad_utf8_lines))
    con.register("raw_rows", raw)
    try:
        result = pl.from_arrow(con.sql(query).to_arrow_table())
    finally:
        con.unregister("raw_rows")
    assert isinstance(result, pl.DataFrame)
    result = result.with_columns(_source_file=pl.lit(relative_path))
    rejected = result.filter(pl.col("_reason").is_not_null()).select(list(REJECT_SCHEMA))
    rows = result.filter(pl.col("_reason").is_null()).select(
        *contract.field_names, EXTRA_COLUMN, "_source_file", "_source_line"
    )
    return ParsedFile(relative_path, rows, rejected, blank, unexpected)


def _read_text(fs: LakeFileSystem, path: str, relative: str) -> tuple[str, list[tuple[int, str]]]:
    """The file as text; lines that are not UTF-8 are reported, not guessed at."""
    data = fs.read_bytes(path)
    if path.endswith(".gz") and data:
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as error:
            raise LandingFileError(f"{relative}: cannot read gzip data ({error})") from error
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    lines, bad = [], []
    for number, chunk in enumerate(data.split(b"\n"), start=1):
        try:
            lines.append(chunk.decode("utf-8"))
        except UnicodeDecodeError as error:
            lines.append(chunk.decode("utf-8", errors="replace"))
            bad.append((number, f"line is not valid UTF-8 ({error.reason} at byte {error.start})"))
    return "\n".join(lines), bad


def _split_lines(text: str) -> tuple[list[int], list[str], int]:
    """Non-blank lines with their 1-based numbers, and how many blank lines there were."""
    physical = text.split("\n")
    if physical and physical[-1] == "":
        physical.pop()  # the newline that ends the last line starts no line
    numbers, lines = [], []
    for number, line in enumerate(physical, start=1):
        line = line.rstrip("\r")
        if line.strip():
            numbers.append(number)
            lines.append(line)
    return numbers, lines, len(physical) - len(lines)


def _jsonl_lines(text: str) -> tuple[pa.Table, int]:
    numbers, lines, blank = _split_lines(text)
    table = pa.table(
        {
            "_source_line": pa.array(numbers, pa.int64()),
            "_raw": pa.array(lines, pa.string()),
            "_problem": pa.nulls(len(lines), pa.string()),
        }
    )
    return table, blank


def _csv_fields(
    text: str, relative: str, contract: SourceContract
) -> tuple[pa.Table, int, list[str]]:
    physical = text.split("\n")
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        header = []
    except csv.Error as error:
        raise LandingFileError(
            f"{relative}: line 1: cannot read the CSV header ({error})"
        ) from error
    missing = [name for name in contract.field_names if name not in header]
    if header and missing:
        raise LandingFileError(
            f"{relative}: line 1: the header lacks required columns {missing} (found {header})"
        )
    unexpected = [name for name in header if name not in contract.field_names]
    columns: dict[str, list] = {name: [] for name in contract.field_names}
    numbers, raws, problems, extras = [], [], [], []
    blank, previous = 0, reader.line_num
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            values, problem = None, f"malformed CSV ({error})"
        else:
            problem = None
        first, previous = previous + 1, reader.line_num
        raw = "\n".join(physical[first - 1 : reader.line_num])
        if values is not None and not any(value.strip() for value in values):
            blank += 1
            continue
        if values is not None and len(values) != len(header):
            problem = f"expected {len(header)} fields, found {len(values)}"
        record = dict(zip(header, values, strict=False)) if values and not problem else {}
        for name in contract.field_names:
            columns[name].append(record.get(name) or None)
        extra = {name: record[name] for name in unexpected if record.get(name)}
        extras.append(_json_object(extra) if extra else None)
        numbers.append(first)
        raws.append(raw)
        problems.append(problem)
    table = pa.table(
        {
            "_source_line": pa.array(numbers, pa.int64()),
            "_raw": pa.array(raws, pa.string()),
            "_problem": pa.array(problems, pa.string()),
            EXTRA_COLUMN: pa.array(extras, pa.string()),
            **{name: pa.array(values, pa.string()) for name, values in columns.items()},
        }
    )
    return table, blank, unexpected


def _json_object(values: dict[str, str]) -> str:
    return json.dumps(values, sort_keys=True, separators=(",", ":"))


def _mark(table: pa.Table, reasons: dict[int, str]) -> pa.Table:
    """Set the problem of the given line numbers."""
    problems = table.column("_problem").to_pylist()
    for index, number in enumerate(table.column("_source_line").to_pylist()):
        if number in reasons:
            problems[index] = reasons[number]
    return table.set_column(
        table.schema.get_field_index("_problem"), "_problem", pa.array(problems, pa.string())
    )


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _jsonl_query(contract: SourceContract) -> str:
    """Extract each contract field as text from JSON objects, then type it."""
    known = ", ".join(f"'{name}'" for name in contract.field_names)
    fields = ",\n".join(
        f"CASE WHEN _problem IS NULL THEN {_extract(field)} END AS {_quote(field.name)}"
        for field in contract.fields
    )
    parsed = """
        SELECT _source_line, _raw,
               CASE WHEN _problem IS NOT NULL THEN _problem
                    WHEN NOT json_valid(_raw) THEN 'invalid JSON'
                    WHEN json_type(_raw::JSON) <> 'OBJECT' THEN 'not a JSON object'
               END AS _problem,
               CASE WHEN json_valid(_raw) AND json_type(_raw::JSON) = 'OBJECT'
                    THEN _raw::JSON END AS _doc
        FROM raw_rows
    """
    extracted = f"""
        SELECT _source_line, _raw, _problem,
               CASE WHEN _problem IS NULL THEN (
                   SELECT CASE WHEN len(k) > 0 THEN to_json(map(k, list_transform(
                       k, lambda x: json_extract(_doc, '$."' || x || '"')))) END
                   FROM (SELECT list_filter(json_keys(_doc),
                                            lambda x: NOT list_contains([{known}], x)) AS k)
               )::VARCHAR END AS {EXTRA_COLUMN},
               {fields}
        FROM ({parsed})
    """
    return _typing_query(contract, f"({extracted})")


def _extract(field: Field) -> str:
    """A field's value as text: scalars unquoted, nested JSON kept as JSON text."""
    path = f"'$.\"{field.name}\"'"
    if field.kind == JSON:
        return f"json_extract(_doc, {path})::VARCHAR"
    return f"json_extract_string(_doc, {path})"


def _typed(kind: str, column: str) -> str:
    if kind == INTEGER:
        whole = f"regexp_full_match(trim({column}), '[-+]?[0-9]+')"
        return f"CASE WHEN {whole} THEN TRY_CAST(trim({column}) AS BIGINT) END"
    if kind == BOOLEAN:
        return f"TRY_CAST(trim({column}) AS BOOLEAN)"
    if kind in (DECIMAL, TIMESTAMP):
        return f"TRY_CAST(trim({column}) AS {DUCKDB_TYPES[kind]})"
    if kind in (STRING, JSON):
        return column
    raise ValueError(f"unknown field kind {kind!r}")


def _typing_query(contract: SourceContract, source: str) -> str:
    """Type every raw value; the first value that does not fit names the reason."""
    typed = ",\n".join(
        f"{_typed(f.kind, _quote(f.name))} AS {_quote(f.name)}" for f in contract.fields
    )
    checks = "\n".join(
        f"WHEN {_quote(f.name)} IS NOT NULL AND ({_typed(f.kind, _quote(f.name))}) IS NULL "
        f"THEN '{f.name}: cannot read ''' || left({_quote(f.name)}, 60) || ''' as {f.kind}'"
        for f in contract.fields
        if f.kind not in (STRING, JSON)
    )
    return f"""
        SELECT _source_line, _raw, {EXTRA_COLUMN},
               CASE WHEN _problem IS NOT NULL THEN _problem {checks} END AS _reason,
               {typed}
        FROM {source}
        ORDER BY _source_line
    """
