"""What a maintenance operation did (or, in a dry run, would do), and its audit history."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import polars as pl

from lakehouse.storage import LakeStore
from lakehouse.tables import MAINTENANCE_HISTORY


@dataclass
class Action:
    """One change to the lake: a partition rewritten or deleted, or a leftover removed."""

    operation: str
    table: str
    partition: str | None
    files_before: int
    bytes_before: int
    files_after: int = 0
    bytes_after: int = 0
    rows: int = 0
    detail: str = ""
    performed_at: dt.datetime | None = None
    seconds: float = 0.0

    def describe(self, planned: bool = False) -> str:
        """One line; a planned action shows what it would start from."""
        where = f"{self.table}" + (f" {self.partition}" if self.partition else "")
        sizes = f"{self.files_before} files {self.bytes_before:,} B"
        if not planned:
            sizes += f" -> {self.files_after} files {self.bytes_after:,} B"
        return f"{self.operation:<9} {where}: {sizes}" + (
            f" ({self.detail})" if self.detail else ""
        )


def last_rewrites(
    store: LakeStore, operations: Sequence[str]
) -> dict[tuple[str, str | None], dt.datetime]:
    """When each partition was last rewritten by one of `operations` (skipped ones aside)."""
    done = (
        store.scan(MAINTENANCE_HISTORY)
        .filter(
            pl.col("operation").is_in(list(operations))
            & ~pl.col("detail").fill_null("").str.starts_with("skipped")
        )
        .group_by("table", "partition")
        .agg(pl.col("performed_at").max())
        .collect()
    )
    return {(table, key): at for table, key, at in done.iter_rows()}


def record(store: LakeStore, actions: Sequence[Action]) -> None:
    """Append performed actions to the history (a dry run records nothing: it changes nothing)."""
    if not actions:
        return
    now = dt.datetime.now(dt.UTC)
    rows = [{**asdict(action), "performed_at": action.performed_at or now} for action in actions]
    frame = pl.DataFrame(rows, schema=MAINTENANCE_HISTORY.polars_schema)
    store.append(MAINTENANCE_HISTORY, now.date().isoformat(), frame)
