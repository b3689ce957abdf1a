"""Quality: every model passes on real data and fails on crafted bad partitions; an ERROR check
keeps the old partition and blocks downstream; WARN publishes; the history records it all."""

from __future__ import annotations

import datetime as dt
import http.server
import importlib.util
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from lakehouse import partitions, tables
from lakehouse.defs.resources import AlertWebhookResource, LakeResource
from lakehouse.defs.sensors import quality_alert_sensor
from lakehouse.defs.silver import _daily_cleaned_asset
from lakehouse.money import MONEY
from lakehouse.quality import history
from lakehouse.quality.evaluate import QUARANTINE, RULES, SCHEMA, audit
from lakehouse.quality.models import CONTRACTS
from lakehouse.storage import LakeStore
from lakehouse.transforms.orders import clean_orders
from lakehouse.transforms.rules import Cleaned
from lakehouse_tests.conftest import (
    BRONZE_ASSETS,
    FIRST_DAY,
    GOLD_ASSETS,
    PARTITIONING,
    BuiltLake,
    asset_named,
    copy_landing,
    resources_for,
)

SPECS = {spec.qualified_name: spec for spec in (*tables.SILVER_TABLES, *tables.GOLD_TABLES)}

# For each table: a change that breaks its schema (ERROR) and one that breaks a rule (WARN).
BREAKS: dict[str, tuple[Callable[[pl.DataFrame], pl.DataFrame], Callable]] = {
    "silver.app_events": (
        lambda f: f.with_columns(event_id=pl.lit("same")),
        lambda f: f.with_columns(event_type=pl.lit("teleport")),
    ),
    "silver.orders": (
        lambda f: f.with_columns(order_id=pl.lit("same")),
        lambda f: f.with_columns(amount=(pl.col("amount") + 5).cast(MONEY)),
    ),
    "silver.customers": (
        lambda f: f.with_columns(customer_id=pl.lit(None, pl.String)),
        lambda f: f.with_columns(country=pl.lit("USA")),
    ),
    "silver.products": (
        lambda f: f.with_columns(product_id=pl.lit("same")),
        lambda f: f.with_columns(list_price=pl.lit(-1).cast(MONEY)),
    ),
    "silver.sessions": (
        lambda f: f.with_columns(session_id=pl.lit("same")),
        lambda f: f.with_columns(session_end=pl.col("session_start") - pl.duration(seconds=1)),
    ),
    "gold.fact_sales": (
        lambda f: f.with_columns(customer_sk=pl.lit(None, pl.Int64)),
        lambda f: f.with_columns(quantity=pl.lit(0, pl.Int64)),
    ),
    "gold.dim_customer": (
        lambda f: f.with_columns(customer_sk=pl.lit(1, pl.Int64)),
        lambda f: f.with_columns(valid_to=pl.col("valid_from")),
    ),
    "gold.daily_summary": (
        lambda f: f.with_columns(orders=pl.col("orders").cast(pl.Float64)),
        lambda f: f.with_columns(conversion_rate=pl.lit(1.5)),
    ),
    "gold.event_metrics_hourly": (
        lambda f: f.with_columns(hour=pl.col("hour").min()),
        lambda f: f.with_columns(error_rate=pl.lit(2.0)),
    ),
    "gold.user_segments": (
        lambda f: f.drop("segment"),
        lambda f: f.with_columns(engagement_score=pl.lit(101.0)),
    ),
    "silver.reviews": (
        lambda f: f.with_columns(review_id=pl.lit("same")),
        lambda f: f.with_columns(body=pl.lit("write to me at someone@example.com")),
    ),
    "gold.review_sentiment": (
        lambda f: f.with_columns(sentiment_score=pl.lit(None, pl.Float64)),
        lambda f: f.with_columns(sentiment_label=pl.lit("ecstatic")),
    ),
    "gold.product_sentiment_daily": (
        lambda f: f.with_columns(product_id=pl.lit("same")),
        lambda f: f.with_columns(share_negative=pl.lit(1.5)),
    ),
}


def published_sample(built: BuiltLake, name: str) -> pl.DataFrame:
    spec = SPECS[name]
    keys = built.store.partition_keys(spec)[1:2] if spec.is_partitioned else None
    frame = built.store.scan(spec, keys).collect()
    return frame.drop(spec.partition_column) if spec.partition_column else frame


@pytest.mark.parametrize("name", sorted(SPECS))
def test_each_model_passes_good_data_and_fails_crafted_bad_data(
    built_lake: BuiltLake, name: str
) -> None:
    good, model = published_sample(built_lake, name), SPECS[name].model
    assert good.height > 0
    assert all(outcome.passed for outcome in audit(model, good)), name
    break_schema, break_rule = BREAKS[name]
    schema, rules = audit(model, break_schema(good))
    assert schema.check == SCHEMA and not schema.passed and schema.severity == "ERROR"
    assert schema.rows_failed > 0 and schema.by_rule
    schema_ok, rules_bad = audit(model, break_rule(good))
    assert schema_ok.passed and rules_bad.check == RULES
    assert not rules_bad.passed and rules_bad.severity == "WARN"
    assert 0 < rules_bad.failure_rate <= 1
    metadata = rules_bad.metadata()
    assert metadata["rows_failed"] == rules_bad.rows_failed
    assert "| rule | column | rows |" in metadata["failing_rules"]
    assert metadata["failing_rows_sample"].count("\n") <= 22  # header, rule, 20 rows


def test_landing_contracts_accept_bronze_rows(built_lake: BuiltLake) -> None:
    from lakehouse.landing.contract import SOURCES

    for source, model in CONTRACTS.items():
        spec = next(t for t in tables.BRONZE_TABLES if t.name == SOURCES[source].bronze_table)
        rows = built_lake.store.scan(spec).collect().select(SOURCES[source].field_names)
        assert all(o.passed for o in audit(model, rows)), source
        broken = rows.with_columns(pl.col(rows.columns[0]).cast(pl.Categorical))
        assert not audit(model, broken)[0].passed


def test_checks_are_declared_for_every_silver_and_gold_asset() -> None:
    from lakehouse.definitions import defs

    graph = defs().resolve_asset_graph()
    for spec in (*tables.SILVER_TABLES, *tables.GOLD_TABLES):
        key = dg.AssetKey(list(spec.path))
        names = {check.name for check in graph.get_check_keys_for_assets({key})}
        assert {SCHEMA, RULES} <= names, spec.qualified_name
    orders = dg.AssetKey(["silver", "orders"])
    assert {c.name for c in graph.get_check_keys_for_assets({orders})} == {
        SCHEMA,
        RULES,
        QUARANTINE,
    }


def duplicate_ids(bronze, day, first, late, now) -> Cleaned:
    """A transform with a bug: two orders end up with the same id."""
    cleaned = clean_orders(bronze, day, first, late, now)
    broken = cleaned.clean.with_columns(
        order_id=pl.when(pl.int_range(pl.len()) < 2).then(pl.lit("O-DUP")).otherwise("order_id")
    )
    return Cleaned(broken, cleaned.quarantined, cleaned.counts)


def wrong_amounts(bronze, day, first, late, now) -> Cleaned:
    """A softer bug: amounts no longer equal quantity x unit price."""
    cleaned = clean_orders(bronze, day, first, late, now)
    return Cleaned(
        cleaned.clean.with_columns(amount=pl.col("amount") + 1),
        cleaned.quarantined,
        cleaned.counts,
    )


def orders_asset(transform) -> dg.AssetsDefinition:
    return _daily_cleaned_asset(
        tables.SILVER_ORDERS,
        tables.SILVER_ORDERS_QUARANTINE,
        tables.BRONZE_ORDERS,
        partitions.LATE_ARRIVAL_MAPPING,
        partitions.late_arrival_keys,
        transform,
        PARTITIONING,
    )


@pytest.fixture
def orders_lake(tmp_path: Path, sample_landing: Path):
    """Bronze orders and silver orders for the first day, published and checked."""
    copy_landing(sample_landing, tmp_path)
    bronze = next(a for a in BRONZE_ASSETS if a.key.path == ["bronze", "orders"])
    with dg.instance_for_test() as instance:
        for key in partitions.late_arrival_keys(FIRST_DAY):
            dg.materialize(
                [bronze], partition_key=key, resources=resources_for(tmp_path), instance=instance
            )
        good = dg.materialize(
            [orders_asset(clean_orders)],
            partition_key=FIRST_DAY,
            resources=resources_for(tmp_path),
            instance=instance,
        )
        yield tmp_path, instance, good


def test_checks_pass_on_a_good_partition(orders_lake) -> None:
    _, _, good = orders_lake
    evaluations = {e.check_name: e for e in good.get_asset_check_evaluations()}
    assert set(evaluations) == {SCHEMA, RULES, QUARANTINE}
    assert all(e.passed and e.partition == FIRST_DAY for e in evaluations.values())
    assert evaluations[QUARANTINE].metadata["rows_failed"].value > 0  # the injected faults


def test_an_error_check_keeps_the_old_partition_and_blocks_downstream(orders_lake) -> None:
    root, instance, _ = orders_lake
    store = LakeStore.local(root / "lake")
    before = store.files(tables.SILVER_ORDERS, [FIRST_DAY])
    result = dg.materialize(
        [orders_asset(duplicate_ids), asset_named("gold", "fact_sales")],
        partition_key=FIRST_DAY,
        resources=resources_for(root),
        instance=instance,
        raise_on_error=False,
        selection=[
            tables.SILVER_ORDERS.path and dg.AssetKey(["silver", "orders"]),
            dg.AssetKey(["gold", "fact_sales"]),
        ],
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.cause.message
    assert "silver.orders partition " + FIRST_DAY + " was not published" in message
    assert "field_uniqueness on order_id: 2 rows" in message
    assert store.files(tables.SILVER_ORDERS, [FIRST_DAY]) == before
    assert not instance.get_materialized_partitions(dg.AssetKey(["gold", "fact_sales"]))
    schema = next(e for e in result.get_asset_check_evaluations() if e.check_name == SCHEMA)
    assert not schema.passed and schema.severity == dg.AssetCheckSeverity.ERROR
    assert schema.partition == FIRST_DAY
    assert schema.metadata["rows_failed"].value == 2
    assert "O-DUP" in schema.metadata["failing_rows_sample"].value
    history = store.scan(tables.QUALITY_CHECK_RESULTS).collect()
    failed = history.filter(~pl.col("passed") & (pl.col("table") == "silver.orders"))
    assert failed.select("table", "partition", "check", "rows_failed").rows() == [
        ("silver.orders", FIRST_DAY, SCHEMA, 2)
    ]
    assert failed["run_id"].item() == result.run_id


def test_a_warn_check_publishes_and_records(orders_lake) -> None:
    root, instance, _ = orders_lake
    store = LakeStore.local(root / "lake")
    before = store.files(tables.SILVER_ORDERS, [FIRST_DAY])
    result = dg.materialize(
        [orders_asset(wrong_amounts)],
        partition_key=FIRST_DAY,
        resources=resources_for(root),
        instance=instance,
    )
    assert result.success
    assert store.files(tables.SILVER_ORDERS, [FIRST_DAY]) != before
    rules = next(e for e in result.get_asset_check_evaluations() if e.check_name == RULES)
    assert not rules.passed and rules.severity == dg.AssetCheckSeverity.WARN
    assert "amount_is_quantity_times_price" in rules.metadata["failing_rules"].value


def test_a_range_run_stops_at_the_bad_partition_and_keeps_the_finished_ones(
    tmp_path: Path, sample_landing: Path
) -> None:
    copy_landing(sample_landing, tmp_path)
    bronze = next(a for a in BRONZE_ASSETS if a.key.path == ["bronze", "orders"])
    days = partitions.day_range(
        FIRST_DAY, (dt.date.fromisoformat(FIRST_DAY) + dt.timedelta(days=2)).isoformat()
    )
    bad_day = days[1]

    def bad_on_second_day(bronze_rows, day, first, late, now) -> Cleaned:
        transform = duplicate_ids if day.isoformat() == bad_day else clean_orders
        return transform(bronze_rows, day, first, late, now)

    with dg.instance_for_test() as instance:
        dg.materialize(
            [bronze],
            resources=resources_for(tmp_path),
            instance=instance,
            tags=partitions.range_tags(days[0], partitions.late_arrival_keys(days[-1])[-1]),
        )
        result = dg.materialize(
            [orders_asset(bad_on_second_day)],
            resources=resources_for(tmp_path),
            instance=instance,
            raise_on_error=False,
            tags=partitions.range_tags(days[0], days[-1]),
        )
        assert not result.success
        assert instance.get_materialized_partitions(dg.AssetKey(["silver", "orders"])) == {days[0]}
    evaluations = [
        (e.check_name, e.partition, e.passed) for e in result.get_asset_check_evaluations()
    ]
    # Dagster gets the failing partition's evaluation; the history keeps every evaluation.
    assert (SCHEMA, bad_day, False) in evaluations
    assert not any(passed for _, _, passed in evaluations)
    store = LakeStore.local(tmp_path / "lake")
    recorded = store.scan(tables.QUALITY_CHECK_RESULTS).filter(
        (pl.col("table") == "silver.orders") & (pl.col("check") == SCHEMA)
    )
    assert sorted(recorded.select("partition", "passed").collect().rows()) == [
        (days[0], True),
        (bad_day, False),
    ]
    assert store.partition_keys(tables.SILVER_ORDERS) == [days[0]]


class _Recorder(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Recorder.received.append((self.path, self.headers["Content-Type"], json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def webhook():
    """A real HTTP server on a free loopback port, recording the POSTs it receives."""
    _Recorder.received = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/quality", _Recorder.received
    server.shutdown()
    server.server_close()


def test_a_failed_error_check_reaches_the_webhook_once(orders_lake, webhook) -> None:
    root, instance, _ = orders_lake
    url, received = webhook
    dg.materialize(
        [orders_asset(duplicate_ids)],
        partition_key=FIRST_DAY,
        resources=resources_for(root),
        instance=instance,
        raise_on_error=False,
    )
    resources = {
        "lake": LakeResource(data_dir=str(root)),
        "alert_webhook": AlertWebhookResource(url=url),
    }
    context = dg.build_sensor_context(instance=instance, resources=resources)
    result = quality_alert_sensor(context)
    assert "alert(s) raised" in result.skip_message
    [(path, content_type, payload)] = [
        r for r in received if r[2]["alert"]["table"] == "silver.orders"
    ]
    assert path == "/hooks/quality" and content_type == "application/json"
    assert payload["alert"]["kind"] == "error_check_failed"
    assert payload["alert"]["day"] == FIRST_DAY
    alerts = LakeStore.local(root / "lake").scan(tables.QUALITY_ALERTS).collect()
    orders_alert = alerts.filter(pl.col("table") == "silver.orders")
    assert orders_alert["webhook_status"].to_list() == ["204"]
    # The cursor moved past these evaluations: the same failure does not alert twice.
    again = dg.build_sensor_context(instance=instance, resources=resources, cursor=context.cursor)
    count = len(received)
    assert quality_alert_sensor(again).skip_message == "no table below its quality threshold"
    assert len(received) == count


def test_a_score_below_threshold_alerts(tmp_path: Path, webhook) -> None:
    url, received = webhook
    store = LakeStore.local(tmp_path / "lake")
    now = dt.datetime.now(dt.UTC)
    history.record(
        store,
        [
            {
                "table": "silver.orders",
                "partition": "2026-11-05",
                "check": QUARANTINE,
                "severity": "WARN",
                "passed": False,
                "rows_checked": 1000,
                "rows_failed": 80,
                "evaluated_at": now,
                "run_id": "r1",
            },
            {
                "table": "silver.products",
                "partition": None,
                "check": RULES,
                "severity": "WARN",
                "passed": True,
                "rows_checked": 10,
                "rows_failed": 0,
                "evaluated_at": now,
                "run_id": "r1",
            },
        ],
    )
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance,
            resources={
                "lake": LakeResource(data_dir=str(tmp_path)),
                "alert_webhook": AlertWebhookResource(url=url),
            },
        )
        quality_alert_sensor(context)
    [(_, _, payload)] = received
    assert payload["alert"]["kind"] == "score_below_threshold"
    assert payload["alert"]["score"] == pytest.approx(0.92)
    assert payload["alert"]["threshold"] == 0.95


def test_every_gold_asset_has_a_freshness_check_and_stale_tables_fail(
    built_lake: BuiltLake,
) -> None:
    from lakehouse.defs.freshness import freshness_checks

    checks = freshness_checks(GOLD_ASSETS)
    checked = {key.asset_key for check in checks for key in check.check_keys}
    assert checked == {dg.AssetKey(list(spec.path)) for spec in tables.GOLD_TABLES}
    # The sample's days lie in the past: yesterday's partitions are missing, so the partitioned
    # gold tables are stale; the unpartitioned ones were just rebuilt and are fresh.
    from lakehouse_tests.conftest import ALL_ASSETS

    job = dg.define_asset_job("freshness", selection=dg.AssetSelection.checks(*checks))
    defs = dg.Definitions(
        assets=ALL_ASSETS,
        asset_checks=checks,
        jobs=[job],
        resources=resources_for(built_lake.root),
    )
    result = defs.resolve_job_def("freshness").execute_in_process(instance=built_lake.instance)
    outcome = {e.asset_key.path[-1]: e.passed for e in result.get_asset_check_evaluations()}
    assert outcome == {
        "fact_sales": False,
        "daily_summary": False,
        "event_metrics_hourly": False,
        "dim_customer": True,
        "user_segments": True,
        "review_sentiment": False,
        "product_sentiment_daily": False,
    }


def test_the_deadline_check_expects_the_last_whole_day_not_today(
    built_lake: BuiltLake, tmp_path: Path
) -> None:
    """Today is a partition while its files land in micro-batches: a lake with yesterday's
    partition and nothing of today yet is fresh, before and after 09:00."""
    from lakehouse.defs.freshness import expected_partition, partition_deadline_checks
    from lakehouse_tests.conftest import ALL_ASSETS

    utc = dt.UTC
    assert expected_partition(dt.datetime(2026, 12, 3, 9, 0, tzinfo=utc)) == "2026-12-02"
    assert expected_partition(dt.datetime(2026, 12, 3, 8, 59, tzinfo=utc)) == "2026-12-01"
    assert expected_partition(dt.datetime(2026, 1, 1, 23, 0, tzinfo=utc)) == "2025-12-31"

    now = dt.datetime.now(utc)
    wanted = expected_partition(now)
    hourly = dg.AssetKey(list(tables.GOLD_EVENT_METRICS_HOURLY.path))
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        # Yesterday's (whole day's) partition of one table recorded; today's of none.
        instance.report_runless_asset_event(dg.AssetMaterialization(hourly, partition=wanted))
        check = partition_deadline_checks([hourly, dg.AssetKey(list(tables.GOLD_FACT_SALES.path))])
        defs = dg.Definitions(
            assets=ALL_ASSETS,
            asset_checks=[check],
            jobs=[dg.define_asset_job("deadline", selection=dg.AssetSelection.checks(check))],
            resources=resources_for(built_lake.root),
        )
        result = defs.resolve_job_def("deadline").execute_in_process(instance=instance)
    evaluations = {e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations()}
    assert evaluations["event_metrics_hourly"].passed
    assert "dagster/fresh_until_timestamp" in evaluations["event_metrics_hourly"].metadata
    assert not evaluations["fact_sales"].passed
    assert evaluations["fact_sales"].metadata["expected_partition"].value == wanted


def lakehouse_cli(args: list[str], root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "lakehouse"), *args],
        env={**os.environ, "LAKEHOUSE_DATA_DIR": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_quality_command_reports_scores_trends_and_plots(
    built_lake: BuiltLake, tmp_path: Path
) -> None:
    text = lakehouse_cli(["quality", "--days", "3"], built_lake.root)
    assert text.returncode == 0, text.stderr
    assert "silver.orders" in text.stdout and "trend (last 3 days)" in text.stdout
    report = json.loads(lakehouse_cli(["quality", "--json"], built_lake.root).stdout)
    by_table = {row["table"]: row for row in report}
    assert set(by_table) >= {spec.qualified_name for spec in tables.SILVER_TABLES}
    orders = by_table["silver.orders"]
    assert orders["day"] == built_lake.store.partition_keys(tables.SILVER_ORDERS)[-1]
    assert 0.9 < orders["score"] < 1.0 and orders["status"] == "ok"
    assert len(orders["trend"]) == 5
    plot = tmp_path / "quality.png"
    drawn = lakehouse_cli(["quality", "--plot", str(plot)], built_lake.root)
    assert drawn.returncode == 0 and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_profile_command_and_its_starter_model(built_lake: BuiltLake, tmp_path: Path) -> None:
    model_file = tmp_path / "orders_model.py"
    result = lakehouse_cli(
        ["profile", "silver/orders", "--schema", str(model_file)], built_lake.root
    )
    assert result.returncode == 0, result.stderr
    rows = built_lake.store.scan(tables.SILVER_ORDERS).collect()
    assert f"silver.orders: {rows.height:,} rows" in result.stdout
    assert "status  (String)  nulls 0 (0.0%)  distinct" in result.stdout
    assert "top 'paid'" in result.stdout
    assert "amount_usd: pl.Decimal(precision=18, scale=2) = " in model_file.read_text()
    loader = importlib.util.spec_from_file_location("orders_model", model_file)
    module = importlib.util.module_from_spec(loader)
    sys.modules["orders_model"] = module
    loader.loader.exec_module(module)
    model = module.SilverOrders
    data = rows.drop("order_date")
    assert all(outcome.passed for outcome in audit(model, data))
    assert not audit(model, data.with_columns(status=pl.lit("lost")))[1].passed
    unknown = lakehouse_cli(["profile", "silver.nothing"], built_lake.root)
    assert unknown.returncode == 2 and "unknown table 'silver.nothing'" in unknown.stderr


def test_every_generated_fault_is_accounted_for_exactly(built_lake: BuiltLake) -> None:
    store, faults = built_lake.store, built_lake.manifest["sources"]

    def rejects(spec) -> pl.DataFrame:
        return store.scan(spec).collect()

    def by_reason(frame: pl.DataFrame, prefix: str) -> int:
        return frame.filter(pl.col("_reason").str.starts_with(prefix)).height

    def by_rule(frame: pl.DataFrame, rule: str, column: str) -> int:
        return frame.filter((pl.col("_rule") == rule) & (pl.col("_column") == column)).height

    bronze_events = rejects(tables.BRONZE_QUARANTINE["app_events"])
    bronze_orders = rejects(tables.BRONZE_QUARANTINE["orders"])
    bronze_cdc = rejects(tables.BRONZE_QUARANTINE["customers_cdc"])
    silver_events = rejects(tables.SILVER_APP_EVENTS_QUARANTINE)
    silver_orders = rejects(tables.SILVER_ORDERS_QUARANTINE)
    silver_customers = rejects(tables.SILVER_CUSTOMERS_QUARANTINE)
    gold_sales = rejects(tables.GOLD_FACT_SALES_QUARANTINE)
    events = store.scan(tables.SILVER_APP_EVENTS).collect()
    bronze_event_rows = store.scan(tables.BRONZE_APP_EVENTS).collect()
    orders_bronze = store.scan(tables.BRONZE_ORDERS).collect()
    dim = store.scan(tables.GOLD_DIM_CUSTOMER).collect()
    extra_day = built_lake.manifest["extra_column"]["date"]

    found = {
        ("app_events", "malformed_lines"): by_reason(bronze_events, "invalid JSON"),
        ("app_events", "wrong_type_lines"): by_reason(bronze_events, "latency_ms:"),
        ("app_events", "null_keys"): by_rule(silver_events, "not_null", "event_id"),
        ("app_events", "unknown_event_types"): by_rule(
            silver_events, "allowed_values", "event_type"
        ),
        ("app_events", "duplicate_events"): bronze_event_rows.height
        - silver_events.height
        - events.height,
        ("app_events", "late_events"): events.filter(pl.col("is_late")).height,
        ("orders", "malformed_rows"): by_reason(bronze_orders, "expected 9 fields"),
        ("orders", "wrong_type_rows"): by_reason(bronze_orders, "quantity:"),
        ("orders", "negative_quantity"): by_rule(silver_orders, "positive_quantity", "quantity"),
        ("orders", "unknown_currency"): by_rule(silver_orders, "known_currency", "currency"),
        ("orders", "null_keys"): by_rule(silver_orders, "not_null", "order_id"),
        ("orders", "unknown_customer"): by_rule(gold_sales, "known_customer", "customer_id"),
        ("orders", "unknown_product"): by_rule(gold_sales, "known_product", "product_id"),
        ("orders", "extra_column_rows"): sum(
            frame.filter(pl.col("_source_file").str.contains(extra_day)).height
            for frame in (orders_bronze, bronze_orders)
        ),
        ("customers", "malformed_lines"): by_reason(bronze_cdc, "invalid JSON"),
        ("customers", "null_keys"): by_rule(silver_customers, "not_null", "customer_id"),
        ("customers", "deletes"): dim.filter(pl.col("is_deleted")).height,
    }
    expected = {key: faults[key[0]][key[1]] for key in found}
    assert found == expected
    # The extra column's values were kept, not dropped: in `_extra` wherever a coupon was set.
    coupons = orders_bronze.filter(pl.col("_extra").is_not_null())["_extra"]
    assert coupons.len() > 0 and coupons.str.contains('"coupon_code":"FALL10"').all()
    assert all(value > 0 for value in found.values()), found
    # Nothing is quarantined that the generator did not break.
    injected = sum(
        found[key]
        for key in found
        if key[1] not in ("duplicate_events", "late_events", "extra_column_rows", "deletes")
    )
    quarantined = sum(
        frame.height
        for frame in (
            bronze_events,
            bronze_orders,
            bronze_cdc,
            silver_events,
            silver_orders,
            silver_customers,
            gold_sales,
        )
    )
    assert quarantined == injected
    # Every quarantined row says where it came from and why.
    for frame in (silver_events, silver_orders, silver_customers, gold_sales):
        assert (
            frame.select("_rule", "_reason", "_source_file", "_quarantined_at")
            .null_count()
            .sum_horizontal()
            .item()
            == 0
        )
