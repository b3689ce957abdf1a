"""gold/fact_sales and gold/daily_summary on hand-written frames."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

from lakehouse import tables
from lakehouse.money import MONEY
from lakehouse.transforms.sales import daily_summary, fact_sales

NOW = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
UTC = pl.Datetime("us", "UTC")
DAY = dt.date(2026, 11, 3)


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def silver_orders(rows: list[tuple[str, str, str, str, str, str]]) -> pl.LazyFrame:
    """Silver orders: (order_id, customer_id, product_id, order_ts, status, amount in USD)."""
    return pl.LazyFrame(
        [
            {
                "order_id": order_id,
                "customer_id": customer_id,
                "product_id": product_id,
                "quantity": 1,
                "unit_price": Decimal(amount),
                "currency": "USD",
                "status": status,
                "order_ts": ts(order_ts),
                "updated_at": ts(order_ts),
                "amount": Decimal(amount),
                "usd_per_unit": Decimal(1),
                "amount_usd": Decimal(amount),
                "versions": 1,
                "_source_file": "orders.csv",
                "_source_line": line,
            }
            for line, (order_id, customer_id, product_id, order_ts, status, amount) in enumerate(
                rows, 1
            )
        ],
        schema=tables.SILVER_ORDERS.schema,
    )


def dim_customer(rows: list[tuple[str, str, int]]) -> pl.LazyFrame:
    """Customer versions: (customer_id, valid_from, customer_sk)."""
    return pl.LazyFrame(
        [(customer_id, ts(valid_from), sk) for customer_id, valid_from, sk in rows],
        schema={"customer_id": pl.String, "valid_from": UTC, "customer_sk": pl.Int64},
        orient="row",
    )


def test_fact_sales_keys_each_order_to_the_customer_version_valid_at_order_time() -> None:
    orders = silver_orders(
        [
            ("O1", "C1", "P1", "2026-11-03T11:59:59", "paid", "10.00"),  # just before C1's v2
            ("O2", "C1", "P1", "2026-11-03T12:00:00", "shipped", "20.02"),  # v2 starts: inclusive
            ("O3", "C2", "P2", "2026-11-03T09:00:00", "placed", "5.00"),  # before C2's first
            ("O4", "C1", "P2", "2026-11-03T13:00:00", "cancelled", "7.50"),
            ("O5", "C9", "P1", "2026-11-03T14:00:00", "paid", "1.00"),  # unknown customer
            ("O6", "C1", "P9", "2026-11-03T15:00:00", "paid", "2.00"),  # unknown product
            ("O7", "C9", "P9", "2026-11-03T16:00:00", "paid", "3.00"),  # both: the first rule
            ("O8", "C1", "P3", "2026-11-03T17:00:00", "paid", "4.00"),  # product has no category
        ]
    )
    dim = dim_customer(
        [
            ("C1", "2026-11-03T12:00:00", 102),  # out of order on purpose
            ("C1", "2026-11-01T10:00:00", 101),
            ("C2", "2026-11-05T00:00:00", 201),  # C2's only version starts after O3
            ("C2", "2026-11-06T00:00:00", 202),
        ]
    )
    products = pl.LazyFrame(
        {"product_id": ["P1", "P2", "P3"], "category": ["books", "games", None]}
    )
    checked = fact_sales(orders, dim, products, NOW)

    facts = tables.GOLD_FACT_SALES.conform(checked.valid).collect()
    # Sorted by customer, product, time (the table's sort keys).
    assert facts.select(
        "order_id", "customer_id", "customer_sk", "product_category", "is_revenue"
    ).rows() == [
        ("O1", "C1", 101, "books", True),
        ("O2", "C1", 102, "books", True),
        ("O4", "C1", 102, "games", False),
        ("O3", "C2", 201, "games", False),
    ]
    assert facts["amount_usd"].to_list() == [Decimal(v) for v in ("10.00", "20.02", "7.50", "5.00")]

    quarantine = tables.GOLD_FACT_SALES_QUARANTINE
    assert checked.quarantined.collect_schema().names() == list(quarantine.schema)
    rejected = quarantine.conform(checked.quarantined).collect().sort("order_id")
    assert rejected.select("order_id", "_rule", "_column", "_reason").rows() == [
        ("O5", "known_customer", "customer_id", "customer C9 is not in dim_customer"),
        ("O6", "known_product", "product_id", "product P9 is not in the product catalogue"),
        ("O7", "known_customer", "customer_id", "customer C9 is not in dim_customer"),
        ("O8", "product_has_category", "product_id", "product P3 has no category"),
    ]
    assert (rejected["_quarantined_at"] == NOW).all()


def summary_inputs(
    facts: list[tuple[str, bool]],
    event_users: list[str],
    converted: list[bool],
    first_versions: list[tuple[str, str]],
    scores: list[tuple[float, str]] = (),
) -> tuple[pl.LazyFrame, ...]:
    return (
        pl.LazyFrame(
            [(Decimal(amount), revenue) for amount, revenue in facts],
            schema={"amount_usd": MONEY, "is_revenue": pl.Boolean},
            orient="row",
        ),
        pl.LazyFrame({"user_id": event_users}, schema={"user_id": pl.String}),
        pl.LazyFrame({"converted": converted}, schema={"converted": pl.Boolean}),
        pl.LazyFrame(
            [(customer_id, ts(valid_from)) for customer_id, valid_from in first_versions],
            schema={"customer_id": pl.String, "valid_from": UTC},
            orient="row",
        ),
        pl.LazyFrame(
            list(scores),
            schema={"sentiment_score": pl.Float64, "sentiment_label": pl.String},
            orient="row",
        ),
    )


def test_daily_summary_counts_revenue_users_conversion_and_new_customers() -> None:
    inputs = summary_inputs(
        facts=[("10.00", True), ("20.02", True), ("5.00", False), ("7.50", False)],
        event_users=["u1", "u1", "u2", "u3"],
        converted=[True, False, False, False],
        first_versions=[
            ("C1", "2026-11-01T08:00:00"),
            ("C1", "2026-11-03T08:00:00"),  # an update on the day: not new
            ("C2", "2026-11-03T00:00:00"),  # new at midnight
            ("C3", "2026-11-03T23:59:59"),  # new at the last second
            ("C4", "2026-11-02T23:59:59"),  # first seen the day before
            ("C4", "2026-11-03T01:00:00"),
            ("C5", "2026-11-04T00:00:00"),  # the next day
        ],
        scores=[(0.9, "positive"), (0.2, "negative"), (0.7, "positive"), (0.5, "neutral")],
    )
    as_of = dt.datetime(2026, 11, 3, 15, 30, tzinfo=dt.UTC)  # while the day runs
    summary = tables.GOLD_DAILY_SUMMARY.conform(daily_summary(*inputs, DAY, as_of)).collect()
    assert summary.rows(named=True) == [
        {
            "revenue_usd": Decimal("30.02"),
            "orders": 4,
            "revenue_orders": 2,
            "avg_order_value_usd": Decimal("15.01"),
            "active_users": 3,
            "sessions": 4,
            "converted_sessions": 1,
            "conversion_rate": 0.25,
            "new_customers": 2,
            "reviews": 4,
            "mean_sentiment": pytest.approx(0.575),
            "share_negative_reviews": 0.25,
            "is_complete": False,
            "as_of": as_of,
        }
    ]
    # Final once the day and its late-arrival window (3 days) are over, not a moment before.
    final = dt.datetime(2026, 11, 7, tzinfo=dt.UTC)
    for when, complete in [(final - dt.timedelta(microseconds=1), False), (final, True)]:
        row = daily_summary(*inputs, DAY, when).collect().row(0, named=True)
        assert row["is_complete"] is complete and row["as_of"] == when


def test_daily_summary_of_a_quiet_day_is_a_row_of_zeros() -> None:
    inputs = summary_inputs([], [], [], [("C1", "2026-11-01T08:00:00")])
    as_of = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    summary = tables.GOLD_DAILY_SUMMARY.conform(daily_summary(*inputs, DAY, as_of)).collect()
    assert summary.rows(named=True) == [
        {
            "revenue_usd": Decimal("0.00"),
            "orders": 0,
            "revenue_orders": 0,
            "avg_order_value_usd": None,
            "active_users": 0,
            "sessions": 0,
            "converted_sessions": 0,
            "conversion_rate": None,
            "new_customers": 0,
            "reviews": 0,
            "mean_sentiment": None,
            "share_negative_reviews": None,
            "is_complete": True,
            "as_of": as_of,
        }
    ]
