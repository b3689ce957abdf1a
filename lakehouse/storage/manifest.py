"""The commit protocol of the lake on object storage, where there is no rename.

A partition folder holds uuid-named Parquet files and one small `_manifest.json` naming the
files that make up the partition now. Writing a partition:

1. writes new `part-<uuid>.parquet` files beside the old ones (no reader looks at a file the
   manifest does not name) and verifies their footers;
2. reads the manifest and its ETag, and writes the new manifest with a conditional PUT
   (`If-Match: <etag>`, or `If-None-Match: *` for a new partition). If another writer
   committed in between, the PUT fails with 412 and the commit re-reads and tries again;
3. leaves the replaced files in place, listed as `retired` with the time of the commit that
   replaced them; vacuum deletes them once that time is older than its grace period (7 days),
   and deletes files no manifest mentions at all (a killed writer's) once they are that old.
   Retention drops a partition by committing an empty file list (a tombstone), so its files
   also wait out the grace period.

Guarantee: a reader that resolves a partition through its manifest (the store's `scan`, the
catalog's views, `lake.scan`) sees one committed version, whole, and keeps reading it for the
grace period even after newer commits. A writer killed at any point leaves the published
version untouched: its files are unnamed litter for vacuum. Appends (a file added to a
partition, as the quality history does) are read-modify-write of the manifest under the same
condition, so concurrent appends never lose one another.
"""

from __future__ import annotations

import datetime as dt
import json
import posixpath
from dataclasses import dataclass

MANIFEST_NAME = "_manifest.json"
#: Conditional writes that lost a race are retried this many times before giving up.
COMMIT_ATTEMPTS = 20


class ConcurrentCommitError(RuntimeError):
    """Other writers kept committing the same partition; nothing of ours was published."""


@dataclass(frozen=True)
class ManifestFile:
    name: str
    size: int
    rows: int


@dataclass(frozen=True)
class RetiredFile:
    """A file a later commit replaced: readers of the older version may still be reading it."""

    name: str
    since: str  # ISO time of the commit that replaced it


@dataclass(frozen=True)
class Manifest:
    files: tuple[ManifestFile, ...]
    committed_at: str
    retired: tuple[RetiredFile, ...] = ()

    @property
    def rows(self) -> int:
        return sum(file.rows for file in self.files)

    @property
    def is_tombstone(self) -> bool:
        """A partition dropped by retention: no files (an empty partition still has one)."""
        return not self.files

    def to_json(self) -> bytes:
        document = {
            "format": 1,
            "committed_at": self.committed_at,
            "files": [
                {"name": file.name, "size": file.size, "rows": file.rows} for file in self.files
            ],
            "retired": [{"name": file.name, "since": file.since} for file in self.retired],
        }
        return json.dumps(document, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes, path: str) -> Manifest:
        try:
            document = json.loads(data)
            files = tuple(
                ManifestFile(str(f["name"]), int(f["size"]), int(f["rows"]))
                for f in document["files"]
            )
            retired = tuple(
                RetiredFile(str(f["name"]), str(f["since"])) for f in document.get("retired", [])
            )
            return cls(files, str(document["committed_at"]), retired)
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}: not a lakehouse manifest ({error})") from error

    def without_retired(self, names: set[str]) -> Manifest:
        """This version with the given retired files forgotten (vacuum deleted them)."""
        kept = tuple(file for file in self.retired if file.name not in names)
        return Manifest(self.files, self.committed_at, kept)


def successor(current: Manifest | None, files: list[ManifestFile]) -> Manifest:
    """The version after `current` naming `files`; the files it stops naming retire now."""
    now = dt.datetime.now(dt.UTC).isoformat()
    if current is None:
        return Manifest(tuple(files), now)
    kept = {file.name for file in files}
    retired = [file for file in current.retired if file.name not in kept]
    retired += [RetiredFile(file.name, now) for file in current.files if file.name not in kept]
    return Manifest(tuple(files), now, tuple(retired))

    def paths(self, folder: str) -> list[str]:
        return [posixpath.join(folder, file.name) for file in self.files]


def manifest_path(folder: str) -> str:
    return posixpath.join(folder, MANIFEST_NAME)
