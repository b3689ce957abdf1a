"""Declarative Automation: a changed bronze day updates exactly the partitions that read it."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from lakehouse.defs.bronze import BRONZE_ASSETS
from lakehouse.partitions import day_range
from lakehouse_tests.conftest import (
    ALL_ASSETS,
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
