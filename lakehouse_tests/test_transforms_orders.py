"""silver/orders money on hand-written and generated bronze rows: exact cents, rounded half up once.

The independent computation is DuckDB's: `round()` on a DECIMAL rounds half away from zero, so
`round(CAST(quantity AS DECIMAL(18,2)) * unit_price * usd_per_unit, 2)` is what every order's
amount_usd must be, to the cent.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import numpy as np
import polars as pl
import pytest

from lakehouse import tables
from lakehouse.landing.contract import ORDERS, REVENUE_STATUSES
from lakehouse.money import MONEY, RATE, average, convert, to_cents
from lakehouse.reference import USD_PER_UNIT
from lakehouse.transforms.orders import clean_orders
from lakehouse.transforms.sales import daily_summary

NOW = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
DAY = dt.date(2026, 11, 3)
UTC = pl.Datetime("us", "UTC")


def bronze_orders(rows: list[tuple[int, str, str, str]]) -> pl.LazyFrame:
    """Bronze order rows arrived on DAY: (quantity, unit_price text, currency, status)."""
    at = dt.datetime(2026, 11, 3, 12, tzinfo=dt.UTC)
    return pl.LazyFrame(
        {
            "order_id": [f"O{line}" for line in range(1, len(rows) + 1)],
            "customer_id": "C1",
            "product_id": "P1",
            "quantity": [quantity for quantity, _, _, _ in rows],
            # Parsed from the text as bronze does: 19.99 is 19.99, never a float near it.
            "unit_price": pl.Series([price for _, price, _, _ in rows]).str.to_decimal(scale=2),
            "currency": [currency for _, _, currency, _ in rows],
            "status": [status for _, _, _, status in rows],
            "order_ts": at,
            "updated_at": at,
            "_extra": None,
            "_source_file": "orders/2026-11-03/orders-1.csv",
            "_source_line": list(range(1, len(rows) + 1)),
            "_ingested_at": NOW,
            "arrival_date": DAY,
        }
    ).cast({**tables.BRONZE_ORDERS.schema, "arrival_date": pl.Date()})


def silver(rows: list[tuple[int, str, str, str]]) -> pl.DataFrame:
    cleaned = clean_orders(bronze_orders(rows), DAY, DAY, 3, NOW)
    assert cleaned.quarantined.collect().height == 0
    return tables.SILVER_ORDERS.conform(cleaned.clean).collect()


def test_to_cents_rounds_half_away_from_zero_on_exact_decimals() -> None:
    values = ["0.125", "0.135", "-0.125", "-0.135", "1.005", "2.675", "0.0049", "-0.0050"]
    frame = pl.DataFrame({"x": pl.Series(values).str.to_decimal(scale=4)})
    rounded = frame.select(to_cents(pl.col("x"))).to_series()
    assert rounded.dtype == MONEY
    assert rounded.to_list() == [
        Decimal(v) for v in ["0.13", "0.14", "-0.13", "-0.14", "1.01", "2.68", "0.00", "-0.01"]
    ]
    # Conversions are exact before rounding: 0.01 x 0.499999 = 0.00499999 is below the half
    # cent (a product at Polars' default scale, 6, would be 0.005000 and round up).
    amounts = pl.DataFrame(
        {
            "amount": pl.Series(["0.01", "0.01", "0.05", "999999.99"]).cast(MONEY),
            "rate": pl.Series(["0.499999", "0.500000", "0.500000", "0.000005"]).cast(RATE),
        }
    )
    converted = amounts.select(convert(pl.col("amount"), pl.col("rate"))).to_series()
    assert converted.dtype == MONEY
    assert converted.to_list() == [Decimal(v) for v in ["0.00", "0.01", "0.03", "5.00"]]
    # Averages follow the same rule: 0.05 / 2 = 0.025 -> 0.03; 0.10 / 3 = 0.0333.. -> 0.03.
    totals = pl.DataFrame(
        {"total": pl.Series(["0.05", "0.10", "-0.05", "1.00"]).cast(MONEY), "n": [2, 3, 2, 0]}
    )
    assert totals.select(average(pl.col("total"), pl.col("n"))).to_series().to_list() == [
        Decimal("0.03"),
        Decimal("0.03"),
        Decimal("-0.03"),
        None,
    ]


def test_amount_usd_on_a_half_cent_is_rounded_up_and_daily_revenue_is_their_exact_sum() -> None:
    orders = silver(
        [
            (1, "0.50", "CAD", "paid"),  # 0.50 x 0.73 = 0.365 -> 0.37 (banker's: 0.36)
            (1, "0.25", "AUD", "paid"),  # 0.25 x 0.66 = 0.165 -> 0.17 (banker's: 0.16)
            (3, "1.00", "SEK", "shipped"),  # 3.00 x 0.095 = 0.285 -> 0.29 (banker's: 0.28)
            (1, "0.05", "USD", "paid"),  # exact
            (7, "19.99", "EUR", "refunded"),  # 139.93 x 1.08 = 151.1244 -> 151.12, no revenue
            (2, "0.75", "CAD", "cancelled"),  # 1.50 x 0.73 = 1.095 -> 1.10, no revenue
        ]
    )
    for column in ("unit_price", "amount", "amount_usd"):
        assert orders.schema[column] == MONEY
    assert orders["amount"].to_list() == [
        Decimal(v) for v in ["0.50", "0.25", "3.00", "0.05", "139.93", "1.50"]
    ]
    assert orders["amount_usd"].to_list() == [
        Decimal(v) for v in ["0.37", "0.17", "0.29", "0.05", "151.12", "1.10"]
    ]
    # Float64 rounding of the same products (what the lake did before) lost a cent on these.
    floats = (orders["amount"].cast(pl.Float64) * orders["usd_per_unit"].cast(pl.Float64)).round(2)
    assert floats.to_list()[:2] == [0.36, 0.16]

    facts = orders.lazy().with_columns(is_revenue=pl.col("status").is_in(list(REVENUE_STATUSES)))
    empty = pl.LazyFrame(schema={"user_id": pl.String, "converted": pl.Boolean})
    dim = pl.LazyFrame(schema={"customer_id": pl.String, "valid_from": UTC})
    summary = tables.GOLD_DAILY_SUMMARY.conform(
        daily_summary(
            facts,
            empty.select("user_id"),
            empty.select("converted"),
            dim,
            pl.LazyFrame(schema={"sentiment_score": pl.Float64, "sentiment_label": pl.String}),
            DAY,
            dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
        )
    ).collect()
    revenue = sum(
        amount
        for amount, status in orders.select("amount_usd", "status").rows()
        if status in REVENUE_STATUSES
    )
    assert revenue == Decimal("0.88")
    assert summary["revenue_usd"].to_list() == [revenue]
    assert summary["revenue_orders"].to_list() == [4]
    assert summary["avg_order_value_usd"].to_list() == [Decimal("0.22")]  # 0.88 / 4


def generated_rows(rows: int, seed: int = 17) -> list[tuple[int, str, str, str]]:
    """Random orders priced like the landing files: cents as text, every known currency."""
    draws = np.random.default_rng(seed)
    cents = draws.integers(1, 100_000, rows)
    currencies = draws.choice(list(USD_PER_UNIT), rows)
    quantities = draws.integers(1, 6, rows)
    return [
        (int(quantity), f"{cent // 100}.{cent % 100:02d}", str(currency), "paid")
        for quantity, cent, currency in zip(quantities, cents, currencies, strict=True)
    ]


def test_amount_usd_agrees_with_duckdb_decimal_rounding_on_a_generated_sample() -> None:
    rows = generated_rows(20_000)
    orders = silver(rows)
    landed = pl.DataFrame(
        {
            "order_id": [f"O{line}" for line in range(1, len(rows) + 1)],
            "quantity": [quantity for quantity, _, _, _ in rows],
            "unit_price": [price for _, price, _, _ in rows],  # the text as it landed
            "currency": [currency for _, _, currency, _ in rows],
        }
    )
    rates = pl.DataFrame(
        {"currency": list(USD_PER_UNIT), "rate": [str(v) for v in USD_PER_UNIT.values()]}
    )
    with duckdb.connect() as con:
        con.register("landed", landed)
        con.register("rates", rates)
        expected = con.sql(
            """
            SELECT order_id,
                   round(CAST(quantity AS DECIMAL(18, 2)) * CAST(unit_price AS DECIMAL(18, 2))
                         * CAST(rate AS DECIMAL(18, 6)), 2) AS expected,
                   CAST(quantity AS DECIMAL(18, 2)) * CAST(unit_price AS DECIMAL(18, 2))
                         * CAST(rate AS DECIMAL(18, 6)) AS exact
            FROM landed JOIN rates USING (currency)
            """
        ).pl()
    joined = orders.select("order_id", "amount_usd").join(expected, on="order_id")
    assert joined.height == len(rows)
    # The sample exercises the case that broke: products exactly on a half cent.
    ties = joined.filter((pl.col("exact") * 1000 % 10 == 5) & (pl.col("exact") * 1000 % 1 == 0))
    assert ties.height > 20
    disagreements = joined.filter(pl.col("amount_usd") != pl.col("expected"))
    assert disagreements.height == 0, disagreements.head(5)
    assert ORDERS.bronze_schema["unit_price"] == MONEY


def test_a_table_refuses_a_cast_that_would_round_its_money() -> None:
    """Rounding happens once, in the transform: conforming a frame to a table never rounds."""
    spec = tables.SILVER_PRODUCTS
    rows = pl.LazyFrame(schema=spec.schema)
    assert spec.conform(rows).collect_schema()["list_price"] == MONEY
    for unrounded in (pl.Float64(), pl.Decimal(38, 6)):
        with pytest.raises(TypeError, match="list_price.*would round it"):
            spec.conform(rows.with_columns(pl.col("list_price").cast(unrounded)))
    # A wider precision at the same scale is exact: it is cast (strictly) like any column.
    widened = rows.with_columns(pl.col("list_price").cast(pl.Decimal(38, 2)))
    assert spec.conform(widened).collect_schema()["list_price"] == MONEY
