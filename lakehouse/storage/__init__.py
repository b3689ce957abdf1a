"""The storage layer: paths, the file-system seam, atomic publish and lazy scans."""

from lakehouse.storage.filesystem import LakeFileSystem
from lakehouse.storage.paths import InvalidPartitionKey
from lakehouse.storage.spec import TableSpec
from lakehouse.storage.store import (
    LakeStore,
    PartitionChanged,
    PublishedPartition,
    SchemaMismatch,
    StagedPartition,
)

__all__ = [
    "InvalidPartitionKey",
    "LakeFileSystem",
    "LakeStore",
    "PartitionChanged",
    "PublishedPartition",
    "SchemaMismatch",
    "StagedPartition",
    "TableSpec",
]
