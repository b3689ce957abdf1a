"""silver/products on a hand-written snapshot: the last listing wins, bad prices are quarantined."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl

from lakehouse import tables
from lakehouse.transforms.products import latest_products

NOW = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
SNAPSHOT_DAY = dt.date(2026, 11, 3)


def snapshot(rows: list[tuple[str, int, str | None, str | None]]) -> pl.LazyFrame:
    """Bronze product rows of one arrival day: (file, line, product_id, list_price)."""
    schema = {**tables.BRONZE_PRODUCTS.schema, "arrival_date": pl.Date()}
    return pl.LazyFrame(
        [
            {
                "_source_file": file,
                "_source_line": line,
                "product_id": product_id,
                "list_price": None if price is None else Decimal(price),
                "name": f"{product_id} at {price}",
                "category": "books",
                "currency": "USD",
                "active": True,
                "arrival_date": SNAPSHOT_DAY,
            }
            for file, line, product_id, price in rows
        ],
        schema=schema,
    )


def test_the_last_valid_listing_of_a_product_wins_and_bad_prices_are_quarantined() -> None:
    rows = snapshot(
        [
            ("b.csv", 1, "P2", "6.00"),  # a later file wins over a later line of an earlier file
            ("a.csv", 9, "P2", "5.00"),
            ("a.csv", 2, "P1", "10.00"),
            ("a.csv", 3, "P1", "12.00"),  # listed twice: the last line wins
            ("a.csv", 4, "P3", "7.00"),
            ("a.csv", 5, "P3", "-1.00"),  # a broken later listing does not replace a valid one
            ("a.csv", 6, None, "3.00"),
            ("a.csv", 7, "P4", None),
            ("a.csv", 8, "P5", "0.00"),  # free is a price
        ]
    )
    cleaned = latest_products(rows, NOW)

    clean = tables.SILVER_PRODUCTS.conform(cleaned.clean).collect()
    assert clean.select("product_id", "list_price", "name", "snapshot_date").rows() == [
        ("P1", Decimal("12.00"), "P1 at 12.00", SNAPSHOT_DAY),
        ("P2", Decimal("6.00"), "P2 at 6.00", SNAPSHOT_DAY),
        ("P3", Decimal("7.00"), "P3 at 7.00", SNAPSHOT_DAY),
        ("P5", Decimal("0.00"), "P5 at 0.00", SNAPSHOT_DAY),
    ]
    rejected = tables.SILVER_PRODUCTS_QUARANTINE.conform(cleaned.quarantined).collect()
    assert rejected.sort("_source_line").select("_source_line", "_rule", "_reason").rows() == [
        (5, "non_negative_price", "list_price -1.00 is negative or missing"),
        (6, "not_null", "product_id is null"),
        (7, "non_negative_price", "list_price null is negative or missing"),
    ]
    # 9 in = 4 out + 2 superseded listings (P1 line 2, P2 in a.csv) + 3 quarantined.
    counts = cleaned.counts.collect().row(0, named=True)
    assert counts == {"rows_in": 9, "duplicates": 2, "removed_other": 0}


def test_an_empty_snapshot_gives_no_products_and_zero_counts() -> None:
    cleaned = latest_products(snapshot([]), NOW)
    assert tables.SILVER_PRODUCTS.conform(cleaned.clean).collect().height == 0
    assert cleaned.quarantined.collect().height == 0
    counts = cleaned.counts.collect().row(0, named=True)
    assert counts == {"rows_in": 0, "duplicates": 0, "removed_other": 0}
