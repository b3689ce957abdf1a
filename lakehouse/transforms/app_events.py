"""silver/app_events: typed events deduplicated by event_id, by UTC event date."""

from __future__ import annotations

import datetime as dt

import polars as pl

from lakehouse.landing.contract import DEVICES, EVENT_TYPES
from lakehouse.transforms.rules import (
    Cleaned,
    KeepFirst,
    allowed_values,
    apply_rules,
    not_null,
    window_rule,
)

FIRST_ARRIVAL = KeepFirst("event_id", ("arrival_date", "_source_file", "_source_line"))


def clean_app_events(
    bronze: pl.LazyFrame,
    event_day: dt.date,
    first_partition: dt.date,
    late_days: int,
    now: dt.datetime,
) -> Cleaned:
    """Events of `event_day` from the bronze arrival days event_day .. event_day+late_days.

    The partition also takes the rows that arrived on `event_day` but that no event-date
    partition can take (outside the late window, before the first partition, in the future),
    and quarantines them: so every bronze row is accounted for by exactly one silver partition.
    """
    event_date = pl.col("event_ts").dt.date()
    window = window_rule(event_date, pl.col("arrival_date"), first_partition, late_days, "event_ts")
    own = event_date == pl.lit(event_day)
    strays = window.broken.fill_null(True) & (pl.col("arrival_date") == pl.lit(event_day))
    # Filter on the stored columns, so the reader decodes the other columns of matching rows only.
    candidates = bronze.filter(own.fill_null(False) & ~window.broken.fill_null(True) | strays)
    checked = apply_rules(
        candidates,
        [
            not_null("event_id"),
            not_null("event_ts"),
            not_null("user_id"),
            window,
            allowed_values("event_type", EVENT_TYPES),
            allowed_values("device", DEVICES),
        ],
        now,
    )
    clean = checked.valid.with_columns(
        is_late=pl.col("event_ts").dt.date() < pl.col("arrival_date")
    )
    # A day can hold millions of events: the store deduplicates and sorts them within DuckDB's
    # memory limit (the first arrival of an event wins), not Polars in memory.
    return Cleaned(
        clean,
        checked.quarantined,
        candidates.select(rows_in=pl.len()),
        keep_first=FIRST_ARRIVAL,
    )
