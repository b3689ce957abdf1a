"""Retention (whole expired partitions) and vacuum (leftovers past a grace period).

Retention takes each partition older than its table's retention (`lakehouse.retention`) out of
the table in one rename, then tells Dagster the partition is gone (wiped, not materialized).
Vacuum deletes what no published partition uses: the trash of replaced and retired partitions,
staging folders of dead writers, stray non-Parquet files and empty folders in tables, and
temporary catalog files, once older than the grace period. A published `part-*.parquet` is never
a vacuum candidate.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import posixpath
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from lakehouse.maintenance.actions import Action
from lakehouse.retention import retention_days
from lakehouse.storage import LakeStore, TableSpec
from lakehouse.storage.filesystem import FileEntry
from lakehouse.storage.manifest import MANIFEST_NAME
from lakehouse.storage.store import HOLDER_NAME, PARQUET_SUFFIX, STAGING_DIR

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
        days = retention_days(spec)
        if days is None:
            continue
        cutoff = (today - dt.timedelta(days=days)).isoformat()
        # One listing of the table (on object storage one read of each manifest).
        for key, files in store.files_by_partition(spec).items():
            if key is not None and key < cutoff:
                expired.append(Expired(spec, key, files, cutoff))
    return expired


def retire(store: LakeStore, item: Expired) -> Action:
    """Take one expired partition out of its table (into the trash, for vacuum)."""
    store.retire(item.spec, item.key)
    return item.action


@dataclass(frozen=True)
class Leftover:
    path: str
    is_dir: bool
    size: int
    reason: str
    #: The partition folder whose manifest lists this file as retired (object storage).
    manifest_folder: str | None = None


def plan_vacuum(
    store: LakeStore, specs: Sequence[TableSpec], grace: dt.timedelta = GRACE
) -> list[Leftover]:
    """Everything vacuum would delete: only leftovers older than `grace`."""
    horizon = time.time() - grace.total_seconds()
    found = [
        Leftover(path, True, size, "staging leftover past grace")
        for path, size, newest in _holders(store, store.fs.path(STAGING_DIR))
        if newest < horizon
    ]
    for spec in specs:
        if store.fs.uses_manifests:
            found += _unreferenced_objects(store, spec, horizon)
            continue
        for entry in _walk(store, store.table_dir(spec)):
            if entry.mtime_ns / 1e9 >= horizon:
                continue
            name = posixpath.basename(entry.path)
            if entry.is_file and not (name.startswith("part-") and name.endswith(PARQUET_SUFFIX)):
                found.append(Leftover(entry.path, False, entry.size, "not a part file"))
            elif not entry.is_file and not store.fs.list_dir(entry.path):
                found.append(Leftover(entry.path, True, 0, "empty folder"))
    for entry in store.fs.list_dir(store.fs.root):
        name = posixpath.basename(entry.path)
        if entry.is_file and name.startswith(".catalog.duckdb.") and entry.mtime_ns / 1e9 < horizon:
            found.append(Leftover(entry.path, False, entry.size, "unfinished catalog build"))
    return found


def _unreferenced_objects(store: LakeStore, spec: TableSpec, horizon: float) -> list[Leftover]:
    """On object storage: files replaced (or dropped by retention) more than the grace period
    ago, and files no manifest mentions (a writer that died) older than that."""
    found, mentioned = [], set()
    for folder in store.manifest_folders(spec):
        manifest, _ = store.read_manifest(folder)
        mentioned.update(posixpath.join(folder, file.name) for file in manifest.files)
        for file in manifest.retired:
            path = posixpath.join(folder, file.name)
            mentioned.add(path)
            if dt.datetime.fromisoformat(file.since).timestamp() < horizon:
                found.append(Leftover(path, False, 0, "replaced before the grace period", folder))
    for entry in store.fs.list_tree(store.table_dir(spec)):
        name = posixpath.basename(entry.path)
        if name == MANIFEST_NAME or entry.path in mentioned or entry.mtime_ns / 1e9 >= horizon:
            continue
        reason = "named by no manifest" if name.startswith("part-") else "not a part file"
        found.append(Leftover(entry.path, False, entry.size, reason))
    return found


def _holders(store: LakeStore, root: str) -> Iterator[tuple[str, int, float]]:
    """Staging, scratch and trash folders under `root`, with their size and newest mtime."""
    for entry in store.fs.list_dir(root):
        if entry.is_file or posixpath.basename(entry.path) == "_duckdb_spill":
            continue
        if HOLDER_NAME.search(posixpath.basename(entry.path)):
            files = [item for item in _walk(store, entry.path) if item.is_file]
            newest = max((item.mtime_ns for item in files), default=entry.mtime_ns) / 1e9
            yield entry.path, sum(item.size for item in files), newest
        else:
            yield from _holders(store, entry.path)


def _walk(store: LakeStore, root: str) -> Iterator[FileEntry]:
    for entry in store.fs.list_dir(root):
        yield entry
        if not entry.is_file:
            yield from _walk(store, entry.path)


def remove(store: LakeStore, leftover: Leftover) -> Action:
    if leftover.is_dir:
        store.fs.delete_dir(leftover.path)
    else:
        with contextlib.suppress(FileNotFoundError):
            store.fs.delete_file(leftover.path)
    if leftover.manifest_folder is not None:
        store.forget_retired(leftover.manifest_folder, {posixpath.basename(leftover.path)})
    relative = posixpath.relpath(leftover.path, store.fs.root)
    return Action(VACUUM, relative, None, 1, leftover.size, detail=leftover.reason)
