"""How DuckDB reaches lake files: local paths, or object storage through the lake's own Arrow
file system registered with the connection (no httpfs extension downloaded at run time).

DuckDB treats `s3://` as its own (and would try to install httpfs), so lake files on object
storage are named `lakes3://bucket/key` for DuckDB, a protocol only this registration serves.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.fs as pafs
from fsspec.implementations.arrow import ArrowFSWrapper

from lakehouse.storage.sqltext import literal

if TYPE_CHECKING:
    from lakehouse.storage.store import LakeStore

PROTOCOL = "lakes3"
PREFIX = f"{PROTOCOL}://"


class LakeObjectFileSystem(ArrowFSWrapper):
    """fsspec view of the lake's Arrow S3 file system under the `lakes3://` protocol."""

    protocol = PROTOCOL

    @classmethod
    def _strip_protocol(cls, path):
        path = str(path)
        if path.startswith(PREFIX):
            path = path[len(PREFIX) :]
        return path.rstrip("/")

    def _open(self, path, mode="rb", *args, **kwargs):
        if "r" in mode:
            return PositionalReader(self.fs.open_input_file(self._strip_protocol(path)))
        return super()._open(path, mode, *args, **kwargs)


class PositionalReader:
    """A read-only file DuckDB may share between its threads.

    DuckDB reads a range as `seek` then `read` on one handle, from several threads at once: on
    an ordinary file object another thread's `seek` can land in between, and the read returns
    bytes from the wrong offset (found as wrong checksums and zstd errors reading a freshly
    compacted file). Here each thread keeps its own position and reads with Arrow's
    thread-safe `read_at`.
    """

    def __init__(self, handle: pa.NativeFile) -> None:
        self._handle = handle
        self._size = handle.size()
        self._position = threading.local()

    @property
    def size(self) -> int:
        return self._size

    def tell(self) -> int:
        return getattr(self._position, "offset", 0)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.tell(), io.SEEK_END: self._size}[whence]
        self._position.offset = base + offset
        return self._position.offset

    def read(self, size: int = -1) -> bytes:
        start = self.tell()
        if size is None or size < 0:
            size = self._size - start
        data = self._handle.read_at(max(0, min(size, self._size - start)), start)
        if not isinstance(data, bytes):
            data = data.to_pybytes()
        self._position.offset = start + len(data)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return self._handle.closed

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> PositionalReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def duckdb_uri(path: str) -> str:
    """The name DuckDB opens an object-storage lake file by."""
    return PREFIX + path


def register(con: duckdb.DuckDBPyConnection, filesystem: pafs.FileSystem) -> None:
    """Let `con` read `lakes3://` paths through `filesystem` (once per connection)."""
    if PROTOCOL not in con.list_filesystems():
        con.register_filesystem(LakeObjectFileSystem(filesystem))


def parquet_source(store: LakeStore, files: Sequence[str], *, hive: bool = False) -> str:
    """A DuckDB table function reading `files` (at least one); with `hive`, the partition
    column comes from the folder names."""
    paths = ", ".join(literal(store.duckdb_path(path)) for path in files)
    return f"read_parquet([{paths}]{', hive_partitioning = true' if hive else ''})"
