"""Retention (whole expired partitions) and vacuum (what no recent version needs).

Retention takes each partition older than its table's retention (declared on its spec) out of
the table with a Delta delete (one commit; the files stay readable in older versions until
vacuum), then tells Dagster the partition is gone (wiped, not materialized). Vacuum is Delta's:
per table, the files no version younger than the grace period needs (replaced, deleted, or left
uncommitted by writers that died) are deleted, then a checkpoint is written and expired log
entries go. Beside the tables it deletes scratch folders of dead steps, empty partition folders
temporary catalog files and sentiment models never promoted, once older than the grace
period. A live file is never a candidate.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import posixpath
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import polars as pl

from lakehouse.maintenance.actions import Action
from lakehouse.ml import registry
from lakehouse.scratch import HOLDER_NAME, STAGING_DIR
from lakehouse.storage import LakeStore
from lakehouse.storage.filesystem import FileEntry
from lakehouse.table_spec import TableSpec

RETENTION, VACUUM = "retention", "vacuum"
GRACE = dt.timedelta(days=7)


@dataclass(frozen=True)
class Expired:
    spec: TableSpec
    key: str
    files: list[FileEntry]
    cutoff: str

    @property
    def action(self) -> Action:
        return Action(
            RETENTION,
            self.spec.qualified_name,
            self.key,
            len(self.files),
            sum(entry.size for entry in self.files),
            detail=f"older than {self.cutoff}",
        )


def plan_retention(store: LakeStore, specs: Sequence[TableSpec], today: dt.date) -> list[Expired]:
    """Partitions whose day is before `today - retention`, for tables that keep days."""
    expired = []
    for spec in specs:
        days = spec.retention_days
        if days is None:
            continue
        cutoff = (today - dt.timedelta(days=days)).isoformat()
        # One read of the table's log.
        for key, files in store.files_by_partition(spec).items():
            if key is not None and key < cutoff:
                expired.append(Expired(spec, key, files, cutoff))
    return expired


def retire(store: LakeStore, item: Expired) -> Action:
    """Take one expired partition out of its table (its files wait for vacuum)."""
    store.retire(item.spec, item.key)
    return item.action


@dataclass(frozen=True)
class Leftover:
    path: str
    is_dir: bool
    size: int
    reason: str
    #: The table whose Delta vacuum deletes this file (None: a scratch or catalog leftover).
    table: TableSpec | None = None
    #: On the scratch file system (a dead step's folder), not the lake's.
    in_scratch: bool = False


def plan_vacuum(
    store: LakeStore, specs: Sequence[TableSpec], grace: dt.timedelta = GRACE
) -> list[Leftover]:
    """Everything vacuum would delete: only what is older than `grace`."""
    horizon = time.time() - grace.total_seconds()
    found = [
        Leftover(path, True, size, "scratch of a dead step past grace", in_scratch=True)
        for path, size, newest in _holders(store, store.scratch_fs.path(STAGING_DIR))
        if newest < horizon
    ]
    hours = grace.total_seconds() / 3600
    for spec in specs:
        for path in store.vacuum(spec, retention_hours=hours, dry_run=True):
            reason = "needed by no version within the grace period"
            found.append(Leftover(path, False, 0, reason, spec))
        if store.fs.is_local:
            for entry in _walk(store, store.table_dir(spec)):
                empty = not entry.is_file and not store.fs.list_dir(entry.path)
                if empty and entry.mtime_ns / 1e9 < horizon:
                    found.append(Leftover(entry.path, True, 0, "empty folder"))
    for entry in store.fs.list_dir(store.fs.root):
        name = posixpath.basename(entry.path)
        if entry.is_file and name.startswith(".catalog.duckdb.") and entry.mtime_ns / 1e9 < horizon:
            found.append(Leftover(entry.path, False, entry.size, "unfinished catalog build"))
    found += _unpromoted_models(store, horizon)
    return found


def _unpromoted_models(store: LakeStore, horizon: float) -> list[Leftover]:
    """Sentiment model folders no promotion names, untouched for the grace period: trainings
    that failed their checks, or were stopped before the registry recorded them. Promoted
    versions stay: gold rows name the version that scored them."""
    root = registry.model_folder(store)
    if not store.fs.exists(root):
        return []
    promoted = set(registry.history(store).filter(pl.col("promoted"))["model_version"])
    found = []
    for entry in store.fs.list_dir(root):
        if entry.is_file or posixpath.basename(entry.path) in promoted:
            continue
        files = [item for item in _walk(store, entry.path) if item.is_file]
        newest = max((item.mtime_ns for item in files), default=entry.mtime_ns) / 1e9
        if newest < horizon:
            size = sum(item.size for item in files)
            found.append(Leftover(entry.path, True, size, "sentiment model never promoted"))
    return found


def vacuum(
    store: LakeStore, leftovers: Sequence[Leftover], grace: dt.timedelta = GRACE
) -> list[Action]:
    """Delete the planned leftovers: each table's by its Delta vacuum (which deletes what has
    become eligible since the plan too), the others one by one."""
    actions: list[Action] = []
    tables = {item.table.qualified_name: item.table for item in leftovers if item.table}
    reasons = {item.path: item.reason for item in leftovers}
    for spec in tables.values():
        hours = grace.total_seconds() / 3600
        for path in store.vacuum(spec, retention_hours=hours, dry_run=False):
            reason = reasons.get(path, "needed by no version within the grace period")
            actions.append(_action(store, path, 0, reason))
    for item in leftovers:
        if item.table is None:
            actions.append(remove(store, item))
    return actions


def _holders(store: LakeStore, root: str) -> Iterator[tuple[str, int, float]]:
    """Scratch folders under `root`, with their size and newest mtime."""
    fs = store.scratch_fs
    for entry in fs.list_dir(root):
        if entry.is_file or posixpath.basename(entry.path) == "_duckdb_spill":
            continue
        if HOLDER_NAME.search(posixpath.basename(entry.path)):
            files = [item for item in _walk_fs(fs, entry.path) if item.is_file]
            newest = max((item.mtime_ns for item in files), default=entry.mtime_ns) / 1e9
            yield entry.path, sum(item.size for item in files), newest
        else:
            yield from _holders(store, entry.path)


def _walk(store: LakeStore, root: str) -> Iterator[FileEntry]:
    return _walk_fs(store.fs, root)


def _walk_fs(fs, root: str) -> Iterator[FileEntry]:
    for entry in fs.list_dir(root):
        if posixpath.basename(entry.path) == "_delta_log":
            continue
        yield entry
        if not entry.is_file:
            yield from _walk_fs(fs, entry.path)


def remove(store: LakeStore, leftover: Leftover) -> Action:
    fs = store.scratch_fs if leftover.in_scratch else store.fs
    if leftover.is_dir:
        fs.delete_dir(leftover.path)
    else:
        with contextlib.suppress(FileNotFoundError):
            fs.delete_file(leftover.path)
    return _action(store, leftover.path, leftover.size, leftover.reason)


def planned_action(store: LakeStore, leftover: Leftover) -> Action:
    """The audit line of a leftover vacuum would delete (a dry run)."""
    return _action(store, leftover.path, leftover.size, leftover.reason)


def _action(store: LakeStore, path: str, size: int, reason: str) -> Action:
    root = store.fs.root if path.startswith(store.fs.root) else store.scratch_fs.root
    return Action(VACUUM, posixpath.relpath(path, root), None, 1, size, detail=reason)
