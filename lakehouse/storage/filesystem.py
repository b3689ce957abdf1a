"""The lake's one file-system seam.

Every read and write of landing files and lake files goes through `LakeFileSystem`, built on
`pyarrow.fs`. Only `publish_dir` knows how a folder becomes visible atomically; a later object
storage back end replaces that one method with a manifest-based commit.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow.fs as pafs

from lakehouse.storage import atomic


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    mtime_ns: int
    is_file: bool = True


class LakeFileSystem:
    """Paths under one root on a pyarrow file system. Paths are '/'-joined strings."""

    def __init__(self, root: str, filesystem: pafs.FileSystem | None = None) -> None:
        self.filesystem = filesystem or pafs.LocalFileSystem()
        self.root = root.rstrip("/") or "/"

    @classmethod
    def local(cls, root: str) -> LakeFileSystem:
        return cls(posixpath.abspath(root), pafs.LocalFileSystem())

    @property
    def is_local(self) -> bool:
        return isinstance(self.filesystem, pafs.LocalFileSystem)

    def local_path(self, path: str) -> str:
        """The path DuckDB opens: local files only until the lake moves to object storage."""
        if not self.is_local:
            raise NotImplementedError("DuckDB reads local lake files only")
        return path

    def path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    def exists(self, path: str) -> bool:
        return self.filesystem.get_file_info(path).type != pafs.FileType.NotFound

    def is_dir(self, path: str) -> bool:
        return self.filesystem.get_file_info(path).type == pafs.FileType.Directory

    def list_dir(self, path: str) -> list[FileEntry]:
        """Direct children of a folder (files and folders), sorted by name; [] when absent."""
        selector = pafs.FileSelector(path, allow_not_found=True, recursive=False)
        return sorted(
            (
                FileEntry(info.path, info.size or 0, info.mtime_ns or 0, info.is_file)
                for info in self.filesystem.get_file_info(selector)
            ),
            key=lambda entry: entry.path,
        )

    def list_files(self, path: str, suffix: str = "") -> list[FileEntry]:
        """Files directly in a folder whose names end with `suffix`, sorted by name."""
        return [
            entry for entry in self.list_dir(path) if entry.is_file and entry.path.endswith(suffix)
        ]

    def subdirs(self, path: str) -> Iterator[str]:
        selector = pafs.FileSelector(path, allow_not_found=True, recursive=False)
        for info in sorted(self.filesystem.get_file_info(selector), key=lambda i: i.path):
            if info.type == pafs.FileType.Directory:
                yield info.path

    def makedirs(self, path: str) -> None:
        self.filesystem.create_dir(path, recursive=True)

    def delete_dir(self, path: str) -> None:
        if self.exists(path):
            self.filesystem.delete_dir(path)

    def delete_file(self, path: str) -> None:
        self.filesystem.delete_file(path)

    def read_bytes(self, path: str) -> bytes:
        with self.filesystem.open_input_stream(path, compression=None) as stream:
            return stream.read()

    def open_input(self, path: str):
        return self.filesystem.open_input_file(path)

    def open_output(self, path: str):
        return self.filesystem.open_output_stream(path)

    def move(self, source: str, destination: str) -> None:
        """Rename a file; atomic on a local file system."""
        self.filesystem.move(source, destination)

    def publish_dir(self, staging: str, target: str, old_holder: str) -> None:
        """Make `staging` visible at `target` in one step; the previous content moves aside."""
        if not self.is_local:
            raise NotImplementedError("atomic publish is implemented for local file systems only")
        atomic.replace_dir(staging, target, old_holder)
