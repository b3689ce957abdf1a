"""silver/products: the latest daily snapshot, one row per product."""

from __future__ import annotations

import polars as pl


def latest_products(snapshot: pl.LazyFrame) -> pl.LazyFrame:
    """Rows of one snapshot; a product listed twice keeps its last line."""
    return (
        snapshot.filter(pl.col("product_id").is_not_null())
        .sort("_source_file", "_source_line")
        .unique("product_id", keep="last", maintain_order=True)
        .with_columns(snapshot_date=pl.col("arrival_date"))
        .sort("product_id")
    )
