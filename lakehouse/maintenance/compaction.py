"""Compaction and sort clustering: a partition's files rewritten, with the same rows, in one
Delta commit that readers see whole.

Compaction of a table without sort keys is delta-rs's `optimize.compact`: small files binned into
files near the target size. A table with sort keys (for example `gold.fact_sales` by customer
and product) is compacted and clustered by one sorted rewrite through DuckDB (spilling past its
memory limit), so row-group min/max statistics let DuckDB skip row groups; a content checksum of
old and new must match, and the commit is made only if no writer changed the table since the
files were read. Not delta-rs's `z_order`: a Z-curve interleaves the keys where DuckDB prunes
best on the first key's order, and its files declare no order, so a clustered partition could
not be told from one still to cluster and every run would rewrite it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import polars as pl

from lakehouse.maintenance.actions import Action
from lakehouse.storage import LakeStore, TableSpec
from lakehouse.storage.filesystem import FileEntry
from lakehouse.storage.parquet import ROW_GROUP_ROWS
from lakehouse.storage.sorting import parquet_source, sorted_query, stage_query
from lakehouse.storage.sqltext import ident
from lakehouse.storage.store import PartitionChanged

#: Files of a compacted partition are cut near this size.
TARGET_FILE_BYTES = 128 * 2**20
COMPACT, CLUSTER = "compact", "cluster"


class ChecksumMismatch(RuntimeError):
    """Rewritten files whose rows differ from the originals: nothing was published."""


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
    """Partitions to compact (more files than their size needs) or to cluster (files not
    declared sorted by the table's `sort_by`)."""
    candidates = []
    for spec in specs:
        if operation == CLUSTER and not spec.sort_by:
            continue
        table = store.delta_table(spec)
        if table is None:
            continue
        version = table.version()
        for key, files in store.files_by_partition(spec, version=version).items():
            reason = _reason(store, spec, files, operation, target_bytes)
            if reason:
                candidates.append(Candidate(spec, key, files, reason, version))
    return candidates


def _reason(
    store: LakeStore, spec: TableSpec, files: list[FileEntry], operation: str, target_bytes: int
) -> str | None:
    if operation == COMPACT:
        needed = max(1, math.ceil(sum(entry.size for entry in files) / target_bytes))
        return f"{len(files)} files where {needed} will do" if len(files) > needed else None
    width = len(spec.sort_by)
    unsorted = [entry for entry in files if store.sorted_by(entry.path)[:width] != spec.sort_by]
    if unsorted:
        return f"{len(unsorted)} of {len(files)} files not sorted by {', '.join(spec.sort_by)}"
    return None


def checksum(con: duckdb.DuckDBPyConnection, spec: TableSpec, source: str) -> tuple[int, int]:
    """Row count and an order-independent hash of every row's values."""
    columns = ", ".join(ident(name) for name in spec.schema)
    query = f"SELECT count(*), coalesce(sum(hash({columns})::HUGEINT), 0) FROM {source}"
    rows, total = con.sql(query).fetchall()[0]
    return int(rows), int(total)


def rewrite(
    store: LakeStore,
    con: duckdb.DuckDBPyConnection,
    candidate: Candidate,
    operation: str,
    target_bytes: int = TARGET_FILE_BYTES,
) -> Action:
    """Rewrite one partition: delta-rs compaction, or the checked sorted rewrite for a table
    with sort keys."""
    started = time.monotonic()
    if operation == COMPACT and not candidate.spec.sort_by:
        metrics = store.compact(candidate.spec, candidate.key, target_bytes)
        action = candidate.action(operation, candidate.reason)
        action.files_after = int(metrics.get("numFilesAdded", 0))
        added = metrics.get("filesAdded") or {}
        added = json.loads(added) if isinstance(added, str) else added
        action.bytes_after = int(added.get("totalSize", 0))
        action.rows = _rows(store, candidate)
    else:
        action = _sorted_rewrite(store, con, candidate, operation, target_bytes)
    action.seconds = round(time.monotonic() - started, 3)
    return action


def _rows(store: LakeStore, candidate: Candidate) -> int:
    keys = None if candidate.key is None else [candidate.key]
    return store.scan(candidate.spec, keys).select(pl.len()).collect().item()


def _sorted_rewrite(
    store: LakeStore,
    con: duckdb.DuckDBPyConnection,
    candidate: Candidate,
    operation: str,
    target_bytes: int,
) -> Action:
    """Rewrite a partition sorted by its table's keys; refuse to commit unless the checksum
    of its rows is unchanged and nobody changed the table meanwhile."""
    spec, key = candidate.spec, candidate.key
    paths = [entry.path for entry in candidate.files]
    store.prepare_duckdb(con)
    source = parquet_source(store, paths)
    before = checksum(con, spec, source)
    size = sum(entry.size for entry in candidate.files)
    bytes_per_row = size / max(1, before[0])
    rows_per_file = max(ROW_GROUP_ROWS, int(target_bytes / max(bytes_per_row, 1e-9)))
    writer = LakeStore(
        store.fs,
        max_file_rows=rows_per_file,
        scratch_dir=store.scratch_fs.root,
        run_id=store.run_id,
    )
    order = list(spec.sort_by)
    staged = stage_query(writer, con, spec, key, sorted_query(spec, source, order), order)
    after = checksum(con, spec, parquet_source(store, list(staged.files)))
    if after != before:
        store.discard(staged)
        raise ChecksumMismatch(
            f"{spec.qualified_name} {key}: rewritten rows {after} differ from {before}; "
            "the partition is unchanged"
        )
    try:
        store.commit_if_unchanged(staged, candidate.version, rewrite=True)
    except PartitionChanged:
        return candidate.action(operation, "skipped: the table changed meanwhile")
    action = candidate.action(operation, candidate.reason)
    action.files_after, action.bytes_after, action.rows = len(staged.files), staged.bytes, before[0]
    return action
