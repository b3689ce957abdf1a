"""Gold aggregates of scored reviews: sentiment per product and day."""

from __future__ import annotations

import polars as pl


def product_sentiment_daily(scored: pl.LazyFrame) -> pl.LazyFrame:
    """One row per product reviewed that day: reviews, mean score, share negative, mean rating,
    and the model version that scored them (a day is always scored whole, by one version)."""
    return (
        scored.group_by("product_id")
        .agg(
            reviews=pl.len().cast(pl.Int64),
            mean_sentiment=pl.col("sentiment_score").mean(),
            share_negative=(pl.col("sentiment_label") == "negative").mean().cast(pl.Float64),
            mean_rating=pl.col("rating").mean().cast(pl.Float64),
            model_version=pl.col("model_version").max(),
        )
        .sort("product_id")
    )
