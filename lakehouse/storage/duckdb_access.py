"""How DuckDB reaches lake files: local paths, or object storage through the lake's own Arrow
file system registered with the connection (no httpfs extension downloaded at run time).

DuckDB treats `s3://` as its own (and would try to install httpfs), so lake files on object
storage are named `lakes3://bucket/key` for DuckDB, a protocol only this registration serves.
"""

from __future__ import annotations

import duckdb
import pyarrow.fs as pafs
from fsspec.implementations.arrow import ArrowFSWrapper

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


def duckdb_uri(path: str) -> str:
    """The name DuckDB opens an object-storage lake file by."""
    return PREFIX + path


def register(con: duckdb.DuckDBPyConnection, filesystem: pafs.FileSystem) -> None:
    """Let `con` read `lakes3://` paths through `filesystem` (once per connection)."""
    if PROTOCOL not in con.list_filesystems():
        con.register_filesystem(LakeObjectFileSystem(filesystem))
