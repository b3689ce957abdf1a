"""The storage layer: paths, the file-system seam, Delta tables, write-audit-publish, scans."""

from lakehouse.storage.audited import Audited, Quarantine, Rows, publish_audited
from lakehouse.storage.filesystem import LakeFileSystem
from lakehouse.storage.parquet import SchemaMismatch
from lakehouse.storage.paths import InvalidPartitionKey
from lakehouse.storage.spec import TableSpec
from lakehouse.storage.store import (
    LakeStore,
    PartitionChanged,
    PublishedPartition,
    StagedPartition,
)

__all__ = [
    "Audited",
    "Quarantine",
    "Rows",
    "publish_audited",
    "InvalidPartitionKey",
    "LakeFileSystem",
    "LakeStore",
    "PartitionChanged",
    "PublishedPartition",
    "SchemaMismatch",
    "StagedPartition",
    "TableSpec",
]
