"""The quality history: every check evaluation appended to a lake table, and the daily score.

The score of a table on a day is the share of rows that passed its checks: for each partition
(the data's day) and check, the latest evaluation counts, and the score is
1 - sum(rows_failed) / sum(rows_checked) over them. Schema drift describes files, not rows, so
it is recorded but does not lower the score.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from lakehouse.quality.evaluate import DRIFT
from lakehouse.storage import LakeStore
from lakehouse.table_spec import DEFAULT_PASS_THRESHOLD
from lakehouse.tables import QUALITY_CHECK_RESULTS, find_table


def record(store: LakeStore, rows: Sequence[dict]) -> None:
    """Append evaluations, partitioned by the day they were evaluated."""
    if not rows:
        return
    frame = pl.DataFrame(list(rows), schema=QUALITY_CHECK_RESULTS.polars_schema)
    for (day,), part in frame.group_by(pl.col("evaluated_at").dt.date(), maintain_order=True):
        store.append(QUALITY_CHECK_RESULTS, day.isoformat(), part)


def results(store: LakeStore) -> pl.LazyFrame:
    return store.scan(QUALITY_CHECK_RESULTS)


def pass_threshold(table: str) -> float:
    """The threshold declared on the table the history names; the default for a table that is
    no longer declared, so old history still reports."""
    try:
        return find_table(table).pass_threshold
    except KeyError:
        return DEFAULT_PASS_THRESHOLD


def daily_scores(evaluations: pl.LazyFrame) -> pl.LazyFrame:
    """table, day, score, rows_checked, rows_failed, error_failures: one row per table and day."""
    latest = (
        evaluations.filter(pl.col("check") != DRIFT)
        .with_columns(
            day=pl.coalesce(
                pl.col("partition").str.to_date(strict=False), pl.col("evaluated_at").dt.date()
            )
        )
        .sort("evaluated_at")
        .group_by("table", "day", "check")
        .agg(pl.all().last())
    )
    return (
        latest.group_by("table", "day")
        .agg(
            rows_checked=pl.col("rows_checked").sum(),
            rows_failed=pl.col("rows_failed").sum(),
            error_failures=((pl.col("severity") == "ERROR") & ~pl.col("passed")).sum(),
            last_evaluated_at=pl.col("evaluated_at").max(),
        )
        .with_columns(
            score=pl.when(pl.col("rows_checked") > 0)
            .then(1 - pl.col("rows_failed") / pl.col("rows_checked"))
            .otherwise(1.0)
        )
        .sort("table", "day")
    )


def trend(scores: pl.DataFrame, days: int, today: dt.date | None = None) -> pl.DataFrame:
    """Per table: the latest score, the score `days` days before it, and the change."""
    if scores.is_empty():
        return pl.DataFrame(
            schema={
                "table": pl.String,
                "day": pl.Date,
                "score": pl.Float64,
                "previous_score": pl.Float64,
                "change": pl.Float64,
                "days": pl.Int64,
            }
        )
    recent = scores
    if today is not None:
        recent = scores.filter(pl.col("day") > today - dt.timedelta(days=days))
    return (
        recent.sort("day")
        .group_by("table", maintain_order=True)
        .agg(
            day=pl.col("day").last(),
            score=pl.col("score").last(),
            previous_score=pl.col("score").tail(days).first(),
            days=pl.col("day").tail(days).len().cast(pl.Int64),
        )
        .with_columns(change=pl.col("score") - pl.col("previous_score"))
        .sort("table")
    )
