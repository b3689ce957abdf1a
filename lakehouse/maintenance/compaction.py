"""Compaction and clustering on delta-rs: a partition's files rewritten, with the same rows, in
one Delta commit that readers see whole.

A table without sort keys is compacted by `optimize.compact` (small files binned near the target
size). A table with sort keys (for example `gold.fact_sales` by customer and product) is
compacted and clustered by `optimize.z_order` on them, as the seeds' `OPTIMIZE ... ZORDER BY`
did: rows close in the keys share files and row groups, so min/max statistics let readers skip
the rest. Tables with sort keys are published in that order (their transforms sort, or the
store's sorted stage), so a partition one commit wrote is clustered already; one that grew by
appends after its last rewrite (the maintenance history says when) is not. Either rewrite
commits on the version the plan read: if a writer changed the partition since, delta-rs
refuses it and the writer's rows stay.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from lakehouse.maintenance.actions import Action, last_rewrites
from lakehouse.storage import FileEntry, LakeStore, PartitionChanged
from lakehouse.table_spec import TableSpec

#: Files of a compacted partition are cut near this size.
TARGET_FILE_BYTES = 128 * 2**20
COMPACT, CLUSTER = "compact", "cluster"


@dataclass(frozen=True)
class Candidate:
    spec: TableSpec
    key: str | None
    files: list[FileEntry]
    reason: str
    #: The table version the files were listed at: a rewrite commits only over it.
    version: int = 0

    def action(self, operation: str, detail: str) -> Action:
        """The audit record, with what the partition held before."""
        size = sum(entry.size for entry in self.files)
        return Action(
            operation, self.spec.qualified_name, self.key, len(self.files), size, detail=detail
        )


def plan(
    store: LakeStore,
    specs: Sequence[TableSpec],
    operation: str,
    target_bytes: int = TARGET_FILE_BYTES,
) -> list[Candidate]:
    """Partitions to compact (more files than their size needs) or to cluster (a table with
    sort keys whose partition has files committed since its last rewrite)."""
    rewritten = last_rewrites(store, (COMPACT, CLUSTER)) if operation == CLUSTER else {}
    candidates = []
    for spec in specs:
        if operation == CLUSTER and not spec.sort_by:
            continue
        table = store.delta_table(spec)
        if table is None:
            continue
        version = table.version()
        for key, files in store.files_by_partition(spec, version=version).items():
            if operation == COMPACT:
                reason = _too_many(files, target_bytes)
            else:
                reason = _unclustered(spec, files, rewritten.get((spec.qualified_name, key)))
            if reason:
                candidates.append(Candidate(spec, key, files, reason, version))
    return candidates


def _too_many(files: list[FileEntry], target_bytes: int) -> str | None:
    needed = max(1, math.ceil(sum(entry.size for entry in files) / target_bytes))
    return f"{len(files)} files where {needed} will do" if len(files) > needed else None


def _unclustered(spec: TableSpec, files: list[FileEntry], last: dt.datetime | None) -> str | None:
    commits = len({entry.mtime_ns for entry in files})  # a commit stamps its files alike
    if commits <= 1:
        return None  # one publish (in the table's order) or one rewrite wrote it
    newer = [entry for entry in files if last is None or entry.mtime_ns > last.timestamp() * 1e9]
    if not newer:
        return None
    return (
        f"{len(newer)} of {len(files)} files appended since it was last clustered by "
        f"{', '.join(spec.sort_by)}"
    )


def rewrite(
    store: LakeStore,
    candidate: Candidate,
    operation: str,
    target_bytes: int = TARGET_FILE_BYTES,
) -> Action:
    """Rewrite one partition with delta-rs (Z-ordered when its table has sort keys)."""
    started = time.monotonic()
    try:
        metrics = store.optimize(
            candidate.spec, candidate.key, target_bytes, read_version=candidate.version
        )
    except PartitionChanged:
        return candidate.action(operation, "skipped: the table changed meanwhile")
    action = candidate.action(operation, candidate.reason)
    action.performed_at = dt.datetime.now(dt.UTC)
    action.files_after = int(metrics.get("numFilesAdded", 0))
    action.bytes_after = int(_json(metrics.get("filesAdded")).get("totalSize", 0))
    keys = None if candidate.key is None else [candidate.key]
    action.rows = store.scan(candidate.spec, keys).select(pl.len()).collect().item()
    action.seconds = round(time.monotonic() - started, 3)
    return action


def _json(value: object) -> Mapping[str, object]:
    """delta-rs reports some metrics as JSON text."""
    if isinstance(value, str):
        return json.loads(value)
    return value if isinstance(value, Mapping) else {}
