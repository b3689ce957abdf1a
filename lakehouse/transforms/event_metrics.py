"""gold/event_metrics_hourly: volume, users, errors and latency per hour and event type."""

from __future__ import annotations

import polars as pl


def event_metrics_hourly(events: pl.LazyFrame) -> pl.LazyFrame:
    hourly = events.with_columns(hour=pl.col("event_ts").dt.truncate("1h"))
    per_type = hourly.group_by("hour", "event_type").agg(
        events=pl.len().cast(pl.Int64),
        users=pl.col("user_id").n_unique().cast(pl.Int64),
        latency_p50_ms=pl.col("latency_ms").quantile(0.5, interpolation="linear"),
        latency_p95_ms=pl.col("latency_ms").quantile(0.95, interpolation="linear"),
    )
    per_hour = hourly.group_by("hour").agg(
        hour_events=pl.len().cast(pl.Int64),
        hour_errors=(pl.col("event_type") == "error").sum().cast(pl.Int64),
    )
    return (
        per_type.join(per_hour, on="hour", how="left")
        .with_columns(error_rate=pl.col("hour_errors") / pl.col("hour_events"))
        .sort("hour", "event_type")
    )
