"""Declarative Automation: a changed bronze day updates exactly the partitions that read it."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg

from lakehouse.partitions import day_range
from lakehouse_tests.conftest import (
    ALL_ASSETS,
    BRONZE_ASSETS,
    FIRST_DAY,
    SAMPLE,
    copy_landing,
    range_tags,
    resources_for,
)

LAST = SAMPLE.date(2).isoformat()
DAYS = day_range(FIRST_DAY, LAST)
BRONZE_EVENTS = next(a for a in BRONZE_ASSETS if a.key.path == ["bronze", "app_events"])


def requested(result) -> dict[str, list[str] | bool]:
    out: dict[str, list[str] | bool] = {}
    for key in (
        result.get_requested_asset_keys() if hasattr(result, "get_requested_asset_keys") else []
    ):
        out[key.to_user_string()] = True
    return out


def requested_partitions(result, key: list[str]) -> set[str]:
    return set(result.get_requested_partitions(dg.AssetKey(key)))


def test_a_late_bronze_day_updates_only_what_reads_it(tmp_path: Path, sample_landing: Path):
    copy_landing(sample_landing, tmp_path)
    defs = dg.Definitions(assets=ALL_ASSETS, resources=resources_for(tmp_path))
    with dg.instance_for_test() as instance:
        built = dg.materialize(
            ALL_ASSETS,
            resources=resources_for(tmp_path),
            instance=instance,
            tags=range_tags(FIRST_DAY, LAST),
        )
        assert built.success
        baseline = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert baseline.total_requested == 0

        # Day 3 of app events arrives again (say a late file): its events feed days 1..3.
        dg.materialize(
            [BRONZE_EVENTS],
            partition_key=LAST,
            resources=resources_for(tmp_path),
            instance=instance,
        )
        tick = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=baseline.cursor
        )
        requested = {
            key.to_user_string(): sorted(tick.get_requested_partitions(key))
            for key in {r.key for r in tick.results if r.true_subset.size}
        }
        # The whole affected chain in one evaluation, and nothing else: orders, facts and
        # dimensions did not change. Sessions read a +-1 day window, so the day after the last
        # changed one is refreshed too (a session starting then may include day-3 events).
        next_day = SAMPLE.date(3).isoformat()
        assert requested == {
            "silver/app_events": DAYS,
            "silver/sessions": [*DAYS, next_day],
            "gold/event_metrics_hourly": DAYS,
            "gold/daily_summary": [*DAYS, next_day],
        }
        # Requested once: the next evaluation does not ask again.
        again = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        assert again.total_requested == 0


def test_a_new_day_rebuilds_only_the_partitions_it_touches(tmp_path: Path, sample_landing: Path):
    """Build two days; land the third; run exactly what automation asks for; then the
    instance's materialization events show which partitions were rebuilt."""
    copy_landing(sample_landing, tmp_path)
    new_day = SAMPLE.date(2).isoformat()
    for source in ("app_events", "orders", "customers", "products"):
        shutil.move(tmp_path / "landing" / source / new_day, tmp_path / f"later-{source}")
    defs = dg.Definitions(assets=ALL_ASSETS, resources=resources_for(tmp_path))
    graph = defs.resolve_asset_graph()
    with dg.instance_for_test() as instance:
        dg.materialize(
            ALL_ASSETS,
            resources=resources_for(tmp_path),
            instance=instance,
            tags=range_tags(FIRST_DAY, DAYS[1]),
        )
        cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance).cursor
        marker = max(
            record.storage_id
            for key in graph.get_all_asset_keys()
            for record in instance.fetch_materializations(key, limit=1).records
        )
        # The new day lands, and its bronze partitions are ingested (the sensors' job).
        for source in ("app_events", "orders", "customers", "products"):
            shutil.move(tmp_path / f"later-{source}", tmp_path / "landing" / source / new_day)
        dg.materialize(
            BRONZE_ASSETS,
            partition_key=new_day,
            resources=resources_for(tmp_path),
            instance=instance,
        )
        # Run what automation requests, wave by wave, until it asks for nothing more.
        for _ in range(6):
            tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
            cursor = tick.cursor
            if not tick.total_requested:
                break
            for key in graph.toposorted_asset_keys:
                if key not in {r.key for r in tick.results if r.true_subset.size}:
                    continue
                wanted = sorted(tick.get_requested_partitions(key))
                tags = range_tags(wanted[0], wanted[-1]) if wanted != [None] else {}
                assert dg.materialize(
                    ALL_ASSETS,
                    selection=[key],
                    tags=tags,
                    resources=resources_for(tmp_path),
                    instance=instance,
                ).success
        rebuilt = {}
        for key in graph.get_all_asset_keys():
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, after_storage_id=marker), limit=1000
            ).records
            if records:
                rebuilt[key.to_user_string()] = sorted({r.partition_key or "all" for r in records})
    # Late data reaches back up to three days, so silver days 1..3 follow the new arrival day;
    # sessions and the daily summary also look one day ahead. Gold facts follow silver orders.
    assert rebuilt["silver/app_events"] == [*DAYS]
    assert rebuilt["silver/orders"] == [*DAYS]
    assert rebuilt["gold/fact_sales"] == [*DAYS]
    assert rebuilt["gold/event_metrics_hourly"] == [*DAYS]
    assert set(rebuilt["silver/sessions"]) >= set(DAYS)
    assert all(key.startswith(("bronze/", "silver/", "gold/")) for key in rebuilt)
    bronze = {k: v for k, v in rebuilt.items() if k.startswith("bronze/")}
    assert all(partitions == [new_day] for partitions in bronze.values()), bronze
    # Unpartitioned tables are rebuilt once each, never per day.
    assert rebuilt["gold/dim_customer"] == ["all"] and rebuilt["silver/customers"] == ["all"]
