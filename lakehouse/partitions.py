"""The shared partitioning (built from the settings) and the partition mappings between layers.

Late data is bounded: an event or an order update arrives at most `LATE_ARRIVAL_DAYS` days after
its event time. A silver partition for day D therefore reads the bronze (arrival-date) partitions
D .. D+LATE_ARRIVAL_DAYS, and the same window is declared to Dagster as a partition mapping, so a
late bronze partition marks exactly the older silver partitions it feeds as stale.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg

from lakehouse import settings

LATE_ARRIVAL_DAYS = 3
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
#: Sessions may cross midnight; a session day reads its neighbours to see whole sessions.
SESSION_NEIGHBOUR_DAYS = 1

SINGLE_RUN = dg.BackfillPolicy.single_run()


def backfill_policy(per_run: int | None) -> dg.BackfillPolicy:
    """One run per backfill on one machine; runs of `per_run` partitions when runs are spread
    over workers (`LAKEHOUSE_PARTITIONS_PER_RUN`, see `settings.partitions_per_run`)."""
    if per_run is None:
        return SINGLE_RUN
    return dg.BackfillPolicy.multi_run(max_partitions_per_run=per_run)


@dataclass(frozen=True)
class Partitioning:
    """The daily partitions definition and the backfill policy every partitioned asset shares.

    Built from the settings when the definitions are built, not at import: the partition set is
    part of the code location's identity, and the code location reads its settings when it loads.
    """

    daily: dg.DailyPartitionsDefinition
    #: The backfill policy of partitioned assets (unpartitioned ones always run once).
    backfill_policy: dg.BackfillPolicy

    @classmethod
    def from_settings(cls, code: settings.CodeSettings) -> Partitioning:
        return cls(
            # `end_offset=1`: today (UTC) is a partition while it runs, so its landing files
            # reach bronze in micro-batches (`landing/batches.py`), not tomorrow.
            daily=dg.DailyPartitionsDefinition(
                start_date=code.start_date.isoformat(), end_offset=1
            ),
            backfill_policy=backfill_policy(code.partitions_per_run),
        )

    @property
    def first_day(self) -> dt.date:
        return self.daily.start.date()


LATE_ARRIVAL_MAPPING = dg.TimeWindowPartitionMapping(
    start_offset=0, end_offset=LATE_ARRIVAL_DAYS, allow_nonexistent_upstream_partitions=True
)
SESSION_MAPPING = dg.TimeWindowPartitionMapping(
    start_offset=-SESSION_NEIGHBOUR_DAYS,
    end_offset=SESSION_NEIGHBOUR_DAYS,
    allow_nonexistent_upstream_partitions=True,
)


def day(key: str) -> dt.date:
    return dt.date.fromisoformat(key)


def window_keys(key: str, start_offset: int, end_offset: int) -> list[str]:
    """The daily keys from key+start_offset to key+end_offset, as the mappings above declare."""
    first = day(key)
    return [
        (first + dt.timedelta(days=offset)).isoformat()
        for offset in range(start_offset, end_offset + 1)
    ]


def late_arrival_keys(event_day: str) -> list[str]:
    """Arrival days whose files may hold events of `event_day`."""
    return window_keys(event_day, 0, LATE_ARRIVAL_DAYS)


def session_keys(first_day: str, last_day: str | None = None) -> list[str]:
    """Event days whose rows the sessions of `first_day` .. `last_day` are computed from."""
    span = (day(last_day or first_day) - day(first_day)).days
    return window_keys(first_day, -SESSION_NEIGHBOUR_DAYS, span + SESSION_NEIGHBOUR_DAYS)


def blocks(keys: Sequence[str], size: int) -> list[list[str]]:
    """Consecutive runs of at most `size` keys, in order (a gap in the keys starts a new run)."""
    runs: list[list[str]] = []
    for key in keys:
        if runs and len(runs[-1]) < size and day(key) - day(runs[-1][-1]) == dt.timedelta(days=1):
            runs[-1].append(key)
        else:
            runs.append([key])
    return runs


def range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags that make one run cover a partition range, as a single-run backfill does."""
    return {RANGE_START_TAG: first, RANGE_END_TAG: last}


def day_range(first: str, last: str) -> list[str]:
    start, end = day(first), day(last)
    return [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
