"""The asset graph on a generated sample, materialized by real Dagster runs."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
from deltalake import DeltaTable

from lakehouse import tables
from lakehouse.money import MONEY
from lakehouse.partitions import late_arrival_keys
from lakehouse_tests.conftest import (
    ALL_ASSETS,
    FIRST_DAY,
    LAST_DAY,
    SAMPLE,
    BuiltLake,
    range_tags,
    resources_for,
)

DAYS = [SAMPLE.date(i).isoformat() for i in range(SAMPLE.days)]


def read(lake: Path, spec: tables.TableSpec) -> pl.DataFrame:
    """The table's current version, as any Delta reader sees it."""
    return pl.scan_delta(str(lake.joinpath(*spec.path))).collect()


def test_every_asset_materializes_every_partition_in_one_run(built_lake: BuiltLake) -> None:
    assert built_lake.result.success
    # Every asset's latest materialization comes from the one run that built the lake (other
    # tests run their own jobs, such as the freshness checks, on this instance).
    built_by = built_lake.result.run_id
    for asset in ALL_ASSETS:
        key = asset.key
        assert built_lake.instance.get_latest_materialization_event(key).run_id == built_by, key
        if asset.partitions_def is not None:
            assert built_lake.instance.get_materialized_partitions(key) == set(DAYS), key


def partition_totals(built_lake: BuiltLake, node: str) -> dict[str, int]:
    """Per-partition metadata of one asset in the range run, added up."""
    totals: dict[str, int] = {}
    for event in built_lake.result.asset_materializations_for_node(node):
        for name, value in event.metadata.items():
            if isinstance(value.value, int) and not isinstance(value.value, bool):
                totals[name] = totals.get(name, 0) + value.value
    return totals


def test_each_partition_records_its_own_rows_bytes_files_path(built_lake: BuiltLake) -> None:
    events = built_lake.result.asset_materializations_for_node("silver__app_events")
    assert sorted(event.partition for event in events) == DAYS
    silver = read(built_lake.lake, tables.SILVER_APP_EVENTS)
    for event in events:
        metadata = event.metadata
        rows = silver.filter(pl.col("event_date") == dt.date.fromisoformat(event.partition))
        assert metadata["dagster/row_count"].value == rows.height > 0
        assert metadata["bytes"].value > 0 and metadata["files"].value == 1
        assert metadata["path"].value.endswith(f"silver/app_events/event_date={event.partition}")
        assert metadata["partition_key"].value == event.partition
        assert metadata["balanced"].value is True
        columns = {column.name for column in metadata["dagster/column_schema"].schema.columns}
        assert {"event_id", "event_ts", "event_date"} <= columns


def test_every_table_is_a_delta_table_duckdb_and_polars_read(built_lake: BuiltLake) -> None:
    for spec in (*tables.BRONZE_TABLES, *tables.SILVER_TABLES, *tables.GOLD_TABLES):
        folder = str(built_lake.lake.joinpath(*spec.path))
        table = DeltaTable(folder)
        expected_partitioning = [spec.partition_column] if spec.partition_column else []
        assert table.metadata().partition_columns == expected_partitioning
        # DuckDB 2.0 has no delta extension here: it reads the files the log lists.
        count = duckdb.execute(
            "SELECT count(*) FROM read_parquet(?, hive_partitioning = true)",
            [table.file_uris()],
        ).fetchone()[0]
        frame = pl.scan_delta(folder).collect()
        assert count == frame.height > 0, spec.qualified_name
        assert set(frame.columns) == set(spec.read_schema), spec.qualified_name


def test_bronze_rows_plus_quarantine_equal_landing_lines(built_lake: BuiltLake) -> None:
    sources = built_lake.manifest["sources"]
    lake = built_lake.lake
    events = read(lake, tables.BRONZE_APP_EVENTS)
    rejected = read(lake, tables.BRONZE_QUARANTINE["app_events"])
    assert events.height + rejected.height == sources["app_events"]["lines"]
    reasons = rejected["_reason"].to_list()
    assert sum(r == "invalid JSON" for r in reasons) == sources["app_events"]["malformed_lines"]
    assert (
        sum(r.startswith("latency_ms:") for r in reasons)
        == sources["app_events"]["wrong_type_lines"]
    )
    assert rejected["_source_line"].min() >= 1 and rejected["_source_file"].null_count() == 0
    orders = read(lake, tables.BRONZE_ORDERS)
    order_rejects = read(lake, tables.BRONZE_QUARANTINE["orders"])
    assert orders.height + order_rejects.height == sources["orders"]["rows"]
    assert order_rejects.height == (
        sources["orders"]["malformed_rows"] + sources["orders"]["wrong_type_rows"]
    )
    extra = orders.filter(pl.col("_extra").is_not_null())
    assert extra.height > 0 and extra["_extra"].str.contains("coupon_code").all()


def test_silver_app_events_row_accounting_matches_the_generator(built_lake: BuiltLake) -> None:
    generated = built_lake.manifest["sources"]["app_events"]
    totals = partition_totals(built_lake, "silver__app_events")
    rows_in, rows_out = totals["rows_in"], totals["rows_out"]
    duplicates, quarantined = totals["duplicates"], totals["quarantined"]
    assert rows_in == rows_out + duplicates + quarantined
    assert (
        rows_in == generated["lines"] - generated["malformed_lines"] - generated["wrong_type_lines"]
    )
    assert duplicates == generated["duplicate_events"]
    assert quarantined == generated["null_keys"] + generated["unknown_event_types"]
    assert rows_out == read(built_lake.lake, tables.SILVER_APP_EVENTS).height
    rejected = read(built_lake.lake, tables.SILVER_APP_EVENTS_QUARANTINE)
    assert set(rejected["_rule"]) == {"not_null", "allowed_values"}
    assert rejected["_reason"].null_count() == 0


def test_silver_orders_row_accounting_matches_the_generator(built_lake: BuiltLake) -> None:
    generated = built_lake.manifest["sources"]["orders"]
    totals = partition_totals(built_lake, "silver__orders")
    rows_in = totals["rows_in"]
    assert rows_in == generated["rows"] - generated["malformed_rows"] - generated["wrong_type_rows"]
    assert totals["duplicates"] == generated["updates"]
    assert totals["quarantined"] == (
        generated["negative_quantity"] + generated["unknown_currency"] + generated["null_keys"]
    )
    assert rows_in == sum(totals[name] for name in ("rows_out", "duplicates", "quarantined"))
    silver = read(built_lake.lake, tables.SILVER_ORDERS)
    assert silver["order_id"].n_unique() == silver.height == totals["rows_out"]
    assert (silver["amount_usd"] > 0).all() and (silver["quantity"] > 0).all()


def test_silver_amounts_agree_with_duckdb_on_every_order(built_lake: BuiltLake) -> None:
    """DuckDB recomputes amount_usd from the lake's own prices and rates (its DECIMAL round is
    half away from zero): not one order differs, not even by a cent."""
    spec = tables.SILVER_ORDERS
    silver = read(built_lake.lake, spec)
    assert silver.select("unit_price", "amount", "amount_usd").schema == pl.Schema(
        {"unit_price": MONEY, "amount": MONEY, "amount_usd": MONEY}
    )
    with duckdb.connect() as con:
        con.register(
            "orders", silver.select("quantity", "unit_price", "usd_per_unit", "amount_usd")
        )
        differ, total = con.sql(
            """
            SELECT count(*) FILTER (WHERE amount_usd <> round(
                       CAST(quantity AS DECIMAL(18, 2)) * unit_price * usd_per_unit, 2)),
                   count(*)
            FROM orders
            """
        ).fetchall()[0]
    assert total == silver.height > 0
    assert differ == 0


def test_latest_order_version_wins(built_lake: BuiltLake) -> None:
    bronze = read(built_lake.lake, tables.BRONZE_ORDERS)
    newest = (
        bronze.filter(pl.col("order_id").is_not_null())
        .sort("updated_at")
        .group_by("order_id")
        .agg(pl.col("status").last(), versions=pl.len())
        .filter(pl.col("versions") > 1)
    )
    silver = read(built_lake.lake, tables.SILVER_ORDERS).select("order_id", "status", "versions")
    joined = newest.join(silver, on="order_id", suffix="_silver")
    assert joined.height > 0
    assert (joined["status"] == joined["status_silver"]).all()
    assert (joined["versions"] == joined["versions_silver"]).all()


def test_late_events_land_in_their_event_date_partition(built_lake: BuiltLake) -> None:
    silver = read(built_lake.lake, tables.SILVER_APP_EVENTS)
    late = silver.filter(pl.col("is_late"))
    assert late.height == built_lake.manifest["sources"]["app_events"]["late_events"]
    assert (late["event_date"] < late["arrival_date"]).all()
    assert (silver["event_date"] == silver["event_ts"].dt.date()).all()
    assert ((late["arrival_date"] - late["event_date"]).dt.total_days() <= 3).all()
    assert silver["event_id"].n_unique() == silver.height


def test_customers_apply_cdc_deletes(built_lake: BuiltLake) -> None:
    generated = built_lake.manifest["sources"]["customers"]
    silver = read(built_lake.lake, tables.SILVER_CUSTOMERS)
    assert silver.height == generated["creates"] - generated["deletes"]
    assert silver["customer_id"].n_unique() == silver.height
    cdc = read(built_lake.lake, tables.BRONZE_CUSTOMERS_CDC)
    deleted = cdc.filter(pl.col("op") == "d")["customer_id"].drop_nulls()
    assert deleted.len() == generated["deletes"]
    assert not silver["customer_id"].is_in(deleted.implode()).any()


def test_dim_customer_is_a_type_2_history(built_lake: BuiltLake) -> None:
    dim = read(built_lake.lake, tables.GOLD_DIM_CUSTOMER).sort("customer_id", "valid_from")
    generated = built_lake.manifest["sources"]["customers"]
    assert dim.height == generated["creates"] + generated["updates"]
    assert dim["customer_sk"].n_unique() == dim.height
    # Versions of one customer chain without gaps: each valid_to is the next valid_from.
    chained = dim.with_columns(next_from=pl.col("valid_from").shift(-1).over("customer_id")).filter(
        pl.col("next_from").is_not_null()
    )
    assert chained.height > 0
    assert (chained["valid_to"] == chained["next_from"]).all()
    assert (
        dim.filter(pl.col("valid_to").is_not_null())["valid_to"]
        > dim.filter(pl.col("valid_to").is_not_null())["valid_from"]
    ).all()
    current = dim.filter(pl.col("is_current"))
    assert current["customer_id"].n_unique() == current.height
    assert current.height == generated["creates"] - generated["deletes"]
    assert dim.filter(pl.col("is_deleted")).height == generated["deletes"]
    updated = dim.group_by("customer_id").agg(n=pl.len(), segments=pl.col("segment").n_unique())
    assert updated.filter(pl.col("n") > 1).height > 0


def test_fact_sales_keys_point_at_the_version_valid_at_order_time(built_lake: BuiltLake) -> None:
    facts = read(built_lake.lake, tables.GOLD_FACT_SALES)
    dim = read(built_lake.lake, tables.GOLD_DIM_CUSTOMER)
    joined = facts.join(dim, on="customer_sk", how="left", suffix="_dim")
    assert joined["customer_id_dim"].null_count() == 0
    assert (joined["customer_id"] == joined["customer_id_dim"]).all()
    in_window = (joined["valid_from"] <= joined["order_ts"]) & (
        joined["valid_to"].is_null() | (joined["order_ts"] < joined["valid_to"])
    )
    first_version = joined["order_ts"] < joined["valid_from"]
    assert (in_window | first_version).all()
    generated = built_lake.manifest["sources"]["orders"]
    rejected = read(built_lake.lake, tables.GOLD_FACT_SALES_QUARANTINE)
    assert sorted(rejected["_rule"].to_list()) == sorted(
        ["known_customer"] * generated["unknown_customer"]
        + ["known_product"] * generated["unknown_product"]
    )


def test_daily_summary_agrees_with_fact_sales(built_lake: BuiltLake) -> None:
    summary = read(built_lake.lake, tables.GOLD_DAILY_SUMMARY).sort("summary_date")
    assert summary.height == len(DAYS)
    assert summary.schema["revenue_usd"] == summary.schema["avg_order_value_usd"] == MONEY
    facts = read(built_lake.lake, tables.GOLD_FACT_SALES)
    revenue = (
        facts.filter(pl.col("is_revenue"))
        .group_by("order_date")
        .agg(expected=pl.col("amount_usd").sum())
    )
    joined = summary.join(revenue, left_on="summary_date", right_on="order_date")
    assert joined.height == len(DAYS)
    # Money is exact: revenue is the sum of the orders' cents, to the cent.
    assert (joined["revenue_usd"] == joined["expected"]).all()
    assert (summary["conversion_rate"].is_between(0, 1)).all()
    assert summary["new_customers"][0] > summary["new_customers"][1] > 0


def test_event_metrics_and_sessions_are_consistent(built_lake: BuiltLake) -> None:
    metrics = read(built_lake.lake, tables.GOLD_EVENT_METRICS_HOURLY)
    silver = read(built_lake.lake, tables.SILVER_APP_EVENTS)
    assert metrics["events"].sum() == silver.height
    assert (metrics["latency_p50_ms"] <= metrics["latency_p95_ms"]).all()
    assert metrics["error_rate"].is_between(0, 1).all()
    sessions = read(built_lake.lake, tables.SILVER_SESSIONS)
    assert sessions["session_id"].n_unique() == sessions.height
    assert (sessions["session_start"].dt.date() == sessions["session_date"]).all()
    in_range = silver.filter(
        pl.col("event_date").is_between(
            dt.date.fromisoformat(FIRST_DAY), dt.date.fromisoformat(LAST_DAY)
        )
    )
    assert sessions["events"].sum() == in_range.height


def test_user_segments_cover_every_active_user(built_lake: BuiltLake) -> None:
    segments = read(built_lake.lake, tables.GOLD_USER_SEGMENTS)
    sessions = read(built_lake.lake, tables.SILVER_SESSIONS)
    assert set(sessions["user_id"]) <= set(segments["user_id"])
    assert segments["engagement_score"].is_between(0, 100).all()
    assert set(segments["segment"]) <= {"at_risk", "champion", "loyal", "customer", "browser"}


def test_rematerializing_is_idempotent(tmp_path: Path, sample_landing: Path) -> None:
    shutil.copytree(sample_landing, tmp_path / "landing")
    days = (DAYS[1], DAYS[2])
    with dg.instance_for_test() as instance:

        def run() -> dict[str, pl.DataFrame]:
            result = dg.materialize(
                ALL_ASSETS,
                resources=resources_for(tmp_path),
                instance=instance,
                tags=range_tags(*days),
            )
            assert result.success
            lake = tmp_path / "lake"
            return {
                spec.qualified_name: read(lake, spec).drop("_ingested_at", "as_of", strict=False)
                for spec in (*tables.BRONZE_TABLES, *tables.SILVER_TABLES, *tables.GOLD_TABLES)
            }

        first, second = run(), run()
    for name, frame in first.items():
        assert frame.height > 0, name
        assert frame.equals(second[name]), name
    silver = DeltaTable(str(tmp_path / "lake" / "silver" / "app_events"))
    files = sorted(Path(uri).parent.name for uri in silver.file_uris())
    assert files == [f"event_date={day}" for day in days]
    assert late_arrival_keys(days[0])[-1] > days[-1]
