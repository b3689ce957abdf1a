"""Each table's newest Delta version and its live files, kept between requests.

Reading the Delta log and listing a version's files for every request was most of a small
read's cost. Here they are read once per version: a request only checks whether the table's
next commit file (`_delta_log/<version + 1>.json`) exists, one `stat` on a local lake, and
rereads the log when it does, so a new version is served from the first request after its
commit. On object storage that check is a request of its own, so it is made at most once per
`check_seconds` per table (a newer version may then be missed for that long).

Versions pinned by cursors are older ones: the few last asked for are kept too, bounded.
"""

from __future__ import annotations

import collections
import posixpath
import threading
import time
from dataclasses import dataclass

from lakehouse.api.filters import BadRequest, CursorExpired
from lakehouse.storage import LakeStore
from lakehouse.table_spec import TableSpec

#: Older versions (pinned by cursors) whose file lists are kept.
PINNED_KEPT = 16


@dataclass(frozen=True)
class Snapshot:
    """One version of a table: its files in (partition key, path) order, by partition key
    (key None for an unpartitioned table). Version None: the table was never written."""

    version: int | None
    files: dict[str | None, tuple[str, ...]]

    def keys(self) -> list[str]:
        return [key for key in self.files if key is not None]

    def files_of(self, keys: list[str] | None) -> list[str]:
        """The files of `keys` (every file when None), in the table's order."""
        if keys is None:
            return [path for paths in self.files.values() for path in paths]
        wanted = set(keys)
        return [path for key, paths in self.files.items() if key in wanted for path in paths]


@dataclass
class _Current:
    snapshot: Snapshot
    checked: float


class Snapshots:
    def __init__(self, store: LakeStore, check_seconds: float | None = None) -> None:
        self.store = store
        if check_seconds is None:
            check_seconds = 0.0 if store.fs.is_local else 1.0
        self.check_seconds = check_seconds
        self._current: dict[str, _Current] = {}
        self._pinned: collections.OrderedDict[tuple[str, int], Snapshot] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def current(self, spec: TableSpec) -> Snapshot:
        """The table at its newest version (within `check_seconds` on object storage)."""
        name = spec.qualified_name
        known = self._current.get(name)
        if known is not None and not self._stale(spec, known):
            return known.snapshot
        with self._lock:
            loading = self._loading.setdefault(name, threading.Lock())
        with loading:  # one reader of the log per table; the others wait for it
            known = self._current.get(name)
            if known is not None and not self._stale(spec, known):
                return known.snapshot
            version = self.store.newest_version(spec)
            snapshot = self._read(spec, version)
            self._current[name] = _Current(snapshot, time.monotonic())
            if known is not None and known.snapshot.version is not None:
                self._pin(name, known.snapshot)  # cursors handed out on it still page through it
            return snapshot

    def known(self, spec: TableSpec, version: int | None = None) -> Snapshot | None:
        """`current(spec)` (or `at(spec, version)`) when knowing it takes no more than a `stat`
        of a local file, for callers on an event loop; None when it would read the log or ask
        object storage."""
        if version is not None:
            with self._lock:
                pinned = self._pinned.get((spec.qualified_name, version))
            if pinned is not None:
                return pinned
        known = self._current.get(spec.qualified_name)
        if known is not None and version is not None:
            return known.snapshot if known.snapshot.version == version else None
        if known is None:
            return None
        due = time.monotonic() - known.checked >= self.check_seconds
        if due and not self.store.fs.is_local:
            return None
        return None if self._stale(spec, known) else known.snapshot

    def at(self, spec: TableSpec, version: int) -> Snapshot:
        """The table at `version` (a cursor's)."""
        known = self._current.get(spec.qualified_name)
        if known is not None and known.snapshot.version == version:
            return known.snapshot
        key = (spec.qualified_name, version)
        with self._lock:
            if key in self._pinned:
                self._pinned.move_to_end(key)
                return self._pinned[key]
        newest = self.current(spec).version
        if newest is None or version > newest:
            raise BadRequest("the cursor is not one this API returned")
        try:
            snapshot = self._read(spec, version)
        except Exception as error:  # the version's log entry was cleaned up
            raise CursorExpired(_expired(spec, version, error)) from error
        self._pin(spec.qualified_name, snapshot)
        return snapshot

    def _pin(self, name: str, snapshot: Snapshot) -> None:
        with self._lock:
            self._pinned[(name, snapshot.version)] = snapshot
            while len(self._pinned) > PINNED_KEPT:
                self._pinned.popitem(last=False)

    def _stale(self, spec: TableSpec, known: _Current) -> bool:
        now = time.monotonic()
        if now - known.checked < self.check_seconds:
            return False
        known.checked = now
        following = 0 if known.snapshot.version is None else known.snapshot.version + 1
        log = posixpath.join(self.store.table_dir(spec), "_delta_log", f"{following:020d}.json")
        return self.store.fs.exists(log)

    def _read(self, spec: TableSpec, version: int | None) -> Snapshot:
        if version is None:
            return Snapshot(None, {})
        grouped = self.store.files_by_partition(spec, version=version)
        return Snapshot(
            version,
            {key: tuple(entry.path for entry in entries) for key, entries in grouped.items()},
        )


def _expired(spec: TableSpec, version: int, reason: object = "its files are gone") -> str:
    return (
        f"the cursor's version {version} of {spec.qualified_name} was vacuumed ({reason}): "
        "page again from the start, without a cursor"
    )


def check_files_kept(store: LakeStore, spec: TableSpec, version: int, files: list[str]) -> None:
    """A cursor's page reads its version's files: `CursorExpired` when vacuum removed them
    (checked on the first, one `stat`), rather than a read error."""
    if files and not store.fs.exists(files[0]):
        raise CursorExpired(_expired(spec, version))
