"""The bench's plain-DuckDB baseline (`lakehouse.bench.plain_duckdb`) builds the lake's 14 tables
from the same landing folder with the same rows: table by table and day by day, the count of
the lake the whole graph built from the shared sample."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import polars as pl

from lakehouse import tables
from lakehouse.bench import plain_duckdb
from lakehouse.bench.probe import RESULT_PREFIX, measure
from lakehouse.bench.runner import lake_table_rows
from lakehouse.landing import contract
from lakehouse.partitions import LATE_ARRIVAL_DAYS
from lakehouse.reference import USD_PER_UNIT
from lakehouse.transforms.sessions import SESSION_GAP
from lakehouse_tests.conftest import BuiltLake

#: The tables the baseline builds too: not the reviews side, which needs the sentiment model.
BASELINE = {f"{layer}.{name}" for layer, name, _, _ in plain_duckdb.TABLES}
LAKE_TABLES = [
    spec
    for spec in (*tables.BRONZE_TABLES, *tables.SILVER_TABLES, *tables.GOLD_TABLES)
    if spec.qualified_name in BASELINE
]


def _rows_by_day(frame: pl.LazyFrame, column: str) -> dict:
    return dict(frame.group_by(column).len().collect().iter_rows())


def test_the_baseline_builds_every_table_with_our_row_counts(
    built_lake: BuiltLake, tmp_path: Path
) -> None:
    out = tmp_path / "plain"
    run = measure(plain_duckdb.command(built_lake.root / "landing", out, 2, "512MB"))
    store = built_lake.store
    ours = lake_table_rows(built_lake.root / "lake")  # what the bench compares
    assert len(ours) == 14 and all(ours.values())
    assert run.result["rows"] == ours
    for spec in LAKE_TABLES:
        folder = out / spec.layer / spec.name
        if not spec.is_partitioned:
            assert (
                pl.scan_parquet(folder / "data.parquet").select(pl.len()).collect().item()
                == (ours[spec.qualified_name])
            )
            continue
        written = pl.scan_parquet(
            folder / "**" / "*.parquet",
            hive_partitioning=True,
            hive_schema={spec.partition_column: pl.Date()},
        )
        assert _rows_by_day(written, spec.partition_column) == _rows_by_day(
            store.scan(spec), spec.partition_column
        ), spec.qualified_name
    assert not (out / "_spill").exists()


def test_its_business_constants_are_the_lakes() -> None:
    """Spelled out in the baseline (it imports DuckDB alone), they must not drift."""
    assert plain_duckdb.EVENT_TYPES == contract.EVENT_TYPES
    assert plain_duckdb.DEVICES == contract.DEVICES
    assert plain_duckdb.ORDER_STATUSES == contract.ORDER_STATUSES
    assert plain_duckdb.REVENUE_STATUSES == contract.REVENUE_STATUSES
    assert plain_duckdb.CDC_OPS == contract.CDC_OPS
    assert {code: Decimal(rate) for code, rate in plain_duckdb.USD_PER_UNIT.items()} == (
        USD_PER_UNIT
    )
    assert {
        name: source.patterns
        for name, source in contract.SOURCES.items()
        if name in plain_duckdb.PATTERNS
    } == plain_duckdb.PATTERNS
    assert plain_duckdb.LATE_ARRIVAL_DAYS == LATE_ARRIVAL_DAYS
    assert SESSION_GAP.total_seconds() == plain_duckdb.SESSION_GAP_MINUTES * 60
    assert plain_duckdb.RESULT_PREFIX == RESULT_PREFIX


def test_the_measured_process_imports_duckdb_alone() -> None:
    """Its time and peak RSS are DuckDB's and the interpreter's, as a dbt-duckdb run's would be:
    the script loads neither the lakehouse package (and Dagster) nor a dataframe library."""
    script = plain_duckdb.command(Path("landing"), Path("out"), 2, "512MB")[1]
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import runpy, sys; runpy.run_path({script!r}); "
            "print(sorted({'lakehouse', 'dagster', 'polars', 'pyarrow', 'pandas'} "
            "& set(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"
