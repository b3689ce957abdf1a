"""silver/sessions: a new session starts after `SESSION_GAP` without events from the user."""

from __future__ import annotations

import datetime as dt

import polars as pl

SESSION_GAP = dt.timedelta(minutes=30)


def sessionize(events: pl.LazyFrame, session_day: dt.date) -> pl.LazyFrame:
    """Sessions starting on `session_day`; `events` must include the neighbouring days so
    sessions crossing midnight are seen whole."""
    ordered = events.select("user_id", "event_ts", "event_type", "device", "event_id").sort(
        "user_id", "event_ts", "event_id"
    )
    marked = ordered.with_columns(
        new_session=(
            (pl.col("event_ts") - pl.col("event_ts").shift(1).over("user_id"))
            .gt(pl.lit(SESSION_GAP))
            .fill_null(True)
        )
    ).with_columns(session_number=pl.col("new_session").cast(pl.Int64).cum_sum().over("user_id"))
    sessions = marked.group_by("user_id", "session_number").agg(
        session_start=pl.col("event_ts").min(),
        session_end=pl.col("event_ts").max(),
        events=pl.len().cast(pl.Int64),
        converted=(pl.col("event_type") == "purchase").any(),
        device=pl.col("device").first(),
    )
    return (
        sessions.filter(pl.col("session_start").dt.date() == pl.lit(session_day))
        .with_columns(
            session_id=pl.concat_str(
                [
                    pl.col("user_id"),
                    pl.lit("-"),
                    pl.col("session_start").dt.epoch("ms").cast(pl.String),
                ]
            ),
            duration_s=(pl.col("session_end") - pl.col("session_start")).dt.total_microseconds()
            / 1e6,
        )
        .drop("session_number")
        .sort("session_start", "user_id")
    )
