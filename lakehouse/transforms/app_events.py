"""silver/app_events: typed events deduplicated by event_id, by UTC event date."""

from __future__ import annotations

import datetime as dt

import polars as pl

from lakehouse.landing.contract import DEVICES, EVENT_TYPES
from lakehouse.transforms.rules import (
    Cleaned,
    accounting,
    allowed_values,
    apply_rules,
    not_null,
    window_rule,
)


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
    rows = bronze.with_columns(event_date=pl.col("event_ts").dt.date())
    window = window_rule(
        pl.col("event_date"), pl.col("arrival_date"), first_partition, late_days, "event_ts"
    )
    own = pl.col("event_date") == pl.lit(event_day)
    strays = window.broken.fill_null(True) & (pl.col("arrival_date") == pl.lit(event_day))
    candidates = rows.filter(own.fill_null(False) & ~window.broken.fill_null(True) | strays)
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
    clean = (
        checked.valid.sort(["event_id", "arrival_date", "_source_file", "_source_line"])
        .unique("event_id", keep="first", maintain_order=True)
        .with_columns(is_late=pl.col("event_ts").dt.date() < pl.col("arrival_date"))
        .sort("event_ts", "event_id")
    )
    counts = accounting(candidates, checked.valid, "event_id")
    return Cleaned(clean, checked.quarantined, counts)
