"""Hand-written ingests of app_events, the alternatives users weigh the lakehouse against.

Each reads every `events-*.jsonl.gz` under a landing folder, types the columns of the app_events
contract and writes Parquet partitioned by arrival date. Lines they cannot parse are lost
silently, as in such scripts: DuckDB's `ignore_errors` keeps them as rows of NULLs, the Polars
and pandas scripts drop them. None of them quarantines, audits or publishes atomically: that is
the work the framework adds, and what the ratios price.

Run one in a child process: `python -m lakehouse.bench.baselines duckdb|polars|pandas LANDING OUT`.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from lakehouse.bench.probe import report_result
from lakehouse.landing.contract import APP_EVENTS

PANDAS_CHUNK_ROWS = 100_000
DAY_PATTERN = r"(\d{4}-\d{2}-\d{2})"


def _event_files(landing: Path) -> list[Path]:
    return sorted(landing.glob("*/events-*.jsonl.gz"))


def duckdb_copy(landing: Path, out: Path, threads: int, memory_limit: str) -> int:
    """One `COPY (SELECT ... FROM read_json(...)) TO ... (PARTITION_BY arrival_date)`."""
    import duckdb

    columns = {
        "event_id": "VARCHAR",
        "user_id": "VARCHAR",
        "event_type": "VARCHAR",
        "event_ts": "TIMESTAMPTZ",
        "device": "VARCHAR",
        "app_version": "VARCHAR",
        "latency_ms": "BIGINT",
        "properties": "JSON",
    }
    with duckdb.connect(config={"threads": threads, "memory_limit": memory_limit}) as con:
        con.execute("SET TimeZone = 'UTC'")
        files = [str(path) for path in _event_files(landing)]
        con.execute(
            f"""
            COPY (
                SELECT * EXCLUDE (filename),
                       CAST(regexp_extract(filename, '{DAY_PATTERN}', 1) AS DATE) AS arrival_date
                FROM read_json($files, format = 'newline_delimited', filename = true,
                               ignore_errors = true, columns = {columns!r})
            ) TO '{out}' (FORMAT parquet, PARTITION_BY (arrival_date), COMPRESSION zstd)
            """,
            {"files": files},
        )
        return con.sql(f"SELECT count(*) FROM read_parquet('{out}/*/*.parquet')").fetchall()[0][0]


def polars_sink(landing: Path, out: Path, threads: int, memory_limit: str) -> int:
    """`scan_lines` → keep lines that parse → one JSON path per column → partitioned sink.

    Polars' NDJSON reader and `json_decode` stop at the first malformed line or mistyped value,
    so a tolerant Polars script reads lines as text and extracts each field.
    """
    import polars as pl

    lines = pl.col("line")
    typed = (
        pl.scan_lines([str(path) for path in _event_files(landing)], include_file_paths="file")
        .filter(lines.str.json_path_match("$").is_not_null())
        .select(
            *(
                lines.str.json_path_match(f"$.{field.name}").alias(field.name)
                for field in APP_EVENTS.fields
            ),
            pl.col("file").str.extract(DAY_PATTERN).str.to_date().alias("arrival_date"),
        )
        .with_columns(
            pl.col("event_ts").str.to_datetime(time_zone="UTC", strict=False),
            pl.col("latency_ms").cast(pl.Int64, strict=False),
        )
    )
    typed.sink_parquet(pl.PartitionBy(str(out), key="arrival_date"), mkdir=True)
    return pl.scan_parquet(f"{out}/**/*.parquet").select(pl.len()).collect().item()


def pandas_chunks(landing: Path, out: Path, threads: int, memory_limit: str) -> int:
    """The seeds' approach: parse lines in Python, type a chunk with pandas, write it."""
    import pandas as pd

    names = [field.name for field in APP_EVENTS.fields]
    written = 0
    for path in _event_files(landing):
        day = path.parent.name
        target = out / f"arrival_date={day}"
        target.mkdir(parents=True, exist_ok=True)
        for number, records in enumerate(_json_chunks(path, PANDAS_CHUNK_ROWS)):
            frame = pd.DataFrame.from_records(records, columns=names)
            frame["event_ts"] = pd.to_datetime(frame["event_ts"], utc=True, errors="coerce")
            frame["latency_ms"] = pd.to_numeric(frame["latency_ms"], errors="coerce").astype(
                "Int64"
            )
            frame["properties"] = frame["properties"].map(
                lambda value: None if value is None else json.dumps(value)
            )
            frame.to_parquet(target / f"{path.stem}-{number}.parquet", compression="zstd")
            written += len(frame)
    return written


def _json_chunks(path: Path, rows: int) -> Iterator[list[dict]]:
    chunk: list[dict] = []
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                chunk.append(record)
            if len(chunk) == rows:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


BASELINES: dict[str, Callable[[Path, Path, int, str], int]] = {
    "duckdb": duckdb_copy,
    "polars": polars_sink,
    "pandas": pandas_chunks,
}


def main(argv: list[str]) -> None:
    engine, landing, out, threads, memory_limit = argv
    started = time.perf_counter()
    rows = BASELINES[engine](Path(landing), Path(out), int(threads), memory_limit)
    report_result({"rows": rows, "seconds": time.perf_counter() - started})


if __name__ == "__main__":
    main(sys.argv[1:])
