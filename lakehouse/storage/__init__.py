"""The storage layer: Delta tables, write-audit-publish, scans. Everything the rest of the
lakehouse uses is exported here; the modules below are its internals."""

from lakehouse.storage.audited import AppendOnce, Audited, Quarantine, Rows, publish_audited
from lakehouse.storage.delta import RUN_ID_KEY, NotADeltaTable
from lakehouse.storage.duckdb_access import parquet_source
from lakehouse.storage.filesystem import FileEntry, LakeFileSystem
from lakehouse.storage.parquet import ROW_GROUP_ROWS, SchemaMismatch, arrow_schema
from lakehouse.storage.paths import InvalidPartitionKey, validate_day_key
from lakehouse.storage.sqltext import ident, literal
from lakehouse.storage.store import (
    LakeStore,
    PartitionChanged,
    PublishedPartition,
    StagedPartition,
    watermark_id,
)

__all__ = [
    "ROW_GROUP_ROWS",
    "RUN_ID_KEY",
    "AppendOnce",
    "Audited",
    "FileEntry",
    "InvalidPartitionKey",
    "LakeFileSystem",
    "LakeStore",
    "NotADeltaTable",
    "PartitionChanged",
    "PublishedPartition",
    "Quarantine",
    "Rows",
    "SchemaMismatch",
    "StagedPartition",
    "arrow_schema",
    "ident",
    "literal",
    "parquet_source",
    "publish_audited",
    "validate_day_key",
    "watermark_id",
]
