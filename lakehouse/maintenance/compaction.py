"""Compaction and sort clustering: rewrite a partition's files, atomically, with the same rows.

Compaction turns many small files into as few as the target size allows, with well-sized row
groups. Clustering rewrites a partition sorted by its table's `sort_by` keys (for example
`gold.fact_sales` by customer and product), so row-group min/max statistics let DuckDB skip row
groups. Both read the old files and write the new ones through DuckDB (spilling past its memory
limit), compare a content checksum of old and new, and swap the partition in one rename; the old
version waits in the trash for vacuum.
"""

from __future__ import annotations

import math
import posixpath
import time
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from lakehouse.maintenance.actions import Action
from lakehouse.storage import LakeStore, TableSpec
from lakehouse.storage.filesystem import FileEntry
from lakehouse.storage.sorting import parquet_source, sorted_query, stage_query
from lakehouse.storage.sqltext import ident
from lakehouse.storage.store import ROW_GROUP_ROWS, PartitionChanged

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
        for key, files in store.files_by_partition(spec).items():
            reason = _reason(store, spec, files, operation, target_bytes)
            if reason:
                candidates.append(Candidate(spec, key, files, reason))
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
    """Rewrite one partition; refuse to publish unless the checksum of its rows is unchanged."""
    started = time.monotonic()
    spec, key = candidate.spec, candidate.key
    paths = [entry.path for entry in candidate.files]
    store.prepare_duckdb(con)
    source = parquet_source(store, paths)
    before = checksum(con, spec, source)
    size = sum(entry.size for entry in candidate.files)
    bytes_per_row = size / max(1, before[0])
    rows_per_file = max(ROW_GROUP_ROWS, int(target_bytes / max(bytes_per_row, 1e-9)))
    writer = LakeStore(store.fs, max_file_rows=rows_per_file, scratch_dir=store.scratch_fs.root)
    order = list(spec.sort_by)  # compaction keeps (or sets) the table's order too
    staged = stage_query(writer, con, spec, key, sorted_query(spec, source, order), order)
    after = checksum(con, spec, parquet_source(store, list(staged.files)))
    if after != before:
        store.discard(staged)
        raise ChecksumMismatch(
            f"{spec.qualified_name} {key}: rewritten rows {after} differ from {before}; "
            "the partition is unchanged"
        )
    try:
        # Only over the files it read: a run that republished the partition meanwhile wins.
        store.commit(
            staged, keep_previous=True, expect_files={posixpath.basename(p) for p in paths}
        )
    except PartitionChanged:
        return candidate.action(operation, "skipped: the partition was republished meanwhile")
    action = candidate.action(operation, candidate.reason)
    action.files_after, action.bytes_after, action.rows = len(staged.files), staged.bytes, before[0]
    action.seconds = round(time.monotonic() - started, 3)
    return action
