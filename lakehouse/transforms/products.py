"""silver/products: the latest daily snapshot, one row per product."""

from __future__ import annotations

import datetime as dt

import polars as pl

from lakehouse.transforms.rules import Cleaned, Rule, accounting, apply_rules, explain, not_null


def latest_products(snapshot: pl.LazyFrame, now: dt.datetime) -> Cleaned:
    """Rows of one snapshot; a product listed twice keeps its last line."""
    checked = apply_rules(
        snapshot,
        [
            not_null("product_id"),
            Rule(
                "non_negative_price",
                "list_price",
                pl.col("list_price").is_null() | (pl.col("list_price") < 0),
                explain("list_price {} is negative or missing", pl.col("list_price")),
            ),
        ],
        now,
    )
    clean = (
        checked.valid.sort("_source_file", "_source_line")
        .unique("product_id", keep="last", maintain_order=True)
        .with_columns(snapshot_date=pl.col("arrival_date"))
        .sort("product_id")
    )
    counts = accounting(snapshot, checked.valid, "product_id")
    return Cleaned(clean, checked.quarantined, counts)
