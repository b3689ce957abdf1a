"""The commit protocol of the lake on object storage, where there is no rename.

A partition folder holds uuid-named Parquet files and one small `_manifest.json` naming the
files that make up the partition now. Writing a partition:

1. writes new `part-<uuid>.parquet` files beside the old ones (no reader looks at a file the
   manifest does not name) and verifies their footers;
2. reads the manifest and its ETag, and writes the new manifest with a conditional PUT
   (`If-Match: <etag>`, or `If-None-Match: *` for a new partition). If another writer
   committed in between, the PUT fails with 412 and the commit re-reads and tries again;
3. leaves the replaced files in place: vacuum deletes files no manifest names once they are
   older than its grace period (7 days).

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
class Manifest:
    files: tuple[ManifestFile, ...]
    committed_at: str

    @property
    def rows(self) -> int:
        return sum(file.rows for file in self.files)

    def to_json(self) -> bytes:
        document = {
            "format": 1,
            "committed_at": self.committed_at,
            "files": [
                {"name": file.name, "size": file.size, "rows": file.rows} for file in self.files
            ],
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
            return cls(files, str(document["committed_at"]))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}: not a lakehouse manifest ({error})") from error

    @classmethod
    def of(cls, files: list[ManifestFile]) -> Manifest:
        return cls(tuple(files), dt.datetime.now(dt.UTC).isoformat())

    def paths(self, folder: str) -> list[str]:
        return [posixpath.join(folder, file.name) for file in self.files]


def manifest_path(folder: str) -> str:
    return posixpath.join(folder, MANIFEST_NAME)
