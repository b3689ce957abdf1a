"""The lake's table format: Delta Lake through delta-rs (`deltalake`).

A table is a folder of hive-partitioned Parquet files plus its `_delta_log`: the log, not the
folder listing, says which files are live, so a publish is one commit that adds the new files and
removes the replaced ones, readers see one version or the next, and older versions stay readable
until vacuum. This module opens and creates tables, keeps their schema in step with the
declaration (new nullable columns are added; anything else is refused) and commits files the
store has written and verified.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl
import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError, TableNotFoundError
from deltalake.schema import Field, Schema
from deltalake.transaction import (
    AddAction,
    CommitProperties,
    PostCommitHookProperties,
    Transaction,
)

from lakehouse.table_spec import TableSpec

#: Table properties every lake table is created with: a checkpoint every 100 commits and log
#: entries kept for 30 days keep a table with thousands of commits quick to open; deleted files
#: are kept 7 days (what vacuum honours, as the seeds' `VACUUM RETAIN 168 HOURS` did).
TABLE_CONFIGURATION = {
    "delta.checkpointInterval": "100",
    "delta.logRetentionDuration": "interval 30 days",
    "delta.deletedFileRetentionDuration": "interval 7 days",
}
#: Commits that lose a race with a non-conflicting writer are retried this often by delta-rs.
COMMIT_RETRIES = 50
#: A commit that delta-rs refuses because another writer replaced files meanwhile is made
#: again on the new version this many times (see `commit_files`).
COMMIT_ATTEMPTS = 20
#: Commit-info key naming the Dagster run that wrote a version (see `commit_metadata`).
RUN_ID_KEY = "dagster_run_id"


class SchemaChangeRefused(ValueError):
    """A declaration that changes an existing table in a way old files cannot be read as."""


class NotADeltaTable(RuntimeError):
    """A lake folder written by an earlier version of lakehouse (plain Parquet folders)."""


@dataclass(frozen=True)
class AddedFile:
    """A data file written and verified, to be named in a commit (path relative to the table)."""

    path: str
    size: int
    rows: int
    partition: Mapping[str, str | None]
    stats: Mapping[str, object]

    def action(self, modified_ms: int) -> AddAction:
        stats = json.dumps({"numRecords": self.rows, **self.stats}, default=str)
        return AddAction(
            self.path, self.size, dict(self.partition), modified_ms, data_change=True, stats=stats
        )


def arrow_table_schema(spec: TableSpec) -> pa.Schema:
    """The Delta schema of a table: its file columns, then the partition column (a date)."""
    return pl.DataFrame(schema=spec.read_schema).to_arrow().schema


def open_table(
    uri: str,
    options: Mapping[str, str] | None,
    *,
    version: int | None = None,
    as_of: dt.datetime | None = None,
) -> DeltaTable | None:
    """The table at its current version (or an earlier `version` or `as_of` a time); None when
    nothing was ever committed there."""
    try:
        table = DeltaTable(uri, version=version, storage_options=dict(options or {}))
    except TableNotFoundError:
        return None
    if as_of is not None:
        table.load_as_version(as_of)
    return table


def create_table(uri: str, options: Mapping[str, str] | None, spec: TableSpec) -> DeltaTable:
    """Create the table (a concurrent creator may win: then its table is used)."""
    return DeltaTable.create(
        uri,
        schema=arrow_table_schema(spec),
        mode="ignore",
        partition_by=[spec.partition_column] if spec.partition_column else None,
        name=spec.qualified_name,
        description=spec.description or None,
        configuration=TABLE_CONFIGURATION,
        storage_options=dict(options or {}),
    )


def evolve_schema(table: DeltaTable, spec: TableSpec) -> None:
    """Add the declaration's new columns (nullable: old files read NULL for them); refuse a
    dropped or renamed column, a changed type or a changed partitioning, naming the column."""
    current = {field.name: field for field in table.schema().fields}
    wanted = Schema.from_arrow(arrow_table_schema(spec))
    partitioning = table.metadata().partition_columns
    expected_partitioning = [spec.partition_column] if spec.partition_column else []
    if list(partitioning) != expected_partitioning:
        raise SchemaChangeRefused(
            f"{spec.qualified_name}: the lake table is partitioned by {list(partitioning)}, the "
            f"declaration by {expected_partitioning}; rebuild it (lakehouse build --full)"
        )
    new_fields: list[Field] = []
    for field in wanted.fields:
        existing = current.pop(field.name, None)
        if existing is None:
            new_fields.append(Field(field.name, field.type, nullable=True))
        elif existing.type != field.type:
            raise SchemaChangeRefused(
                f"{spec.qualified_name}: column {field.name!r} is {existing.type} in the lake and "
                f"{field.type} in the declaration; changing a column's type is refused (add a new "
                "column instead)"
            )
    if current:
        raise SchemaChangeRefused(
            f"{spec.qualified_name}: columns {sorted(current)} are in the lake but not in the "
            "declaration; dropping or renaming a column is refused (add a new column instead)"
        )
    if new_fields:
        table.alter.add_columns(new_fields)


def commit_metadata(
    operation: str, run_id: str | None, extra: Mapping[str, object] | None = None
) -> dict[str, str]:
    """Commit-info entries naming who wrote a version (lakehouse history shows them)."""
    metadata = {"lakehouse.operation": operation, **{k: str(v) for k, v in (extra or {}).items()}}
    if run_id:
        metadata[RUN_ID_KEY] = run_id
    return metadata


def commit_properties(
    operation: str,
    run_id: str | None,
    extra: Mapping[str, object] | None = None,
    retries: int = COMMIT_RETRIES,
    transactions: Sequence[Transaction] = (),
) -> CommitProperties:
    """What every lakehouse commit carries: its operation and run, and delta-rs's retries;
    with `transactions`, Delta application transactions (app id and version): what makes an
    append idempotent (see `LakeStore.append_once`) and records a partition's watermark."""
    return CommitProperties(
        custom_metadata=commit_metadata(operation, run_id, extra),
        max_commit_retries=retries,
        app_transactions=list(transactions) or None,
    )


def describe_keys(keys: Sequence[str]) -> str:
    """`2026-11-01`, `2026-11-01,2026-11-02` or `2026-11-01..2026-11-30 (30)`."""
    if len(keys) <= 3:
        return ",".join(keys)
    return f"{keys[0]}..{keys[-1]} ({len(keys)})"


def commit_files(
    table: DeltaTable,
    spec: TableSpec,
    files: Sequence[AddedFile],
    *,
    replace_keys: Sequence[str | None] | None,
    operation: str,
    run_id: str | None = None,
    retry: bool = True,
    transactions: Sequence[Transaction] = (),
) -> None:
    """One transaction adding `files`. With `replace_keys`, the live files of those partitions
    (the whole table for [None]) are removed in the same commit; without, the files are
    appended. Writers of other partitions do not conflict: the commit is made again on their
    version. Without `retry` (a merge of what was read) any concurrent change fails it."""
    written = sorted({str(v) for file in files for v in file.partition.values() if v is not None})
    summary = {
        "lakehouse.rows": sum(file.rows for file in files),
        "lakehouse.partitions": describe_keys(written),
    }
    retries = COMMIT_RETRIES if retry else 0
    properties = commit_properties(operation, run_id, summary, retries, transactions)
    hooks = PostCommitHookProperties(create_checkpoint=True, cleanup_expired_logs=True)
    partition_by = [spec.partition_column] if spec.partition_column else None
    # One modification time for the files of one commit: maintenance tells a partition one
    # publish wrote (in its table's order) from one grown by appends.
    modified_ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    actions = [file.action(modified_ms) for file in files]
    mode, filters = "append", None
    if replace_keys is not None:
        mode = "overwrite"
        if spec.partition_column is not None:
            replaced = sorted({key for key in replace_keys if key is not None})
            filters = [(spec.partition_column, "in", replaced)]
    for attempt in range(COMMIT_ATTEMPTS):
        try:
            table.create_write_transaction(
                actions,
                mode=mode,
                schema=table.schema(),
                partition_by=partition_by,
                partition_filters=filters,
                commit_properties=properties,
                post_commithook_properties=hooks,
            )
            return
        except CommitFailedError:
            # delta-rs takes these transactions for reads of the whole table, so a writer
            # that replaced files of another partition meanwhile fails them. They read
            # nothing: the same files added (and the same partitions replaced) on the new
            # version is exactly what they mean (on one partition, the last writer wins).
            if not retry or attempt == COMMIT_ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0.01, 0.05 * (attempt + 1)))
            table.update_incremental()
