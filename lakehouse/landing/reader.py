"""Reading landing files into typed rows, keeping every line that breaks the contract.

A file is split into lines (with their numbers), each line into raw field values, and DuckDB types
the values in one vectorised query. A line that is not valid JSON, has the wrong number of CSV
fields, or holds a value of the wrong type becomes a rejected row with the file, the line, the
raw text and the reason. Only a file that cannot be read at all (a truncated gzip, say) raises
`LandingFileError`, which names the file.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import json
import posixpath
import zlib
from collections.abc import Iterator, Sequence
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
    SourceContract,
)
from lakehouse.storage import LakeFileSystem

EXTRA_COLUMN = "_extra"
REJECT_SCHEMA = {
    "_source_file": pl.String(),
    "_source_line": pl.Int64(),
    "_raw": pl.String(),
    "_reason": pl.String(),
}


class LandingFileError(ValueError):
    """A landing file that cannot be read at all."""


#: Files are typed together until a batch holds this many lines: one DuckDB query per batch
#: instead of per file, with memory bounded by the batch.
BATCH_LINES = 200_000


@dataclass
class ParsedBatch:
    """The typed rows and the rejected rows of one or more landing files."""

    rows: pl.DataFrame
    rejected: pl.DataFrame
    files: list[str] = field(default_factory=list)
    blank_lines: int = 0
    #: Per file, how its columns drift from the contract: (rule, column) pairs.
    drift: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    #: Per file, the SHA-256 of the bytes read: what the landing manifest records.
    hashes: dict[str, str] = field(default_factory=dict)


def parse_landing_files(
    fs: LakeFileSystem,
    paths: Sequence[str],
    contract: SourceContract,
    con: duckdb.DuckDBPyConnection,
    *,
    batch_lines: int = BATCH_LINES,
) -> Iterator[ParsedBatch]:
    """Parse files in order; lineage columns record each path relative to the landing root.

    Each file is read and split on its own, so an unreadable one raises `LandingFileError`
    naming it, before anything of its batch is typed.
    """
    pending: list[pa.Table] = []
    batch = ParsedBatch(pl.DataFrame(), pl.DataFrame())
    lines = 0
    for path in paths:
        relative = posixpath.relpath(path, fs.root)
        raw, blank, drift, batch.hashes[relative] = _raw_rows(fs, path, relative, contract)
        pending.append(raw)
        lines += raw.num_rows
        batch.files.append(relative)
        batch.blank_lines += blank
        if drift:
            batch.drift[relative] = drift
        if lines >= batch_lines:
            yield _typed_batch(pending, batch, contract, con)
            pending, batch, lines = [], ParsedBatch(pl.DataFrame(), pl.DataFrame()), 0
    if pending:
        yield _typed_batch(pending, batch, contract, con)


def _raw_rows(
    fs: LakeFileSystem, path: str, relative: str, contract: SourceContract
) -> tuple[pa.Table, int, list[tuple[str, str]], str]:
    """One file as untyped rows (line number, raw text, a problem found so far, raw values),
    its blank lines, its drift and the SHA-256 of its bytes."""
    data = fs.read_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    text, bad_utf8_lines = _decode(data, path, relative)
    if contract.format == "jsonl":
        raw, blank = _jsonl_lines(text)
        drift: list[tuple[str, str]] = []
    else:
        raw, blank, drift = _csv_fields(text, relative, contract)
    if bad_utf8_lines:
        raw = _mark(raw, dict(bad_utf8_lines))
    files = pa.array([relative] * raw.num_rows, pa.string())
    return raw.append_column("_source_file", files), blank, drift, digest


def _typed_batch(
    pending: list[pa.Table],
    batch: ParsedBatch,
    contract: SourceContract,
    con: duckdb.DuckDBPyConnection,
) -> ParsedBatch:
    query = _jsonl_query(contract) if contract.format == "jsonl" else _typing_query(contract)
    con.register("raw_rows", pa.concat_tables(pending))
    try:
        result = pl.from_arrow(con.sql(query).to_arrow_table())
    finally:
        con.unregister("raw_rows")
    assert isinstance(result, pl.DataFrame)
    batch.rejected = result.filter(pl.col("_reason").is_not_null()).select(list(REJECT_SCHEMA))
    batch.rows = result.filter(pl.col("_reason").is_null()).select(
        *contract.field_names, EXTRA_COLUMN, "_source_file", "_source_line"
    )
    return batch


def _decode(data: bytes, path: str, relative: str) -> tuple[str, list[tuple[int, str]]]:
    """The file as text; lines that are not UTF-8 are reported, not guessed at."""
    if path.endswith(".gz") and data:
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as error:
            raise LandingFileError(f"{relative}: cannot read gzip data ({error})") from error
    # A byte-order mark (what many Windows tools write first) is not part of the first line.
    data = data.removeprefix(codecs.BOM_UTF8)
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


def _jsonl_lines(text: str) -> tuple[pa.Table, int]:
    """Non-blank lines with their 1-based numbers, and how many blank lines there were.

    Split and filtered in Polars: a Python loop over lines cost a third of the ingest time.
    """
    physical = pl.Series("_raw", [text]).str.split("\n").explode()
    if physical.len() and physical[-1] == "":
        physical = physical.head(-1)  # the newline that ends the last line starts no line
    lines = (
        physical.str.strip_chars_end("\r")
        .to_frame()
        .with_row_index("_source_line", offset=1)
        .filter(pl.col("_raw").str.strip_chars().str.len_bytes() > 0)
    )
    table = pa.table(
        {
            "_source_line": lines["_source_line"].cast(pl.Int64).to_arrow(),
            "_raw": lines["_raw"].to_arrow().cast(pa.string()),
            "_problem": pa.nulls(lines.height, pa.string()),
        }
    )
    return table, physical.len() - lines.height


def _csv_fields(
    text: str, relative: str, contract: SourceContract
) -> tuple[pa.Table, int, list[tuple[str, str]]]:
    """Rows of raw strings, the number of blank lines, and the header's drift from the
    contract as (rule, column) pairs."""
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
    missing = [field.name for field in contract.fields if field.name not in header]
    required = [f.name for f in contract.fields if f.name in missing and not f.optional]
    if header and required:
        raise LandingFileError(
            f"{relative}: line 1: the header lacks required columns {required} (found {header})"
        )
    unexpected = [name for name in header if name not in contract.field_names]
    drift = [("unexpected_column", name) for name in unexpected]
    drift += [("missing_optional_column", name) for name in missing] if header else []
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
    return table, blank, drift


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
    """Validate each line, extract every contract field as text in one pass, then type them.

    Scalars come out unquoted and nested values as JSON text; keys outside the contract are
    kept as a JSON object in `_extra`.
    """
    known = ", ".join(f"'{name}'" for name in contract.field_names)
    paths = ", ".join(f"'$.\"{name}\"'" for name in contract.field_names)
    values = ",\n".join(
        f"_values[{index}] AS {_quote(name)}"
        for index, name in enumerate(contract.field_names, start=1)
    )
    source = f"""(
        WITH checked AS (
            SELECT _source_file, _source_line, _raw,
                   CASE WHEN _problem IS NOT NULL THEN _problem
                        WHEN NOT json_valid(_raw) THEN 'invalid JSON'
                        WHEN json_type(_raw) <> 'OBJECT' THEN 'not a JSON object'
                   END AS _problem
            FROM raw_rows
        ), extracted AS (
            SELECT *,
                   CASE WHEN _problem IS NULL THEN json_extract_string(_raw, [{paths}])
                   END AS _values,
                   CASE WHEN _problem IS NULL THEN list_filter(
                       json_keys(_raw), lambda x: NOT list_contains([{known}], x))
                   END AS _unknown
            FROM checked
        )
        SELECT _source_file, _source_line, _raw, _problem,
               CASE WHEN len(_unknown) > 0 THEN to_json(map(_unknown, list_transform(
                   _unknown, lambda x: json_extract(_raw, '$."' || x || '"'))))::VARCHAR
               END AS {EXTRA_COLUMN},
               {values}
        FROM extracted
    )"""
    return _typing_query(contract, source)


def _typed(kind: str, column: str) -> str:
    if kind == INTEGER:
        whole = f"regexp_full_match(trim({column}), '[-+]?[0-9]+')"
        return f"CASE WHEN {whole} THEN TRY_CAST(trim({column}) AS BIGINT) END"
    if kind == BOOLEAN:
        return f"TRY_CAST(trim({column}) AS BOOLEAN)"
    if kind == DECIMAL:
        # Plain digits with at most two decimals (trailing zeros aside): the cast is then exact.
        exact = f"regexp_full_match(trim({column}), '[-+]?([0-9]+[.]?|[0-9]*[.][0-9]{{1,2}})0*')"
        return f"CASE WHEN {exact} THEN TRY_CAST(trim({column}) AS {DUCKDB_TYPES[kind]}) END"
    if kind == TIMESTAMP:
        return f"TRY_CAST(trim({column}) AS {DUCKDB_TYPES[kind]})"
    if kind in (STRING, JSON):
        return column
    raise ValueError(f"unknown field kind {kind!r}")


def _typing_query(contract: SourceContract, source: str = "raw_rows") -> str:
    """Type every raw value; the first value that does not fit names the reason.

    No ORDER BY: DuckDB preserves the insertion order of the registered rows (its default
    `preserve_insertion_order`), which is file and line order already.
    """
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
        SELECT _source_file, _source_line, _raw, {EXTRA_COLUMN},
               CASE WHEN _problem IS NOT NULL THEN _problem {checks} END AS _reason,
               {typed}
        FROM {source}
    """
