"""silver/orders: the latest version of each order, with amounts in the reporting currency.

Money is exact (`lakehouse.money`): amount = quantity x unit_price is exact in cents; amount_usd
is amount x usd_per_unit (exact at scale 8) rounded once, half away from zero, to cents.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from lakehouse.landing.contract import ORDER_STATUSES
from lakehouse.money import MONEY, convert
from lakehouse.reference import USD_PER_UNIT, fx_rates
from lakehouse.transforms.rules import (
    Cleaned,
    Rule,
    accounting,
    allowed_values,
    apply_rules,
    explain,
    not_null,
    window_rule,
)


def order_rules(first_partition: dt.date, late_days: int) -> list[Rule]:
    return [
        not_null("order_id"),
        not_null("order_ts"),
        not_null("updated_at"),
        not_null("customer_id"),
        not_null("product_id"),
        window_rule(
            pl.col("order_ts").dt.date(),
            pl.col("arrival_date"),
            first_partition,
            late_days,
            "order_ts",
        ),
        Rule(
            "positive_quantity",
            "quantity",
            pl.col("quantity").is_null() | (pl.col("quantity") <= 0),
            explain("quantity {} is not a positive number", pl.col("quantity")),
        ),
        Rule(
            "non_negative_price",
            "unit_price",
            pl.col("unit_price").is_null() | (pl.col("unit_price") < 0),
            explain("unit_price {} is negative or missing", pl.col("unit_price")),
        ),
        Rule(
            "known_currency",
            "currency",
            ~pl.col("currency").is_in(list(USD_PER_UNIT)).fill_null(False),
            explain("currency {} has no exchange rate", pl.col("currency")),
        ),
        allowed_values("status", ORDER_STATUSES),
        Rule(
            "updated_after_order",
            "updated_at",
            pl.col("updated_at") < pl.col("order_ts"),
            explain(
                "updated_at {} is before order_ts {}", pl.col("updated_at"), pl.col("order_ts")
            ),
        ),
    ]


def clean_orders(
    bronze: pl.LazyFrame,
    order_day: dt.date,
    first_partition: dt.date,
    late_days: int,
    now: dt.datetime,
) -> Cleaned:
    """Versions of orders placed on `order_day`, from arrival days order_day .. +late_days."""
    rules = order_rules(first_partition, late_days)
    window = next(rule for rule in rules if rule.name == "late_window")
    own = (pl.col("order_ts").dt.date() == pl.lit(order_day)) & ~window.broken
    strays = window.broken & (pl.col("arrival_date") == pl.lit(order_day))
    candidates = bronze.filter(own.fill_null(False) | strays.fill_null(False))
    checked = apply_rules(candidates, rules, now)
    latest = (
        checked.valid.sort(
            ["order_id", "updated_at", "arrival_date", "_source_file", "_source_line"]
        )
        .with_columns(versions=pl.len().over("order_id"))
        .unique("order_id", keep="last", maintain_order=True)
    )
    clean = (
        latest.join(fx_rates(), on="currency", how="left")
        .with_columns(amount=(pl.col("quantity") * pl.col("unit_price")).cast(MONEY))
        .with_columns(amount_usd=convert(pl.col("amount"), pl.col("usd_per_unit")))
        .sort("order_ts", "order_id")
    )
    counts = accounting(candidates, checked.valid, "order_id")
    return Cleaned(clean, checked.quarantined, counts)
