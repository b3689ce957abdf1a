"""App events: 24 hourly gzip files of JSON lines a day, written in chunks so memory stays flat."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl

from lakehouse.landing.contract import DEVICES, EVENT_TYPES
from lakehouse.landing.generator.config import (
    CHUNK_ROWS,
    DAY_MS,
    HOUR_MS,
    MAX_LATE_DAYS,
    GeneratorConfig,
    rng,
)
from lakehouse.landing.generator.faults import Fault, cut_line, inject, set_column, unchanged
from lakehouse.landing.generator.text import GzipLines, ids, json_object, quoted
from lakehouse.landing.generator.volumes import split_hours

UNKNOWN_EVENT_TYPE = "screen_tap"
_EVENT_TYPE_P = (0.55, 0.15, 0.10, 0.03, 0.08, 0.06, 0.03)
_DEVICE_P = (0.35, 0.35, 0.30)
_APP_VERSIONS = ("3.2.0", "3.2.1", "3.3.0", "3.4.0-beta")
_TZ_SUFFIXES = ("Z", "+00:00", "+02:00", "-05:00", "+05:30")
_TZ_MINUTES = (0, 0, 120, -300, 330)
_SEARCH_WORDS = ("shoes", "red dress", "laptop", "headphones", "coffee", "desk lamp", "tent")


def _arrive_late(rows: pl.DataFrame, draws: np.random.Generator, day: int) -> pl.DataFrame:
    """Delivered today but happened one to three days earlier (never before the sample)."""
    lag = draws.integers(1, min(MAX_LATE_DAYS, day) + 1, rows.height)
    return rows.with_columns(pl.col("ms") - pl.Series(lag * DAY_MS))


FAULTS = (
    Fault("late_events", 0.02, _arrive_late, first_day=1),
    Fault("duplicate_events", 0.01, unchanged, copies=True),
    Fault("malformed_lines", 0.001, cut_line(1 / 2), breaks="line"),
    Fault("wrong_type_lines", 0.0005, set_column("latency_ms", '"fast"')),
    Fault("null_keys", 0.0005, set_column("event_id", None)),
    Fault("unknown_event_types", 0.0005, set_column("event_type", UNKNOWN_EVENT_TYPE)),
)


def write_events(
    folder: Path, config: GeneratorConfig, day: int, total: int, users: np.ndarray
) -> dict[str, int]:
    """Write the day's `total` events over its hourly files and return what they hold."""
    counts: Counter[str] = Counter()
    for hour, rows in enumerate(split_hours(config, day, total)):
        with GzipLines(folder / f"events-{hour:02d}.jsonl.gz") as out:
            for chunk, offset in enumerate(range(0, int(rows), CHUNK_ROWS)):
                size = min(CHUNK_ROWS, int(rows) - offset)
                draws = rng(config, "app_events", day, hour, chunk)
                events = _draw(config, draws, day, hour, offset, size, users)
                first_chunk = hour == 0 and chunk == 0
                delivery = inject(events, FAULTS, draws, day, first_chunk, _with_lines)
                out.write(delivery.rows["line"])
                counts.update({"lines": delivery.rows.height, "events": size, **delivery.counts})
        counts["files"] += 1
    return dict(counts)


def _draw(
    config: GeneratorConfig,
    draws: np.random.Generator,
    day: int,
    hour: int,
    offset: int,
    rows: int,
    users: np.ndarray,
) -> pl.DataFrame:
    """Healthy events of one hour: `ms` is the UTC instant, `tz` the sender's time zone."""
    midnight = config.day_ms(day)
    latency = np.round(draws.lognormal(5.0, 0.6, rows)).astype(np.int64).astype(str)
    latency[draws.random(rows) < 0.05] = "null"
    prefix = f"e{config.date(day):%Y%m%d}{hour:02d}-"
    return pl.DataFrame(
        {
            "event_id": ids(prefix, offset + np.arange(rows), 7),
            "user_id": ids("C", draws.choice(users, rows), 7),
            "event_type": np.array(EVENT_TYPES)[
                draws.choice(len(EVENT_TYPES), rows, p=_EVENT_TYPE_P)
            ],
            "ms": midnight + hour * HOUR_MS + draws.integers(0, HOUR_MS, rows),
            "tz": draws.integers(0, len(_TZ_SUFFIXES), rows),
            "device": np.array(DEVICES)[draws.choice(len(DEVICES), rows, p=_DEVICE_P)],
            "app_version": np.array(_APP_VERSIONS)[draws.integers(0, len(_APP_VERSIONS), rows)],
            "latency_ms": latency,
            "product": ids("P", draws.integers(1, config.products + 1, rows), 5),
            "quantity": draws.integers(1, 4, rows),
            "query": np.array(_SEARCH_WORDS)[draws.integers(0, len(_SEARCH_WORDS), rows)],
        }
    )


def _with_lines(frame: pl.DataFrame) -> pl.DataFrame:
    event_type = pl.col("event_type")
    local = (
        pl.col("ms") + pl.col("tz").replace_strict(range(len(_TZ_MINUTES)), _TZ_MINUTES) * 60_000
    )
    timestamp = pl.concat_str(
        [
            pl.from_epoch(local, time_unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%S%.3f"),
            pl.col("tz").replace_strict(range(len(_TZ_SUFFIXES)), _TZ_SUFFIXES),
        ]
    )
    properties = (
        pl.when(event_type == "page_view")
        .then(json_object({"page": quoted(pl.concat_str([pl.lit("/product/"), "product"]))}))
        .when(event_type == "search")
        .then(json_object({"query": quoted(pl.col("query"))}))
        .when(event_type.is_in(["add_to_cart", "purchase"]))
        .then(
            json_object(
                {
                    "product_id": quoted(pl.col("product")),
                    "quantity": pl.col("quantity").cast(pl.String),
                }
            )
        )
    )
    line = json_object(
        {
            "event_id": quoted(pl.col("event_id")),
            "user_id": quoted(pl.col("user_id")),
            "event_type": quoted(event_type),
            "event_ts": quoted(timestamp),
            "device": quoted(pl.col("device")),
            "app_version": quoted(pl.col("app_version")),
            "latency_ms": pl.col("latency_ms"),
        },
        tail=pl.concat_str([pl.lit(',"properties":'), properties]).fill_null(""),
    )
    return frame.with_columns(line=line)
