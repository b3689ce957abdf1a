"""gold/event_metrics_hourly on a hand-written day of events."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from lakehouse import tables
from lakehouse.transforms.event_metrics import event_metrics_hourly

UTC = pl.Datetime("us", "UTC")


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def test_hourly_metrics_count_users_latency_and_the_hours_error_rate() -> None:
    events = pl.LazyFrame(
        [
            (ts("2026-11-03T10:00:00"), "page_view", "u1", 100),
            (ts("2026-11-03T10:15:00"), "page_view", "u1", 200),  # the same user again
            (ts("2026-11-03T10:59:59.999999"), "page_view", "u2", 300),  # still 10:00
            (ts("2026-11-03T10:30:00"), "error", "u3", None),  # no latency measured
            (ts("2026-11-03T11:00:00"), "page_view", "u1", 50),  # 11:00 starts here
            (ts("2026-11-03T11:05:00"), "error", "u1", 1000),
            (ts("2026-11-03T11:06:00"), "error", "u2", 3000),
            (ts("2026-11-03T13:00:00"), "login", "u4", 40),  # an hour without errors
        ],
        schema={
            "event_ts": UTC,
            "event_type": pl.String,
            "user_id": pl.String,
            "latency_ms": pl.Int64,
        },
        orient="row",
    )
    metrics = tables.GOLD_EVENT_METRICS_HOURLY.conform(event_metrics_hourly(events)).collect()
    # (hour, type, events, users, hour_events, hour_errors, p50, p95); linear interpolation:
    # p95 of 100, 200, 300 is 200 + 0.9 * 100, of 1000, 3000 is 1000 + 0.95 * 2000.
    assert metrics.drop("error_rate").rows() == [
        (ts("2026-11-03T10:00:00"), "error", 1, 1, 4, 1, None, None),
        (ts("2026-11-03T10:00:00"), "page_view", 3, 2, 4, 1, 200.0, pytest.approx(290.0)),
        (ts("2026-11-03T11:00:00"), "error", 2, 2, 3, 2, 2000.0, pytest.approx(2900.0)),
        (ts("2026-11-03T11:00:00"), "page_view", 1, 1, 3, 2, 50.0, 50.0),
        (ts("2026-11-03T13:00:00"), "login", 1, 1, 1, 0, 40.0, 40.0),
    ]
    assert metrics["error_rate"].to_list() == [0.25, 0.25, 2 / 3, 2 / 3, 0.0]


def test_a_day_without_events_has_no_rows() -> None:
    events = pl.LazyFrame(
        schema={
            "event_ts": UTC,
            "event_type": pl.String,
            "user_id": pl.String,
            "latency_ms": pl.Int64,
        }
    )
    metrics = tables.GOLD_EVENT_METRICS_HOURLY.conform(event_metrics_hourly(events)).collect()
    assert metrics.height == 0
