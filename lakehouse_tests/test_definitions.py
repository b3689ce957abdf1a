"""The code location loads, and its graph matches the checked-in snapshot, so rewiring shows."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from lakehouse import settings
from lakehouse.definitions import build_definitions, defs
from lakehouse.defs.publishing import asset_key
from lakehouse.partitions import backfill_policy, late_arrival_keys, session_keys
from lakehouse_tests.conftest import BRONZE_ASSETS, DAILY

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"


def graph_snapshot() -> dict:
    graph = defs().resolve_asset_graph()
    snapshot = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        snapshot[key.to_user_string()] = {
            "group": node.group_name,
            "owners": list(node.owners),
            "tags": dict(sorted(node.tags.items())),
            "partitioned": node.partitions_def is not None,
            "backfill_policy": str(node.backfill_policy.policy_type)
            if node.backfill_policy
            else None,
            "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
            "checks": sorted(check.name for check in graph.get_check_keys_for_assets({key})),
            "automation": node.automation_condition.get_label()
            if node.automation_condition
            else None,
        }
    return snapshot


def test_graph_matches_snapshot() -> None:
    current = graph_snapshot()
    if not SNAPSHOT.exists():  # pragma: no cover - written once, then reviewed in git
        SNAPSHOT.write_text(json.dumps(current, indent=2) + "\n")
        pytest.fail("snapshot written; review and commit it")
    assert current == json.loads(SNAPSHOT.read_text())


def test_keys_are_prefixed_and_grouped_by_layer() -> None:
    for name, node in graph_snapshot().items():
        layer = name.split("/")[0]
        assert layer in {"bronze", "silver", "gold", "ml"}
        assert node["group"] == layer and node["tags"]["layer"] == layer
        assert node["owners"] and node["backfill_policy"]


def test_partition_mapping_and_reads_agree() -> None:
    graph = defs().resolve_asset_graph()
    silver = graph.get(dg.AssetKey(["silver", "app_events"]))
    bronze_key = dg.AssetKey(["bronze", "app_events"])
    mapping = next(
        dep.partition_mapping
        for dep in silver.assets_def.specs_by_key[silver.key].deps
        if dep.asset_key == bronze_key
    )
    day = DAILY.get_partition_keys()[2]
    upstream = mapping.get_upstream_mapped_partitions_result_for_partitions(
        DAILY.empty_subset().with_partition_keys([day]), DAILY, DAILY
    ).partitions_subset.get_partition_keys()
    expected = [key for key in late_arrival_keys(day) if key in DAILY.get_partition_keys()]
    assert sorted(upstream) == expected
    assert session_keys(day)[0] < day < session_keys(day)[-1]


def test_start_date_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.START_DATE_ENV, "2025-06-01")
    graph = defs().resolve_asset_graph()
    starts = {graph.get(key).partitions_def for key in graph.get_all_asset_keys()} - {None}
    assert [daily.start.date().isoformat() for daily in starts] == ["2025-06-01"]
    monkeypatch.setenv(settings.START_DATE_ENV, "June first")
    with pytest.raises(ValueError, match="LAKEHOUSE_START_DATE='June first' is not a date"):
        defs()


#: Every setting the package reads, set to a value that fails if anything reads it.
BROKEN_SETTINGS = {
    settings.START_DATE_ENV: "June first",
    settings.PARTITIONS_PER_RUN_ENV: "0",
    settings.SENSOR_INTERVAL_ENV: "soon",
    settings.EXECUTOR_ENV: "threads",
    settings.SETTLE_SECONDS_ENV: "later",
    settings.DUCKDB_THREADS_ENV: "many",
    settings.RUN_START_TIMEOUT_ENV: "never",
    settings.DAGSTER_POSTGRES_URL_ENV: "mysql://nowhere/none",
    settings.DATA_DIR_ENV: "/dev/null/not-a-folder",
    settings.LAKE_URL_ENV: "nowhere://at-all",
}

#: Imports every module of the package under the broken settings, then sets good ones and
#: builds the definitions: they must show the settings of build time.
IMPORT_THEN_BUILD = """
import importlib, json, os, pkgutil
import lakehouse
names = sorted(m.name for m in pkgutil.walk_packages(lakehouse.__path__, "lakehouse."))
for name in names:
    importlib.import_module(name)
for name in BROKEN:
    del os.environ[name]
os.environ.update(GOOD)
from lakehouse.definitions import defs
loaded = defs()
graph = loaded.resolve_asset_graph()
nodes = [graph.get(key) for key in graph.get_all_asset_keys()]
partitioned = [node for node in nodes if node.partitions_def is not None]
print(json.dumps({
    "modules": names,
    "starts": sorted({node.partitions_def.start.date().isoformat() for node in partitioned}),
    "per_run": sorted({node.backfill_policy.max_partitions_per_run for node in partitioned}),
    "intervals": sorted({
        sensor.minimum_interval_seconds
        for sensor in loaded.sensors
        if sensor.name.startswith("landing_") or sensor.name == "lakehouse_automation"
    }),
    "executor": loaded.executor.name,
    "settle": loaded.resources["landing_watch"].settle_seconds,
}))
"""


def test_importing_reads_no_setting_and_building_reads_them(tmp_path: Path) -> None:
    """Every module imports under settings that would break anything reading them; the
    definitions built afterwards follow the settings of that moment, not of the import."""
    good = {
        settings.START_DATE_ENV: "2025-06-01",
        settings.PARTITIONS_PER_RUN_ENV: "7",
        settings.SENSOR_INTERVAL_ENV: "45",
        settings.EXECUTOR_ENV: "multiprocess",
        settings.SETTLE_SECONDS_ENV: "2.5",
        settings.DATA_DIR_ENV: str(tmp_path),
    }
    code = f"BROKEN = {sorted(BROKEN_SETTINGS)!r}\nGOOD = {good!r}\n{IMPORT_THEN_BUILD}"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **BROKEN_SETTINGS},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    built = json.loads(done.stdout.splitlines()[-1])
    assert {"lakehouse.cli", "lakehouse.definitions", "lakehouse.partitions"} <= set(
        built["modules"]
    )
    assert built["starts"] == ["2025-06-01"]
    assert built["per_run"] == [7]
    assert built["intervals"] == [45]
    assert built["executor"] == "multiprocess"
    assert built["settle"] == 2.5


def test_definitions_are_built_from_the_settings_they_are_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(settings.START_DATE_ENV, "June first")  # not read
    code = settings.CodeSettings(start_date=dt.date(2024, 1, 1), sensor_interval_seconds=90)
    built = build_definitions(code)
    landing = next(sensor for sensor in built.sensors if sensor.name == "landing_orders")
    assert landing.minimum_interval_seconds == 90
    orders = built.resolve_asset_graph().get(dg.AssetKey(["bronze", "orders"]))
    assert orders.partitions_def.start.date() == dt.date(2024, 1, 1)


def test_daily_schedule_requests_yesterdays_partition_of_every_asset() -> None:
    loaded = defs()
    schedule = loaded.resolve_schedule_def("daily_lakehouse_schedule")
    job = loaded.resolve_job_def("daily_lakehouse")
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=dt.datetime(2026, 11, 6, 2, 30, tzinfo=dt.UTC),
            repository_def=loaded.get_repository_def(),
        )
        [request] = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-11-05"
    assert schedule.cron_schedule == "30 2 * * *"
    graph = loaded.resolve_asset_graph()
    assert set(job.asset_layer.executable_asset_keys) == set(graph.get_all_asset_keys())


def test_steps_reading_landing_files_retry_with_backoff() -> None:
    for asset in BRONZE_ASSETS:
        policy = asset.op.retry_policy
        assert policy.max_retries == 3 and policy.backoff == dg.Backoff.EXPONENTIAL


def test_the_generated_instance_config_is_valid(tmp_path: Path) -> None:
    from lakehouse.settings import ensure_dagster_home

    home = ensure_dagster_home(tmp_path / "home")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        # Crashed, killed and never-started runs are retried (3 times); failed steps are not.
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 3
        assert not instance.run_retries_retry_on_asset_or_op_failure
        assert not instance.telemetry_enabled
        concurrency = instance.get_concurrency_config()
        assert concurrency.run_queue_config.max_concurrent_runs == 2
        assert concurrency.pool_config.default_pool_limit == 2
        # Dead runs are found and failed by the daemon, and their slots freed.
        assert type(instance.run_launcher).__name__ == "LocalRunLauncher"
        assert instance.run_launcher.supports_check_run_worker_health
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_max_resume_run_attempts == 0
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0


def test_the_instance_config_follows_the_settings_but_keeps_a_users_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakehouse.settings import DAGSTER_POSTGRES_URL_ENV, ensure_dagster_home

    config = ensure_dagster_home(tmp_path / "home") / "dagster.yaml"
    assert "postgres" not in config.read_text()
    monkeypatch.setenv(DAGSTER_POSTGRES_URL_ENV, "postgresql+psycopg2://u@127.0.0.1:1/d")
    ensure_dagster_home(tmp_path / "home")
    assert f"env: {DAGSTER_POSTGRES_URL_ENV}" in config.read_text()
    monkeypatch.setenv(DAGSTER_POSTGRES_URL_ENV, "postgresql://u@127.0.0.1:1/d")
    with pytest.raises(ValueError, match="must start with postgresql\\+psycopg2://"):
        ensure_dagster_home(tmp_path / "home")
    config.write_text("telemetry:\n  enabled: false\n")
    ensure_dagster_home(tmp_path / "home")
    assert config.read_text() == "telemetry:\n  enabled: false\n"


def test_each_asset_runs_in_its_layers_concurrency_pool() -> None:
    for asset in defs().resolve_asset_graph().assets_defs:
        if asset.keys:
            [group] = set(asset.group_names_by_key.values())
            assert asset.op.pool == group == asset.key.path[0], asset.key


def test_runs_execute_steps_in_process_unless_another_executor_is_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lakehouse.defs.executor import run_executor

    monkeypatch.delenv("LAKEHOUSE_EXECUTOR", raising=False)
    assert run_executor("in_process") is dg.in_process_executor
    assert defs().executor is dg.in_process_executor
    assert run_executor("multiprocess").name == "multiprocess"
    assert run_executor("celery").name == "celery"
    assert run_executor("k8s").name == "k8s"
    monkeypatch.setenv("LAKEHOUSE_EXECUTOR", "multiprocess")
    assert defs().executor.name == "multiprocess"
    monkeypatch.setenv("LAKEHOUSE_EXECUTOR", "threads")
    with pytest.raises(ValueError, match="LAKEHOUSE_EXECUTOR='threads'"):
        defs()


def test_backfills_are_one_run_unless_partitions_per_run_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LAKEHOUSE_PARTITIONS_PER_RUN", raising=False)
    assert backfill_policy(settings.partitions_per_run()) == dg.BackfillPolicy.single_run()
    monkeypatch.setenv("LAKEHOUSE_PARTITIONS_PER_RUN", "7")
    assert backfill_policy(settings.partitions_per_run()).max_partitions_per_run == 7
    monkeypatch.setenv("LAKEHOUSE_PARTITIONS_PER_RUN", "0")
    with pytest.raises(ValueError, match="LAKEHOUSE_PARTITIONS_PER_RUN='0'"):
        settings.partitions_per_run()


def test_gold_column_lineage_names_real_columns_and_reaches_the_ui(built_lake) -> None:
    from lakehouse import tables

    graph = defs().resolve_asset_graph()
    for spec in tables.GOLD_TABLES:
        name = spec.qualified_name
        assert set(spec.lineage) == set(spec.schema), f"{name}: every column has its lineage"
        parents = graph.get(asset_key(spec)).parent_keys
        for column, sources in spec.lineage.items():
            for table, upstream in sources:
                assert table in tables.ALL_TABLES, f"{name}.{column}: {table} is not declared"
                assert upstream in table.schema, (name, column, table.qualified_name)
                assert asset_key(table) in parents, (
                    f"{name}.{column} reads {table.qualified_name}, not a dependency"
                )
    event = built_lake.instance.get_latest_materialization_event(
        dg.AssetKey(["gold", "fact_sales"])
    )
    lineage = event.asset_materialization.metadata["dagster/column_lineage"].value
    deps = lineage.deps_by_column["product_category"]
    assert [(dep.asset_key.to_user_string(), dep.column_name) for dep in deps] == [
        ("silver/products", "category")
    ]


def test_each_table_declaration_carries_its_model_threshold_retention_and_lineage() -> None:
    """What audits, keeps and feeds a table is read off its one declaration."""
    import pandera.polars as pa
    import polars as pl

    from lakehouse import tables
    from lakehouse.table_spec import TableSpec

    for spec in (*tables.SILVER_TABLES, *tables.GOLD_TABLES):
        assert spec.model is not None and issubclass(spec.model, pa.DataFrameModel), spec
        assert set(spec.model.to_schema().columns) == set(spec.schema), spec.qualified_name
    for spec in tables.GOLD_TABLES:
        assert spec.lineage, f"{spec.qualified_name} declares its column lineage"
    for spec in tables.ALL_TABLES:
        assert (spec.retention_days is not None) == spec.is_partitioned, spec.qualified_name
    kept = {
        (spec.path[0], spec.retention_days) for spec in tables.ALL_TABLES if spec.is_partitioned
    }
    assert kept == {
        ("bronze", 90),
        ("silver", 730),
        ("gold", 1825),
        ("quarantine", 30),
        ("quality", 365),
        ("lakehouse", 365),
        ("governance", 365),
    }
    strict = {spec.qualified_name for spec in tables.ALL_TABLES if spec.pass_threshold != 0.95}
    assert strict == {"silver.app_events", "gold.fact_sales"}
    assert tables.SILVER_APP_EVENTS.pass_threshold == tables.GOLD_FACT_SALES.pass_threshold == 0.97
    # A slip in a declaration fails when it is made, not when a consumer looks it up.
    with pytest.raises(ValueError, match="not a column of silver.orders"):
        TableSpec("gold", "t", {"a": pl.Int64()}, lineage={"a": ((tables.SILVER_ORDERS, "x"),)})
    with pytest.raises(ValueError, match="only for partitioned tables"):
        TableSpec("gold", "t", {"a": pl.Int64()}, retention_days=30)
