"""Write-audit-publish: the one way a partition and its rejected rows reach the lake.

Every bronze, silver and gold table publishes through `publish_audited`: the clean rows are
staged (written and verified, invisible to readers), then the rejected rows into the table's
quarantine, then `audit` runs on the staged files. Only if it returns are they committed,
quarantine first, so a row is never missing from both tables; whatever it raises (a failed
ERROR check, rows that do not add up), the staged files are deleted and readers keep the
previous version.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

import polars as pl
import pyarrow as pa
from deltalake import Transaction

from lakehouse.storage.store import LakeStore, PublishedPartition, StagedPartition
from lakehouse.table_spec import TableSpec

T = TypeVar("T")
Rows = pl.DataFrame | pl.LazyFrame | Iterable[pl.DataFrame | pa.RecordBatch]


@dataclass(frozen=True)
class Quarantine:
    """Where a partition's rejected rows go. `rows` is called once the clean rows are staged:
    a streamed source knows its rejects only after it has been read."""

    table: TableSpec
    rows: Callable[[], Rows]


@dataclass(frozen=True)
class AppendOnce:
    """Append instead of replace, exactly once: Delta application transaction `app_id` at
    `version` (see `LakeStore.append_once`)."""

    app_id: str
    version: int


@dataclass(frozen=True)
class Audited(Generic[T]):
    #: None when appending a batch an earlier attempt already committed.
    published: PublishedPartition | None
    quarantined: PublishedPartition | None
    #: What the audit returned (its outcomes, say).
    audit: T


def publish_audited(
    store: LakeStore,
    spec: TableSpec,
    key: str | None,
    clean: Rows | StagedPartition,
    audit: Callable[[StagedPartition, StagedPartition | None], T],
    quarantine: Quarantine | None = None,
    once: AppendOnce | None = None,
    watermark: Transaction | None = None,
) -> Audited[T]:
    """Stage `clean` (or take files already staged), stage the rejects, audit, then commit
    quarantine and table; nothing is committed if anything raises. With `once`, the rows are
    appended to the partition rather than replacing it, each table skipping the batch if it
    already has it. `watermark` is recorded with the table's commit (an application
    transaction: how far into its input the partition was computed)."""
    staged: list[StagedPartition] = []
    try:
        table = clean if isinstance(clean, StagedPartition) else store.stage(spec, key, clean)
        if watermark is not None:
            table = dataclasses.replace(table, watermark=watermark)
        staged.append(table)
        rejected = None
        if quarantine is not None:
            rejected = store.stage(quarantine.table, key, quarantine.rows())
            staged.append(rejected)
        verdict = audit(table, rejected)
    except BaseException:
        for part in staged:
            store.discard(part)
        raise
    if once is not None:
        quarantined = (
            store.append_once(rejected, once.app_id, once.version) if rejected is not None else None
        )
        return Audited(store.append_once(table, once.app_id, once.version), quarantined, verdict)
    quarantined = store.commit(rejected) if rejected is not None else None
    return Audited(store.commit(table), quarantined, verdict)
