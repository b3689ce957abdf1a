"""The DuckDB catalog, `lakehouse sql` and `lakehouse tables`, and the notebook API."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandera.polars as pa
import polars as pl
import pytest

from lakehouse import tables
from lakehouse.catalog import build_catalog, catalog_path, duckdb_type, view_name
from lakehouse.defs.catalog_refresh import materialized_at, refresh_catalog
from lakehouse.lake import Lake
from lakehouse.settings import DataLayout
from lakehouse.sql_shell import interactive
from lakehouse.storage import LakeStore
from lakehouse_tests.conftest import FIRST_DAY, LAST_DAY
from lakehouse_tests.test_cli import run


def private_copy(catalogued: Path, tmp_path: Path) -> Path:
    """A copy for a test that changes the lake; its catalog is rebuilt for the new place."""
    shutil.copytree(catalogued / "lake", tmp_path / "lake")
    refresh_catalog(DataLayout(tmp_path))
    return tmp_path


def reader(root: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(catalog_path(root / "lake")), read_only=True)


def test_every_table_has_a_typed_commented_view_with_its_rows(catalogued: Path) -> None:
    store = LakeStore.local(catalogued / "lake")
    with reader(catalogued) as con:
        for spec in tables.ALL_TABLES:
            (count,) = con.sql(f"SELECT count(*) FROM {view_name(spec)}").fetchall()[0]
            assert count == store.scan(spec).select(pl.len()).collect().item(), spec
        types = dict(
            con.sql(
                "SELECT column_name, data_type FROM duckdb_columns() "
                "WHERE schema_name = 'gold' AND table_name = 'fact_sales'"
            ).fetchall()
        )
        assert types["order_date"] == "DATE"
        assert types["order_ts"] == "TIMESTAMP WITH TIME ZONE"
        assert types["amount_usd"] == types["unit_price"] == "DECIMAL(18,2)"  # money is exact
        assert duckdb_type(tables.SILVER_ORDERS.schema["usd_per_unit"]) == "DECIMAL(18, 6)"
        (comment,) = con.sql(
            "SELECT comment FROM duckdb_views() WHERE schema_name = 'silver' "
            "AND view_name = 'app_events'"
        ).fetchall()[0]
        assert tables.SILVER_APP_EVENTS.description in comment
        schemas = {row[0] for row in con.sql("SELECT schema_name FROM duckdb_schemas()").fetchall()}
        assert {"bronze", "silver", "gold", "quarantine", "quality", "lakehouse", "ml"} <= schemas
        date = tables.SILVER_ORDERS.partition_column
        pruned = con.sql(
            f"EXPLAIN ANALYZE SELECT count(*) FROM silver.orders WHERE {date} = DATE '{LAST_DAY}'"
        ).fetchall()
        assert "Total Files Read: 1" in str(pruned), "a partition filter prunes the other files"
        # Gold is stored in the catalog (a year of daily files is slow to open), the rest viewed.
        stored = {row[0] for row in con.sql("SELECT table_name FROM duckdb_tables()").fetchall()}
        gold = {spec.name for spec in tables.ALL_TABLES if spec.layer == "gold"}
        assert gold <= stored and "app_events" not in stored
        (comment,) = con.sql(
            "SELECT comment FROM duckdb_tables() WHERE table_name = 'fact_sales'"
        ).fetchall()[0]
        assert tables.GOLD_FACT_SALES.description in comment
        flags = con.sql(
            "SELECT layer, bool_and(stored_in_catalog), bool_or(stored_in_catalog) "
            "FROM lakehouse.tables GROUP BY layer"
        ).fetchall()
        assert {layer: (every, some) for layer, every, some in flags} == {
            "bronze": (False, False),
            "silver": (False, False),
            "gold": (True, True),
            "quarantine": (False, False),
            "quality": (False, False),
            "lakehouse": (False, False),
            "ml": (False, False),
            "governance": (False, False),
        }


def test_the_tables_view_describes_owner_size_freshness_and_retention(
    catalogued: Path, built_lake
) -> None:
    with reader(catalogued) as con:
        rows = {
            row["name"]: row
            for row in con.sql("SELECT * FROM lakehouse.tables").pl().iter_rows(named=True)
        }
    assert set(rows) == {spec.qualified_name for spec in tables.ALL_TABLES}
    facts = rows["gold.fact_sales"]
    assert facts["owner"] == tables.GOLD_FACT_SALES.owner
    assert facts["partitions"] == 5 and facts["retention"] == "5 years"
    assert facts["rows"] == built_lake.store.scan(tables.GOLD_FACT_SALES).collect().height
    assert facts["bytes"] > 0 and "layer=gold" in facts["tags"]
    materialized = materialized_at(built_lake.instance)
    assert facts["last_materialized"] == materialized["gold.fact_sales"]
    assert rows["bronze.app_events"]["retention"] == "90 days"
    assert rows["quarantine.silver.orders"]["retention"] == "30 days"
    assert rows["silver.customers"]["partitions"] is None
    assert rows["quality.alerts"]["last_materialized"] is None  # not an asset


def test_a_reader_keeps_its_catalog_across_a_rebuild(catalogued: Path, tmp_path: Path) -> None:
    root = private_copy(catalogued, tmp_path)
    layout = DataLayout(root)
    store = LakeStore.local(layout.lake)
    old = reader(root)
    before = old.sql("SELECT partitions FROM lakehouse.tables WHERE name = 'gold.daily_summary'")
    assert before.fetchall() == [(5,)]
    # Drop a partition (as retention does) and rebuild while the reader holds the old file.
    assert store.retire(tables.GOLD_DAILY_SUMMARY, FIRST_DAY) is not None
    refresh_catalog(layout)
    still = old.sql("SELECT partitions FROM lakehouse.tables WHERE name = 'gold.daily_summary'")
    assert still.fetchall() == [(5,)], "the open reader still sees the catalog it opened"
    assert old.sql("SELECT count(*) FROM gold.dim_customer").fetchall()[0][0] > 0
    old.close()
    with reader(root) as new:
        after = new.sql("SELECT partitions FROM lakehouse.tables WHERE name = 'gold.daily_summary'")
        assert after.fetchall() == [(4,)]
    leftovers = [p.name for p in layout.lake.iterdir() if p.name.startswith(".catalog")]
    assert leftovers == []


def cli(root: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    if stdin is None:
        return run(list(args), root)
    return subprocess.run(
        [str(Path(sys.executable).parent / "lakehouse"), *args],
        env={**os.environ, "LAKEHOUSE_DATA_DIR": str(root)},
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_lakehouse_sql_formats_and_errors(catalogued: Path, tmp_path: Path) -> None:
    query = "SELECT summary_date, orders FROM gold.daily_summary ORDER BY summary_date"
    table = cli(catalogued, "sql", query)
    assert table.returncode == 0, table.stderr
    assert "summary_date" in table.stdout and "rows" in table.stdout
    csv = cli(catalogued, "sql", query, "--format", "csv")
    lines = csv.stdout.strip().splitlines()
    assert lines[0] == "summary_date,orders" and len(lines) == 6
    assert lines[1].startswith(FIRST_DAY)
    as_json = json.loads(cli(catalogued, "sql", query, "--format", "json").stdout)
    assert [sorted(row) for row in as_json] == [["orders", "summary_date"]] * 5
    out = tmp_path / "daily.parquet"
    written = cli(catalogued, "sql", query, "--format", "parquet", "--out", str(out))
    assert written.returncode == 0, written.stderr
    assert pl.read_parquet(out).height == 5
    piped = cli(catalogued, "sql", "--format", "csv", stdin="SELECT 41 + 1 AS answer")
    assert piped.stdout.splitlines() == ["answer", "42"]
    bad = cli(catalogued, "sql", "SELEC oops FROM gold.fact_sales")
    assert bad.returncode == 1
    assert "Parser Error" in bad.stderr and "Traceback" not in bad.stderr
    missing = cli(catalogued, "sql", "SELECT * FROM gold.nope")
    assert missing.returncode == 1 and "Table with name nope does not exist" in missing.stderr
    needs_out = cli(catalogued, "sql", query, "--format", "parquet")
    assert needs_out.returncode == 1 and "--out" in needs_out.stderr
    listed = cli(catalogued, "tables")
    assert listed.returncode == 0 and "gold.fact_sales" in listed.stdout
    assert "5 years" in listed.stdout


def test_the_notebook_api_prunes_partitions_and_queries_the_catalog(
    catalogued: Path, tmp_path: Path
) -> None:
    lake = Lake(private_copy(catalogued, tmp_path))
    store = lake.store
    days = store.partition_keys(tables.SILVER_APP_EVENTS)
    window = lake.scan("silver.app_events", start=days[1], end=days[2]).collect()
    assert sorted(window["event_date"].unique().cast(pl.String).to_list()) == days[1:3]
    # Pruning: a broken file outside the range is never opened.
    broken = Path(store.files(tables.SILVER_APP_EVENTS, [days[-1]])[0])
    broken.write_bytes(b"not parquet")
    assert lake.scan("silver.app_events", start=days[1], end=days[2]).collect().height == (
        window.height
    )
    with pytest.raises(Exception, match="parquet"):
        lake.scan("silver.app_events").collect()
    revenue = lake.sql("SELECT sum(revenue_usd) AS revenue FROM gold.daily_summary")
    assert isinstance(revenue, pl.DataFrame) and revenue["revenue"].item() > 0
    assert "gold.fact_sales" in lake.tables()["name"].to_list()
    with pytest.raises(KeyError, match="unknown table"):
        lake.scan("gold.nope")


def test_the_interactive_prompt_runs_statements_and_survives_errors(catalogued: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    typed = io.StringIO("SELECT count(*) AS n\n  FROM gold.daily_summary;\nSELEC 1;\n.quit\n")
    with Lake(catalogued).connect() as con:
        interactive(con, "table", typed, out, err)
    assert "lakehouse> " in out.getvalue() and "...> " in out.getvalue()
    assert re.search(r"│\s*5\s*│", out.getvalue()), out.getvalue()
    assert "Parser Error" in err.getvalue()


def test_the_past_reads_back_through_sql_and_the_notebook_api(
    catalogued: Path, tmp_path: Path
) -> None:
    root = private_copy(catalogued, tmp_path)
    lake = Lake(root)
    summary = tables.GOLD_DAILY_SUMMARY
    before = lake.sql("SELECT count(*) AS n FROM gold.daily_summary")["n"].item()
    version = lake.store.delta_table(summary).version()
    time.sleep(1.1)
    moment = dt.datetime.now(dt.UTC)
    time.sleep(1.1)
    assert lake.store.retire(summary, FIRST_DAY) is not None
    refresh_catalog(DataLayout(root))
    assert lake.sql("SELECT count(*) AS n FROM gold.daily_summary")["n"].item() == before - 1
    query = "SELECT count(*) AS n FROM gold.daily_summary"
    past = cli(root, "sql", "--as-of", moment.isoformat(), "--format", "csv", query)
    assert past.returncode == 0, past.stderr
    assert past.stdout.splitlines() == ["n", str(before)]
    assert lake.sql(query, as_of=moment)["n"].item() == before
    first = lake.scan("gold.daily_summary", FIRST_DAY, FIRST_DAY, version=version).collect()
    assert first.height == 1
    assert lake.scan("gold.daily_summary", FIRST_DAY, FIRST_DAY).collect().height == 0
    bad = cli(root, "sql", "--as-of", "last tuesday", query)
    assert bad.returncode == 2 and "not an ISO date or time" in bad.stderr


def test_a_column_added_to_a_declaration_reads_null_in_old_partitions(
    catalogued: Path, tmp_path: Path
) -> None:
    """Schema evolution on an existing lake: no old partition is rewritten; the catalog,
    Polars and a pandera model that allows NULL read old rows with the new column NULL."""
    root = private_copy(catalogued, tmp_path)
    store = LakeStore.local(root / "lake")
    old = tables.GOLD_DAILY_SUMMARY
    wider = dataclasses.replace(old, schema={**old.schema, "promo_code": pl.String()})
    old_files = set(store.files(old))
    new_day = (dt.date.fromisoformat(LAST_DAY) + dt.timedelta(days=1)).isoformat()
    row = store.scan(old, [LAST_DAY]).drop(old.partition_column).collect()
    store.publish(wider, new_day, row.with_columns(promo_code=pl.lit("BLACKFRIDAY")))
    assert old_files <= set(store.files(wider)), "old partitions were rewritten"
    specs = [
        wider if spec.qualified_name == old.qualified_name else spec for spec in tables.ALL_TABLES
    ]
    build_catalog(store, root / "lake", specs=specs)
    with reader(root) as con:
        codes = con.sql(
            "SELECT promo_code, count(*) FROM gold.daily_summary GROUP BY ALL ORDER BY 1"
        ).fetchall()
    assert codes == [("BLACKFRIDAY", 1), (None, 5)]
    frame = store.scan(wider).collect()
    assert frame["promo_code"].null_count() == 5 and frame.height == 6
    model = pa.DataFrameSchema({"promo_code": pa.Column(pl.String, nullable=True)})
    model.validate(store.scan(wider, [FIRST_DAY]).collect())
    assert pl.scan_delta(store.table_uri(wider)).collect()["promo_code"].null_count() == 5


def test_the_duckdb_1x_cli_opens_the_catalog_read_only(catalogued: Path) -> None:
    """The README's `duckdb -readonly data/lake/catalog.duckdb`, with the CLI from PyPI (1.x)."""
    cli_path = Path(sys.executable).parent / "duckdb"
    version = subprocess.run([str(cli_path), "--version"], capture_output=True, text=True)
    assert version.stdout.startswith("v1."), version.stdout
    query = (
        "SELECT count(*) FROM gold.fact_sales; "
        "SELECT rows FROM lakehouse.tables WHERE name = 'gold.fact_sales';"
    )
    shown = subprocess.run(
        [
            str(cli_path),
            "-readonly",
            "-csv",
            "-noheader",
            str(catalog_path(catalogued / "lake")),
            "-c",
            query,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    count, rows = shown.stdout.split()
    store = LakeStore.local(catalogued / "lake")
    assert (
        int(count)
        == int(rows)
        == store.scan(tables.GOLD_FACT_SALES).select(pl.len()).collect().item()
        > 0
    )
