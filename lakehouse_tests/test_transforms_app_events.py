"""silver/app_events on a hand-written bronze frame: which rows a day takes, late flags, strays."""

from __future__ import annotations

import datetime as dt

import polars as pl

from lakehouse import tables
from lakehouse.transforms.app_events import clean_app_events
from lakehouse.transforms.rules import KeepFirst

NOW = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
FIRST_PARTITION = dt.date(2026, 11, 1)
DAY = dt.date(2026, 11, 3)
LATE_DAYS = 2


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def bronze_events(rows: list[dict]) -> pl.LazyFrame:
    """Bronze app_events rows (unnamed columns NULL), each with its arrival date and line."""
    schema = {**tables.BRONZE_APP_EVENTS.schema, "arrival_date": pl.Date()}
    defaults = {"event_type": "page_view", "device": "web", "_source_file": "events.jsonl"}
    return pl.LazyFrame(
        [{**defaults, "_source_line": line, **row} for line, row in enumerate(rows, 1)],
        schema=schema,
    )


def test_a_day_takes_its_events_from_the_late_window_and_the_strays_that_arrived_on_it() -> None:
    bronze = bronze_events(
        [
            # 1-2: one event delivered twice, on its day and a day late: both copies stay.
            {"event_id": "e1", "user_id": "u1", "event_ts": ts("2026-11-03T10:00:00"),
             "arrival_date": DAY},
            {"event_id": "e1", "user_id": "u1", "event_ts": ts("2026-11-03T10:00:00"),
             "arrival_date": dt.date(2026, 11, 4)},
            # 3: the last microsecond of the day, arriving on the last day of the window.
            {"event_id": "e2", "user_id": "u2", "event_ts": ts("2026-11-03T23:59:59.999999"),
             "arrival_date": dt.date(2026, 11, 5)},
            # 4: three days late: the stray of its arrival day (11-06), not of this one.
            {"event_id": "e3", "user_id": "u1", "event_ts": ts("2026-11-03T09:00:00"),
             "arrival_date": dt.date(2026, 11, 6)},
            # 5: midnight belongs to the next day.
            {"event_id": "e4", "user_id": "u1", "event_ts": ts("2026-11-04T00:00:00"),
             "arrival_date": dt.date(2026, 11, 4)},
            # 6: before the first partition and 7: after its own arrival (clock skew): no event
            # day can take them, so their arrival day quarantines them.
            {"event_id": "e5", "user_id": "u1", "event_ts": ts("2026-10-31T12:00:00"),
             "arrival_date": DAY},
            {"event_id": "e6", "user_id": "u1", "event_ts": ts("2026-11-05T08:00:00"),
             "arrival_date": DAY},
            # 8-9: broken rows of the day.
            {"event_id": "e7", "user_id": None, "event_ts": ts("2026-11-03T11:00:00"),
             "arrival_date": DAY},
            {"event_id": "e8", "user_id": "u3", "event_ts": ts("2026-11-03T12:00:00"),
             "event_type": "teleport", "arrival_date": DAY},
            # 10: no timestamp: quarantined by the day it arrived, 11: by another day.
            {"event_id": "e9", "user_id": "u3", "event_ts": None, "arrival_date": DAY},
            {"event_id": "e10", "user_id": "u3", "event_ts": None,
             "arrival_date": dt.date(2026, 11, 2)},
            # 12: an unknown device is refused, 13: a missing one is allowed.
            {"event_id": "e11", "user_id": "u4", "event_ts": ts("2026-11-03T13:00:00"),
             "device": "fridge", "arrival_date": DAY},
            {"event_id": "e12", "user_id": "u4", "event_ts": ts("2026-11-03T00:00:00"),
             "device": None, "arrival_date": DAY},
        ]
    )  # fmt: skip
    cleaned = clean_app_events(bronze, DAY, FIRST_PARTITION, LATE_DAYS, NOW)

    clean = tables.SILVER_APP_EVENTS.conform(cleaned.clean).collect().sort("_source_line")
    assert clean.select("event_id", "arrival_date", "is_late", "_source_line").rows() == [
        ("e1", DAY, False, 1),
        ("e1", dt.date(2026, 11, 4), True, 2),
        ("e2", dt.date(2026, 11, 5), True, 3),
        ("e12", DAY, False, 13),
    ]
    rejected = tables.SILVER_APP_EVENTS_QUARANTINE.conform(cleaned.quarantined).collect()
    assert rejected.sort("_source_line").select("event_id", "_rule", "_column").rows() == [
        ("e5", "late_window", "event_ts"),
        ("e6", "late_window", "event_ts"),
        ("e7", "not_null", "user_id"),
        ("e8", "allowed_values", "event_type"),
        ("e9", "not_null", "event_ts"),
        ("e11", "allowed_values", "device"),
    ]
    reasons = dict(rejected.select("event_id", "_reason").iter_rows())
    assert reasons["e5"] == (
        "event_ts date 2026-10-31 is outside the window 2026-11-01 .. 2026-11-03"
        " of its arrival date"
    )
    assert reasons["e6"] == (
        "event_ts date 2026-11-05 is outside the window 2026-11-01 .. 2026-11-03"
        " of its arrival date"
    )
    assert (rejected["_quarantined_at"] == NOW).all()
    # Every row the partition took is accounted for: 4 clean + 6 quarantined.
    assert cleaned.counts.collect().rows(named=True) == [{"rows_in": 10}]
    # Copies are removed by the store, keeping the first arrival (then file, then line).
    assert cleaned.keep_first == KeepFirst(
        "event_id", ("arrival_date", "_source_file", "_source_line")
    )


def test_every_bronze_row_belongs_to_exactly_one_day() -> None:
    """Over all the days a bronze row could reach, it is taken (clean or quarantined) once."""
    arrival = dt.date(2026, 11, 4)
    bronze = bronze_events(
        [
            {"event_id": "own", "user_id": "u", "event_ts": ts("2026-11-04T01:00:00")},
            {"event_id": "late", "user_id": "u", "event_ts": ts("2026-11-02T01:00:00")},
            {"event_id": "too-late", "user_id": "u", "event_ts": ts("2026-11-01T01:00:00")},
            {"event_id": "future", "user_id": "u", "event_ts": ts("2026-11-05T01:00:00")},
            {"event_id": "no-time", "user_id": "u", "event_ts": None},
            {"event_id": "early", "user_id": "u", "event_ts": ts("2026-10-30T01:00:00")},
        ]
    ).with_columns(arrival_date=pl.lit(arrival))
    taken: dict[str, list[tuple[dt.date, str]]] = {}
    for offset in range(-5, 6):
        day = arrival + dt.timedelta(days=offset)
        cleaned = clean_app_events(bronze, day, FIRST_PARTITION, LATE_DAYS, NOW)
        for event_id in cleaned.clean.collect()["event_id"]:
            taken.setdefault(event_id, []).append((day, "clean"))
        for event_id in cleaned.quarantined.collect()["event_id"]:
            taken.setdefault(event_id, []).append((day, "quarantined"))
    assert taken == {
        "own": [(arrival, "clean")],
        "late": [(dt.date(2026, 11, 2), "clean")],
        "too-late": [(arrival, "quarantined")],
        "future": [(arrival, "quarantined")],
        "no-time": [(arrival, "quarantined")],
        "early": [(arrival, "quarantined")],
    }
