"""gold/user_segments: recency, frequency, monetary value and engagement per user.

Formula (as of the latest day with sessions, D):
- recency_days: days from the user's last revenue order to D (NULL when none);
- frequency and monetary_usd: count and USD sum of the user's revenue orders (an exact sum of
  cents, `lakehouse.money`);
- events_30d, sessions_30d: events and sessions that started in D-29 .. D;
- engagement_score = 100 * (0.6 * min(sessions_30d / 20, 1) + 0.4 * min(events_30d / 200, 1));
- churn_risk: no session in D-6 .. D and (no revenue order or recency_days > 14);
- segment, first match: at_risk (churn_risk), champion (frequency >= 3 and recency_days <= 7),
  loyal (frequency >= 2), customer (frequency = 1), browser (no revenue order).
"""

from __future__ import annotations

import polars as pl

from lakehouse.money import MONEY


def user_segments(facts: pl.LazyFrame, sessions: pl.LazyFrame) -> pl.LazyFrame:
    as_of = sessions.select(as_of_date=pl.col("session_start").dt.date().max())
    visits = (
        sessions.join(as_of, how="cross")
        .with_columns(
            age=(pl.col("as_of_date") - pl.col("session_start").dt.date()).dt.total_days()
        )
        .group_by("user_id")
        .agg(
            events_30d=pl.col("events").filter(pl.col("age") < 30).sum().cast(pl.Int64),
            sessions_30d=(pl.col("age") < 30).sum().cast(pl.Int64),
            sessions_7d=(pl.col("age") < 7).sum().cast(pl.Int64),
        )
    )
    purchases = (
        facts.filter(pl.col("is_revenue"))
        .group_by(user_id=pl.col("customer_id"))
        .agg(
            last_order=pl.col("order_ts").max().dt.date(),
            frequency=pl.len().cast(pl.Int64),
            monetary_usd=pl.col("amount_usd").sum().cast(MONEY),
        )
    )
    users = pl.concat([visits.select("user_id"), purchases.select("user_id")]).unique()
    scored = (
        users.join(visits, on="user_id", how="left")
        .join(purchases, on="user_id", how="left")
        .join(as_of, how="cross")
        .with_columns(
            pl.col("events_30d", "sessions_30d", "sessions_7d", "frequency").fill_null(0),
            pl.col("monetary_usd").fill_null(0),
            recency_days=(pl.col("as_of_date") - pl.col("last_order")).dt.total_days(),
        )
        .with_columns(
            engagement_score=(
                100
                * (
                    0.6 * (pl.col("sessions_30d") / 20).clip(upper_bound=1.0)
                    + 0.4 * (pl.col("events_30d") / 200).clip(upper_bound=1.0)
                )
            ).round(1),
            churn_risk=(pl.col("sessions_7d") == 0)
            & (pl.col("recency_days").is_null() | (pl.col("recency_days") > 14)),
        )
    )
    segment = (
        pl.when(pl.col("churn_risk"))
        .then(pl.lit("at_risk"))
        .when((pl.col("frequency") >= 3) & (pl.col("recency_days") <= 7))
        .then(pl.lit("champion"))
        .when(pl.col("frequency") >= 2)
        .then(pl.lit("loyal"))
        .when(pl.col("frequency") == 1)
        .then(pl.lit("customer"))
        .otherwise(pl.lit("browser"))
    )
    return scored.with_columns(segment=segment).sort("user_id")
