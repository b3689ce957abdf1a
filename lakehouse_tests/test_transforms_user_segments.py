"""gold/user_segments on hand-written sessions and sales: each segment and its boundaries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl

from lakehouse import tables
from lakehouse.money import MONEY
from lakehouse.transforms.user_segments import user_segments

UTC = pl.Datetime("us", "UTC")
AS_OF = dt.date(2026, 11, 30)  # the latest day with a session


def at(days_before: int, hour: int = 10) -> dt.datetime:
    day = AS_OF - dt.timedelta(days=days_before)
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)


def sessions(rows: list[tuple[str, int, int]]) -> pl.LazyFrame:
    """(user_id, days before AS_OF, events)."""
    return pl.LazyFrame(
        [(user, at(days), events) for user, days, events in rows],
        schema={"user_id": pl.String, "session_start": UTC, "events": pl.Int64},
        orient="row",
    )


def sales(rows: list[tuple[str, int, str, bool]]) -> pl.LazyFrame:
    """(customer_id, days before AS_OF, amount_usd, is_revenue)."""
    return pl.LazyFrame(
        [
            (user, at(days, hour=23), Decimal(amount), revenue)
            for user, days, amount, revenue in rows
        ],
        schema={
            "customer_id": pl.String,
            "order_ts": UTC,
            "amount_usd": MONEY,
            "is_revenue": pl.Boolean,
        },
        orient="row",
    )


def test_users_get_recency_frequency_engagement_churn_and_their_first_matching_segment() -> None:
    visits = sessions(
        [
            ("champion", 0, 10),
            ("loyal3", 0, 1),
            ("pair", 0, 1),
            ("customer", 7, 4),  # 7 days ago: outside the 7-day window, inside the 30-day one
            ("lapsed", 10, 2),
            ("browser", 3, 20),
            ("gone", 30, 5),  # 30 days ago: outside the 30-day window
            ("gone", 29, 7),
            *[("heavy", 1, 12)] * 25,  # past both engagement caps: 20 sessions, 200 events
        ]
    )
    facts = sales(
        [
            ("champion", 7, "10.10", True),
            ("champion", 10, "20.20", True),
            ("champion", 20, "30.30", True),
            ("champion", 0, "99.00", False),  # cancelled: neither recency nor money
            ("loyal3", 8, "1.00", True),  # three orders, but one day too long ago for champion
            ("loyal3", 9, "1.00", True),
            ("loyal3", 9, "1.00", True),
            ("pair", 1, "2.50", True),
            ("pair", 1, "2.50", True),
            ("customer", 14, "9.99", True),  # 14 days: not yet a churn risk
            ("lapsed", 15, "5.00", True),  # 15 days and no recent session: at risk
            ("buyer", 0, "1.00", True),  # orders without any session
            ("buyer", 2, "1.00", True),
            ("buyer", 3, "1.00", True),
        ]
    )
    segments = tables.GOLD_USER_SEGMENTS.conform(user_segments(facts, visits)).collect()
    assert (segments["as_of_date"] == AS_OF).all()
    # (user, recency, frequency, monetary, events_30d, sessions_30d, engagement, churn, segment)
    # engagement = 100 * (0.6 * min(sessions / 20, 1) + 0.4 * min(events / 200, 1))
    assert segments.drop("as_of_date").rows() == [
        ("browser", None, 0, Decimal("0.00"), 20, 1, 7.0, False, "browser"),
        ("buyer", 0, 3, Decimal("3.00"), 0, 0, 0.0, False, "champion"),
        ("champion", 7, 3, Decimal("60.60"), 10, 1, 5.0, False, "champion"),
        ("customer", 14, 1, Decimal("9.99"), 4, 1, 3.8, False, "customer"),
        ("gone", None, 0, Decimal("0.00"), 7, 1, 4.4, True, "at_risk"),
        ("heavy", None, 0, Decimal("0.00"), 300, 25, 100.0, False, "browser"),
        ("lapsed", 15, 1, Decimal("5.00"), 2, 1, 3.4, True, "at_risk"),
        ("loyal3", 8, 3, Decimal("3.00"), 1, 1, 3.2, False, "loyal"),
        ("pair", 1, 2, Decimal("5.00"), 1, 1, 3.2, False, "loyal"),
    ]
