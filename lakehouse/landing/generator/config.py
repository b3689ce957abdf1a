"""What a sample is (start, days, volume, seed) and the random streams every part draws from."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

CHUNK_ROWS = 100_000
MAX_LATE_DAYS = 3
DAY_MS = 86_400_000
HOUR_MS = 3_600_000

# One number per stream, so a source's draws never shift when another source changes.
_STREAMS = {
    "app_events": 1,
    "orders": 2,
    "customers": 3,
    "products": 4,
    "population": 5,
    "volumes": 6,
    "reviews": 7,
}


@dataclass(frozen=True)
class GeneratorConfig:
    start: dt.date
    days: int
    #: The mean over the sample's days; each day varies around it (see `volumes.py`).
    events_per_day: int
    seed: int = 42
    #: The mean number of product reviews a day; None derives it from `events_per_day` (see
    #: `reviews_per_day`).
    review_volume: int | None = None

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ValueError("days must be at least 1")
        if self.events_per_day < 24:
            raise ValueError("events_per_day must be at least 24 (one per hourly file)")
        if self.review_volume is not None and self.review_volume < 1:
            raise ValueError("review_volume must be at least 1 when given")

    @property
    def customers(self) -> int:
        return max(50, self.events_per_day // 20)

    @property
    def reviews_per_day(self) -> int:
        """The mean number of reviews a day: `review_volume`, else one per 50 events, at least
        200."""
        if self.review_volume is not None:
            return self.review_volume
        return max(200, self.events_per_day // 50)

    @property
    def products(self) -> int:
        return max(20, min(2000, self.events_per_day // 200))

    @property
    def extra_column_day(self) -> int:
        """The day whose order files carry an unexpected extra column."""
        return min(3, self.days - 1)

    def date(self, day: int) -> dt.date:
        return self.start + dt.timedelta(days=day)

    def day_ms(self, day: int) -> int:
        """Midnight UTC of sample day `day`, in epoch milliseconds."""
        date = self.date(day)
        midnight = dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC)
        return int(midnight.timestamp() * 1000)


def rng(config: GeneratorConfig, stream: str, *parts: int) -> np.random.Generator:
    """A generator seeded by (seed, stream, parts): the same draws whatever order work runs in."""
    return np.random.default_rng([config.seed, _STREAMS[stream], *parts])
