"""The lake's one file-system seam.

Every read and write of landing files and lake files goes through `LakeFileSystem`, built on
`pyarrow.fs`: a local folder, or S3 (`object_store.py`). Lake tables are Delta tables: their
commits go through delta-rs, configured here for the same location (`delta_options`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow.fs as pafs

from lakehouse.storage.object_store import S3Location


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    mtime_ns: int
    is_file: bool = True


class LakeFileSystem:
    """Paths under one root on a pyarrow file system. Paths are '/'-joined strings (on S3,
    `bucket/key` as Arrow names them)."""

    def __init__(
        self,
        root: str,
        filesystem: pafs.FileSystem | None = None,
        s3: S3Location | None = None,
    ) -> None:
        self.filesystem = filesystem or pafs.LocalFileSystem()
        self.root = root.rstrip("/") or "/"
        self.s3 = s3

    @classmethod
    def local(cls, root: str) -> LakeFileSystem:
        return cls(posixpath.abspath(root), pafs.LocalFileSystem())

    @classmethod
    def from_url(cls, url: str) -> LakeFileSystem:
        """A local folder (a path or file:// URL) or `s3://bucket/prefix`."""
        if url.startswith("s3://"):
            location = S3Location.from_url(url)
            return cls(location.root, location.arrow_filesystem(), location)
        if url.startswith("file://"):
            url = url[len("file://") :]
        return cls.local(url)

    def uri(self, path: str) -> str:
        """The path as engines other than Arrow name it (`s3://bucket/key` on S3)."""
        return f"s3://{path}" if self.s3 is not None else path

    def storage_options(self) -> dict[str, str] | None:
        """Polars' `storage_options` for this file system (None when local)."""
        return self.s3.polars_options() if self.s3 is not None else None

    def delta_options(self) -> dict[str, str] | None:
        """delta-rs's `storage_options` (None when local), with its safe concurrent-writer
        mode on S3 (see `S3Location.delta_options`)."""
        return self.s3.delta_options() if self.s3 is not None else None

    @property
    def is_local(self) -> bool:
        return isinstance(self.filesystem, pafs.LocalFileSystem)

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

    def list_tree(self, path: str) -> list[FileEntry]:
        """Every file under a folder, at any depth; [] when absent."""
        selector = pafs.FileSelector(path, allow_not_found=True, recursive=True)
        return [
            FileEntry(info.path, info.size or 0, info.mtime_ns or 0)
            for info in self.filesystem.get_file_info(selector)
            if info.type == pafs.FileType.File
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
