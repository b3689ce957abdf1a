"""Benchmark sizes: how much data each measurement uses.

XS is the smoke run `make test` executes (it proves the harness works, its figures mean
nothing, so it builds as few lakes as every section allows: two scaling points, the main one
reused, and the queries run on the main lake); S, M and L are real runs. A size's scaling
points share its number of days and vary the events per day, so the top of L is 10M events a
day.
"""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse.bench.freshness import FreshnessRun


@dataclass(frozen=True)
class Dataset:
    days: int
    events_per_day: int

    @property
    def events(self) -> int:
        return self.days * self.events_per_day

    @property
    def label(self) -> str:
        return f"{self.days}d x {self.events_per_day:,} events"


@dataclass(frozen=True)
class BenchSize:
    name: str
    #: Bronze ingest against the baselines, and the full graph.
    main: Dataset
    #: Full-graph runs at growing volume (the main dataset is one of them).
    scaling: tuple[Dataset, ...]
    #: Daily partitions of a tiny table backfilled in one run, and single-partition runs to
    #: extrapolate from.
    backfill_partitions: int
    single_partition_runs: int
    #: A lake of `incremental.days` days gains one more day.
    incremental: Dataset
    #: The lake the analyst queries run on.
    queries: Dataset
    query_repetitions: int
    sensor_files: int
    #: Today's files landing one after another under `lakehouse build --watch`.
    freshness: FreshnessRun
    #: Reviews the sentiment model trains on and scores (section 9; the goal is stated at 1M).
    sentiment_reviews: int = 1_000_000
    #: Concurrent API clients reading a day of gold.fact_sales, and for how long (section 10).
    api_clients: int = 50
    api_seconds: float = 30.0


def _scaling(days: int, *per_day: int) -> tuple[Dataset, ...]:
    return tuple(Dataset(days, events) for events in per_day)


SIZES: dict[str, BenchSize] = {
    "XS": BenchSize(
        name="XS",
        main=Dataset(2, 3_000),
        scaling=_scaling(2, 1_500, 3_000),
        backfill_partitions=12,
        single_partition_runs=1,
        incremental=Dataset(1, 1_000),
        queries=Dataset(2, 3_000),
        query_repetitions=5,
        sensor_files=300,
        freshness=FreshnessRun(files=3, spacing_s=1, interval_s=1, settle_s=0, events_per_file=200),
        sentiment_reviews=20_000,
        api_seconds=3.0,
    ),
    "S": BenchSize(
        name="S",
        main=Dataset(3, 100_000),
        scaling=_scaling(3, 50_000, 100_000, 200_000),
        backfill_partitions=365,
        single_partition_runs=3,
        incremental=Dataset(30, 10_000),
        queries=Dataset(365, 2_000),
        query_repetitions=20,
        sensor_files=10_000,
        # One file every 10 s for 5 minutes, rounds every 30 s with the default settle delay.
        freshness=FreshnessRun(
            files=30, spacing_s=10, interval_s=30, settle_s=10, events_per_file=5_000
        ),
    ),
    "M": BenchSize(
        name="M",
        main=Dataset(4, 500_000),
        scaling=_scaling(4, 250_000, 500_000, 1_000_000),
        backfill_partitions=365,
        single_partition_runs=3,
        incremental=Dataset(30, 50_000),
        queries=Dataset(365, 5_000),
        query_repetitions=20,
        sensor_files=10_000,
        # One file every 10 s for 5 minutes, rounds every 30 s with the default settle delay.
        freshness=FreshnessRun(
            files=30, spacing_s=10, interval_s=30, settle_s=10, events_per_file=5_000
        ),
    ),
    "L": BenchSize(
        name="L",
        main=Dataset(2, 2_500_000),
        scaling=_scaling(2, 500_000, 2_500_000, 10_000_000),
        backfill_partitions=365,
        single_partition_runs=3,
        incremental=Dataset(30, 100_000),
        queries=Dataset(365, 10_000),
        query_repetitions=20,
        sensor_files=10_000,
        # One file every 10 s for 5 minutes, rounds every 30 s with the default settle delay.
        freshness=FreshnessRun(
            files=30, spacing_s=10, interval_s=30, settle_s=10, events_per_file=5_000
        ),
    ),
}
