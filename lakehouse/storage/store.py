"""The lake store: the only code that writes or reads lake tables.

Two verbs serve the whole graph: `publish(spec, key, frame)` replaces one partition and
`scan(spec, keys)` returns a lazy, partition-pruned Polars frame. Every table is a Delta Lake
table (`delta.py`): a publish writes uuid-named Parquet files into the partition's folder, reads
their footers back against the rows written, and then one Delta commit names them and removes
the partition's previous files. Until that commit the new files are invisible to every Delta
reader, so a failed audit or a killed writer changes nothing readers see; the same code serves a
local folder and `s3://`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import posixpath
import random
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable, WriterProperties

from lakehouse.scratch import HOST, STAGING_DIR
from lakehouse.storage import delta
from lakehouse.storage.duckdb_access import duckdb_uri
from lakehouse.storage.duckdb_access import register as register_filesystem
from lakehouse.storage.filesystem import FileEntry, LakeFileSystem
from lakehouse.storage.parquet import (
    PARQUET_SUFFIX,
    ROW_GROUP_ROWS,
    conform,
    conform_batch,
    footer_stats,
    table_arrow_schema,
    to_arrow,
)
from lakehouse.storage.paths import InvalidPartitionKey, partition_folder, validate_day_key
from lakehouse.storage.sqltext import literal
from lakehouse.table_spec import TableSpec

#: A partition larger than this is split into several files.
MAX_FILE_ROWS = 8 * ROW_GROUP_ROWS
#: Parquet bytes a step reads at once when it works part by part (about 1.3M bronze events).
PART_BYTES = 24 * 2**20
#: (table, version) file listings a store keeps.
LISTINGS_KEPT = 256
#: Delta's default grace before vacuum deletes a file no version still needs (7 days).
VACUUM_RETENTION_HOURS = 168


class PublishVerificationError(RuntimeError):
    """Written files that do not read back as written; nothing was committed."""


class PartitionChanged(RuntimeError):
    """A rewrite (maintenance) lost to a writer that changed the table since it was read."""


def watermark_id(key: str | None) -> str:
    """The Delta application transaction whose version is the version of its input that
    partition `key` was computed from (see `quality.audited.publish_new_rows`)."""
    return f"lakehouse.watermark/{key or 'table'}"


@dataclass(frozen=True)
class StagedPartition:
    """Verified files of one partition, written but not committed: no reader sees them yet."""

    spec: TableSpec
    key: str | None
    folder: str
    files: tuple[str, ...]
    rows: int
    bytes: int
    added: tuple[delta.AddedFile, ...] = ()
    #: A Delta application transaction the commit records with the files: how far into its
    #: input the partition was computed (see `appended_since`).
    watermark: delta.Transaction | None = None


@dataclass(frozen=True)
class PublishedPartition:
    table: str
    partition_key: str | None
    path: str
    rows: int
    files: int
    bytes: int
    #: The table's version just after the commit (the commit's own, unless another writer
    #: committed in the same instant).
    version: int | None = None


class LakeStore:
    def __init__(
        self,
        fs: LakeFileSystem,
        *,
        max_file_rows: int = MAX_FILE_ROWS,
        scratch_dir: str | os.PathLike[str] | None = None,
        run_id: str | None = None,
    ) -> None:
        self.fs = fs
        self.max_file_rows = max_file_rows
        #: The Dagster run recorded in the commits this store makes.
        self.run_id = run_id
        # Scratch files and DuckDB's spill stay on a local disk: under the lake's `_staging`
        # when the lake is local, else in `scratch_dir` (default: the system temp dir).
        if fs.is_local:
            self.scratch_fs = fs
        else:
            scratch_root = scratch_dir or posixpath.join(tempfile.gettempdir(), "lakehouse")
            self.scratch_fs = LakeFileSystem.local(os.fspath(scratch_root))
        self._ready: set[str] = set()
        # Open tables, per thread (a delta-rs table object is not shared between threads):
        # bringing one up to date reads only the commits since, where opening reads the log.
        self._opened = threading.local()
        #: Staged partitions waiting for `commit_deferred`, by (table, key); None: not deferring.
        self._deferred: dict[tuple[str, str | None], StagedPartition] | None = None
        #: The table objects maintenance rewrites go through (see `optimize`).
        self._rewriting: dict[str, DeltaTable] = {}
        #: Live files by (table, version): a range step scans one table hundreds of times. The
        #: oldest are forgotten past `LISTINGS_KEPT` (a long-lived reader sees many versions).
        self._listings: dict[tuple[str, int], list[tuple[str | None, FileEntry]]] = {}

    @classmethod
    def local(cls, lake_root: str | os.PathLike[str]) -> LakeStore:
        return cls(LakeFileSystem.local(os.fspath(lake_root)))

    @classmethod
    def from_url(
        cls,
        url: str | os.PathLike[str],
        scratch_dir: str | os.PathLike[str] | None = None,
        run_id: str | None = None,
    ) -> LakeStore:
        """The lake at a local path or an `s3://bucket/prefix` URL."""
        return cls(LakeFileSystem.from_url(os.fspath(url)), scratch_dir=scratch_dir, run_id=run_id)

    # -- DuckDB --------------------------------------------------------------------------------

    def _fs_for(self, path: str) -> LakeFileSystem:
        """The scratch file system for scratch paths, else the lake's."""
        if self.scratch_fs is not self.fs and path.startswith(self.scratch_fs.root + "/"):
            return self.scratch_fs
        return self.fs

    def duckdb_path(self, path: str) -> str:
        """The name DuckDB opens a lake or scratch file by (see `prepare_duckdb`)."""
        if not self._fs_for(path).is_local:
            return duckdb_uri(path)
        return path

    def prepare_duckdb(self, con: duckdb.DuckDBPyConnection) -> None:
        """Let `con` read lake files (object storage through the lake's own file system) and
        spill to the local scratch area rather than DuckDB's default `.tmp` in the working
        directory, unless the connection was given a temp directory."""
        if not self.fs.is_local:
            register_filesystem(con, self.fs.filesystem)
        (current,) = con.execute("SELECT current_setting('temp_directory')").fetchall()[0]
        if current in ("", ".tmp"):
            # DuckDB names its spill files by process id: one folder per host keeps the
            # processes of two hosts sharing a volume apart.
            folder = self.scratch_fs.path(STAGING_DIR, "_duckdb_spill", HOST)
            self.scratch_fs.makedirs(folder)  # DuckDB creates only the last level
            con.execute(f"SET temp_directory = {literal(folder)}")

    # -- paths and tables ----------------------------------------------------------------------

    def table_dir(self, spec: TableSpec) -> str:
        return self.fs.path(*spec.path)

    def table_uri(self, spec: TableSpec) -> str:
        """The table as Delta readers name it (a path, or `s3://bucket/prefix/...`)."""
        return self.fs.uri(self.table_dir(spec))

    def partition_dir(self, spec: TableSpec, key: str | None) -> str:
        """The folder holding one partition's files (the table folder when unpartitioned)."""
        if spec.partition_column is None:
            if key is not None:
                raise InvalidPartitionKey(
                    f"{spec.qualified_name} is not partitioned; got key {key!r}"
                )
            return self.table_dir(spec)
        return posixpath.join(self.table_dir(spec), partition_folder(spec.partition_column, key))

    def delta_options(self) -> dict[str, str] | None:
        return self.fs.delta_options()

    def delta_table(
        self,
        spec: TableSpec,
        *,
        version: int | None = None,
        as_of: dt.datetime | None = None,
    ) -> DeltaTable | None:
        """The table's Delta log at its current version (or `version`, or `as_of` a time);
        None when the table was never written."""
        current = version is None and as_of is None
        opened: dict[str, DeltaTable] = self._opened.__dict__.setdefault("tables", {})
        if current and spec.qualified_name in opened:
            table = opened[spec.qualified_name]
            if self._deferred is None:  # within a step, each table is read at one version
                table.update_incremental()
            return table
        table = delta.open_table(
            self.table_uri(spec), self.delta_options(), version=version, as_of=as_of
        )
        if table is None:
            self._refuse_plain_folder(spec)
        elif current:
            opened[spec.qualified_name] = table
        return table

    def _refuse_plain_folder(self, spec: TableSpec) -> None:
        """A table folder without a Delta log holds files of an earlier lakehouse: say how to
        rebuild instead of reading an empty table or failing obscurely."""
        folder = self.table_dir(spec)
        if self.fs.list_dir(folder):
            raise delta.NotADeltaTable(
                f"{spec.qualified_name}: {self.fs.uri(folder)} holds files but no Delta log "
                "(_delta_log): it was written by an earlier lakehouse. Move the lake folder "
                "aside and run `lakehouse build --full` to rebuild it from the landing files."
            )

    def _writable_table(self, spec: TableSpec) -> DeltaTable:
        """The table, created on first use, its schema brought up to the declaration. Not
        brought up to date once this store has checked it: a commit on an older snapshot is
        checked against the commits since (see `delta.commit_files`)."""
        opened = self._opened.__dict__.get("tables", {})
        if spec.qualified_name in self._ready and spec.qualified_name in opened:
            return opened[spec.qualified_name]
        table = self.delta_table(spec)
        if table is None:
            delta.create_table(self.table_uri(spec), self.delta_options(), spec)
            table = self.delta_table(spec)
        if spec.qualified_name not in self._ready:
            delta.evolve_schema(table, spec)
            self._ready.add(spec.qualified_name)
        return table

    # -- reads ---------------------------------------------------------------------------------

    def _live_files(
        self,
        spec: TableSpec,
        keys: Iterable[str] | None = None,
        *,
        version: int | None = None,
        as_of: dt.datetime | None = None,
    ) -> list[tuple[str | None, FileEntry]]:
        """(partition key, file) of every live file of the given partitions, from the log."""
        # A version listed before is not opened again: a version's files never change.
        listing = (
            self._listings.get((spec.qualified_name, version)) if version is not None else None
        )
        if listing is not None:
            return self._of_keys(spec, listing, keys)
        table = self.delta_table(spec, version=version, as_of=as_of)
        if table is None:
            return []
        listing = self._listings.get((spec.qualified_name, table.version()))
        if listing is None:
            listing = self._list_files(spec, table)
            self._listings[(spec.qualified_name, table.version())] = listing
            while len(self._listings) > LISTINGS_KEPT:
                with contextlib.suppress(StopIteration, KeyError):  # another thread's pop won
                    self._listings.pop(next(iter(self._listings)))
        return self._of_keys(spec, listing, keys)

    @staticmethod
    def _of_keys(
        spec: TableSpec,
        listing: list[tuple[str | None, FileEntry]],
        keys: Iterable[str] | None,
    ) -> list[tuple[str | None, FileEntry]]:
        if keys is None or spec.partition_column is None:
            return list(listing)
        wanted = set(keys)
        return [(key, entry) for key, entry in listing if key in wanted]

    def _list_files(self, spec: TableSpec, table: DeltaTable) -> list[tuple[str | None, FileEntry]]:
        """(partition key, file) of every file a version names, from its add actions."""
        actions = pa.table(table.get_add_actions(flatten=True))
        column = spec.partition_column
        root = self.table_dir(spec)
        values = (
            actions.column(f"partition.{column}").to_pylist()
            if column is not None
            else [None] * actions.num_rows
        )
        keyed = [
            (
                value.isoformat() if isinstance(value, dt.date) else value,
                FileEntry(posixpath.join(root, path), size, int(mtime) * 1_000_000),
            )
            for path, size, mtime, value in zip(
                actions.column("path").to_pylist(),
                actions.column("size_bytes").to_pylist(),
                actions.column("modification_time").to_pylist(),
                values,
                strict=True,
            )
        ]
        return sorted(keyed, key=lambda item: (item[0] or "", item[1].path))

    def partition_keys(
        self,
        spec: TableSpec,
        *,
        version: int | None = None,
        as_of: dt.datetime | None = None,
    ) -> list[str]:
        """Published partition keys, sorted (at `version` or `as_of` when given)."""
        if spec.partition_column is None:
            return []
        live = self._live_files(spec, version=version, as_of=as_of)
        return sorted({key for key, _ in live if key is not None})

    def files(
        self,
        spec: TableSpec,
        keys: Iterable[str] | None = None,
        *,
        version: int | None = None,
        as_of: dt.datetime | None = None,
    ) -> list[str]:
        """Live Parquet files of the given partitions (all when None) at the current version
        (or `version` / `as_of`); missing partitions are skipped."""
        return [
            entry.path for _, entry in self._live_files(spec, keys, version=version, as_of=as_of)
        ]

    def file_entries(
        self, spec: TableSpec, keys: Iterable[str] | None = None, *, version: int | None = None
    ) -> list[FileEntry]:
        """Like `files`, with each file's size and modification time."""
        return [entry for _, entry in self._live_files(spec, keys, version=version)]

    def files_by_partition(
        self, spec: TableSpec, *, version: int | None = None
    ) -> dict[str | None, list[FileEntry]]:
        """Each published partition's files in key order (key None for an unpartitioned
        table), from one read of the log (at `version` when given)."""
        grouped: dict[str | None, list[FileEntry]] = {}
        for key, entry in self._live_files(spec, version=version):
            grouped.setdefault(key, []).append(entry)
        return grouped

    def scan(
        self,
        spec: TableSpec,
        keys: Iterable[str] | None = None,
        *,
        version: int | None = None,
        as_of: dt.datetime | None = None,
    ) -> pl.LazyFrame:
        """A lazy frame over the given partitions (at a past `version` or `as_of` a time when
        given); only their files are ever opened. Columns the declaration added after a file
        was written read as NULL."""
        return self._scan_files(spec, self.files(spec, keys, version=version, as_of=as_of))

    def _scan_files(self, spec: TableSpec, files: list[str]) -> pl.LazyFrame:
        if not files:
            return pl.LazyFrame(schema=spec.read_schema)
        hive = spec.partition_column is not None
        return pl.scan_parquet(
            [self.fs.uri(path) for path in files],
            storage_options=self.fs.storage_options(),
            hive_partitioning=hive,
            hive_schema={spec.partition_column: pl.Date()} if hive else None,
            schema=spec.polars_schema,
            missing_columns="insert",
            extra_columns="ignore",
        ).select(list(spec.read_schema))

    def history(self, spec: TableSpec, limit: int | None = None) -> list[dict[str, object]]:
        """The table's versions, newest first, as the Delta log records them."""
        table = self.delta_table(spec)
        return [] if table is None else table.history(limit)

    # -- writes --------------------------------------------------------------------------------

    def publish(
        self,
        spec: TableSpec,
        key: str | None,
        data: pl.DataFrame | pl.LazyFrame | Iterable[pl.DataFrame | pa.RecordBatch],
    ) -> PublishedPartition:
        """Replace exactly one partition (or the whole unpartitioned table) with `data`.

        `data` may be a stream of frames (one per landing file, say): they are written as they
        come, so memory holds one frame at a time.
        """
        return self.commit(self.stage(spec, key, data))

    def stage(
        self,
        spec: TableSpec,
        key: str | None,
        data: pl.DataFrame | pl.LazyFrame | Iterable[pl.DataFrame | pa.RecordBatch],
    ) -> StagedPartition:
        """Write and verify a partition's files; nothing is visible until `commit`.

        Write-audit-publish: audit the staged files (`scan_staged`), then `commit` or
        `discard` them.
        """
        target = self.partition_dir(spec, key)
        if isinstance(data, (pl.DataFrame, pl.LazyFrame)):
            frame = conform(spec, key, data)
            batches = frame.collect_batches(chunk_size=ROW_GROUP_ROWS, engine="streaming")
        else:
            if spec.partition_column is not None:
                validate_day_key(key)
            batches = (conform_batch(spec, key, part) for part in data)
        self._writable_table(spec)
        if self.fs.is_local:  # on S3 a folder would be a marker object, litter to vacuum
            self.fs.makedirs(target)
        files: list[str] = []
        try:
            rows = self._write_files(spec, target, batches, files)
            added = self._verify(spec, key, files, rows)
        except BaseException:
            self._delete_files(files)
            raise
        size = sum(file.size for file in added)
        return StagedPartition(spec, key, target, tuple(files), rows, size, tuple(added))

    def _delete_files(self, files: Sequence[str]) -> None:
        for path in files:
            with contextlib.suppress(FileNotFoundError, OSError):
                self.fs.delete_file(path)

    def commit(self, staged: StagedPartition) -> PublishedPartition:
        """One Delta commit naming the staged files and removing the partition's previous
        files (which stay readable in older versions until vacuum). While deferring, the
        partition waits for `commit_deferred` (and the result has no version yet)."""
        if self._deferred is not None:
            earlier = self._deferred.pop((staged.spec.qualified_name, staged.key), None)
            if earlier is not None:
                self.discard(earlier)
            self._deferred[(staged.spec.qualified_name, staged.key)] = staged
            return _published(staged, None)
        return self.commit_all([staged])[0]

    def defer_commits(self) -> None:
        """From now on `commit` and `publish` queue partitions; `commit_deferred` commits each
        table's queue in one Delta commit. A step that publishes a range of partitions so
        makes one version per table, not one per partition (a commit costs milliseconds, a
        year's backfill has hundreds of partitions per table)."""
        if self._deferred is None:
            self._deferred = {}

    def commit_deferred(self) -> list[PublishedPartition]:
        """Commit the queued partitions: quarantine tables first, then the tables, then the
        landing manifests (what was ingested is recorded only once it is in bronze)."""
        if not self._deferred:
            return []
        queued, self._deferred = self._deferred, {}
        by_table: dict[str, list[StagedPartition]] = {}
        for staged in queued.values():
            by_table.setdefault(staged.spec.qualified_name, []).append(staged)
        published: list[PublishedPartition] = []
        for name in sorted(by_table, key=lambda name: (_commit_rank(name), name)):
            published += self.commit_all(by_table[name])
        return published

    def stop_deferring(self, discard: bool = False) -> None:
        """Back to committing at once; with `discard`, queued partitions are dropped (their
        files deleted), else they are committed first."""
        if discard and self._deferred:
            for staged in self._deferred.values():
                self.discard(staged)
            self._deferred = {}
        self.commit_deferred()
        self._deferred = None

    def commit_all(self, staged: Sequence[StagedPartition]) -> list[PublishedPartition]:
        """Several staged partitions of one table in one commit: readers see all of them
        replaced or none."""
        if not staged:
            return []
        spec = staged[0].spec
        if any(part.spec.qualified_name != spec.qualified_name for part in staged):
            raise ValueError("one commit replaces partitions of one table")
        return self._commit(spec, staged, [part.key for part in staged], "publish")

    def _commit(
        self,
        spec: TableSpec,
        staged: Sequence[StagedPartition],
        replace_keys: Sequence[str | None] | None,
        operation: str,
        *,
        table: DeltaTable | None = None,
        retry: bool = True,
        once: delta.Transaction | None = None,
    ) -> list[PublishedPartition]:
        """Commit staged partitions on `table` (the current version when None); whatever
        stops the commit, their files are deleted."""
        try:
            table = table or self._writable_table(spec)
            marks = [part.watermark for part in staged if part.watermark is not None]
            delta.commit_files(
                table,
                spec,
                [file for part in staged for file in part.added],
                replace_keys=replace_keys,
                operation=operation,
                run_id=self.run_id,
                retry=retry,
                transactions=[*marks, *([once] if once is not None else [])],
            )
        except BaseException:
            for part in staged:
                self.discard(part)
            raise
        table.update_incremental()  # the object does not follow its own commits
        version = table.version()
        return [_published(part, version) for part in staged]

    def commit_if_unchanged(self, staged: StagedPartition, read_version: int) -> PublishedPartition:
        """Replace a partition with files merged from the table at `read_version`: committed at
        once, and only if no writer changed the table since, else `PartitionChanged` and the
        files are discarded."""
        spec = staged.spec
        try:
            [published] = self._commit(
                spec,
                [staged],
                [staged.key],
                "merge",
                table=self.delta_table(spec, version=read_version),
                retry=False,
            )
        except delta.CommitFailedError as error:
            raise PartitionChanged(
                f"{spec.qualified_name} {staged.key}: changed since version {read_version}"
            ) from error
        return published

    def _newest(self, spec: TableSpec) -> DeltaTable | None:
        """The table at its newest version even inside a step (where reads otherwise keep the
        version they first saw); None when it was never written. Nothing is created."""
        table = self.delta_table(spec)
        if table is not None:
            table.update_incremental()
        return table

    def newest_version(self, spec: TableSpec) -> int | None:
        """The table's version now, for state read afresh in a step; None when never written."""
        table = self._newest(spec)
        return table.version() if table is not None else None

    def transaction_version(self, spec: TableSpec, app_id: str) -> int:
        """The newest version of Delta application transaction `app_id` committed to the
        table; 0 when it has none."""
        table = self._newest(spec)
        return (table.transaction_version(app_id) or 0) if table is not None else 0

    def append_once(
        self, staged: StagedPartition, app_id: str, version: int
    ) -> PublishedPartition | None:
        """Add the staged files to their partition in a commit that records application
        transaction `app_id` at `version`, unless the table already has that version of it
        (an earlier attempt committed this batch): then the files are discarded and None
        returned. Delta's idempotent writes, as Structured Streaming's Delta sink does them.
        A batch without rows adds no file to a partition that has files (the commit still
        records the transaction)."""
        spec = staged.spec
        once = delta.Transaction(app_id, version)
        try:
            if staged.rows == 0 and self.files(spec, [staged.key] if staged.key else None):
                self.discard(staged)
                staged = dataclasses.replace(staged, files=(), added=(), bytes=0)
            for attempt in range(delta.COMMIT_ATTEMPTS):
                table = self._writable_table(spec)
                table.update_incremental()
                if (table.transaction_version(app_id) or 0) >= version:
                    self.discard(staged)
                    return None
                try:
                    # No retry inside delta-rs: each attempt reads the transaction again, so
                    # a concurrent commit of the same batch is seen rather than doubled.
                    delta.commit_files(
                        table,
                        spec,
                        staged.added,
                        replace_keys=None,
                        operation="append",
                        run_id=self.run_id,
                        retry=False,
                        transactions=[once],
                    )
                except delta.CommitFailedError:
                    if attempt == delta.COMMIT_ATTEMPTS - 1:
                        raise
                    time.sleep(random.uniform(0.01, 0.05 * (attempt + 1)))
                    continue
                table.update_incremental()
                return _published(staged, table.version())
        except BaseException:
            self.discard(staged)
            raise
        raise AssertionError("unreachable: the last attempt raises")

    def appended_since(
        self, spec: TableSpec, version: int, keys: Sequence[str]
    ) -> tuple[int, pl.DataFrame] | None:
        """The version read up to (the table's now), and the rows that the commits after
        `version` appended to partitions `keys`, from Delta's change feed. None when there are
        none, or when any of those commits did more than append (a rewrite, a compaction, a
        restore): what changed is then not a list of new rows."""
        table = self.delta_table(spec)
        if table is None:
            return None
        reading = table.version()
        if reading <= version:
            return None
        commits = [c for c in table.history(reading - version) if c["version"] > version]
        if any(
            c.get("operation") != "WRITE"
            or c.get("operationParameters", {}).get("mode") != "Append"
            for c in commits
        ):
            return None
        column = spec.partition_column
        predicate = f"{column} IN ({', '.join(literal(key) for key in keys)})" if column else None
        changes = table.load_cdf(
            starting_version=version + 1, ending_version=reading, predicate=predicate
        )
        rows = pl.from_arrow(pa.table(changes))
        if rows.height == 0:
            return None
        return reading, rows.select(
            pl.col(name).cast(kind) for name, kind in spec.read_schema.items()
        )

    def current_version(self, spec: TableSpec) -> int:
        """The table's version now (creating the table when it has none)."""
        table = self._writable_table(spec)
        table.update_incremental()
        return table.version()

    def optimize(
        self, spec: TableSpec, key: str | None, target_bytes: int, *, read_version: int
    ) -> dict[str, object]:
        """delta-rs's OPTIMIZE of one partition (the whole table when unpartitioned) as read at
        `read_version`: Z-ordered by the table's sort keys when it has any, else compacted into
        files near `target_bytes`, in one commit; its metrics. `PartitionChanged` when a writer
        changed those files since (the rewrite is not committed)."""
        table = self._rewriting.get(spec.qualified_name)
        if table is None or table.version() < read_version:
            # One snapshot per table for all its rewrites: each commit moves it forward, so a
            # later rewrite sees this one's files, and a writer's changes to the same files
            # still fail it.
            table = self.delta_table(spec, version=read_version)
            self._rewriting[spec.qualified_name] = table
        filters = None
        if spec.partition_column is not None and key is not None:
            filters = [(spec.partition_column, "=", validate_day_key(key))]
        operation = "cluster" if spec.sort_by else "compact"
        options = {
            "partition_filters": filters,
            "target_size": target_bytes,
            "writer_properties": WriterProperties(compression="ZSTD"),
            "commit_properties": delta.commit_properties(
                operation, self.run_id, {"lakehouse.partitions": key or ""}, retries=0
            ),
        }
        try:
            if spec.sort_by:
                return table.optimize.z_order(list(spec.sort_by), **options)
            return table.optimize.compact(**options)
        except delta.CommitFailedError as error:
            raise PartitionChanged(
                f"{spec.qualified_name} {key}: changed since version {read_version}"
            ) from error

    def scan_staged(self, staged: StagedPartition) -> pl.LazyFrame:
        """The staged files as the audit reads them: the table's file columns, lazily."""
        return pl.scan_parquet(
            [self.fs.uri(path) for path in staged.files],
            storage_options=self.fs.storage_options(),
            schema=staged.spec.polars_schema,
        )

    def retire(self, spec: TableSpec, key: str | None) -> str | None:
        """Take a published partition out of the table in one Delta delete (readers see it
        whole or not at all); its files stay readable in older versions until vacuum.
        Returns the partition's folder, or None when it was not there."""
        table = self.delta_table(spec)
        if table is None or spec.partition_column is None or key is None:
            return None
        validate_day_key(key)
        if not self._live_files(spec, [key]):
            return None
        table.delete(
            f"{spec.partition_column} = '{key}'",
            commit_properties=delta.commit_properties("retention", self.run_id),
        )
        return self.partition_dir(spec, key)

    def restore(self, spec: TableSpec, version: int) -> dict[str, object]:
        """Roll the table back to `version` as a new commit (Delta restore). Partition
        watermarks go back with the rows (a day restored was computed from older input), in
        the same commit."""
        table = self.delta_table(spec)
        if table is None:
            raise ValueError(f"{spec.qualified_name} has never been written")
        past = self.delta_table(spec, version=version)
        keys: set[str | None] = {None}
        if spec.partition_column is not None:
            keys = {*self.partition_keys(spec), *self.partition_keys(spec, version=version)}
        marks = []
        for key in sorted(keys, key=str):
            then = past.transaction_version(watermark_id(key)) or 0
            if (table.transaction_version(watermark_id(key)) or 0) != then:
                marks.append(delta.Transaction(watermark_id(key), then))
        return table.restore(
            version,
            commit_properties=delta.commit_properties("restore", self.run_id, transactions=marks),
        )

    def vacuum(
        self,
        spec: TableSpec,
        *,
        retention_hours: float = VACUUM_RETENTION_HOURS,
        dry_run: bool = True,
    ) -> list[str]:
        """Delete files no version younger than the grace period needs: replaced and deleted
        files, and files of writers that died or failed before committing (a full vacuum).
        Returns their paths; a dry run deletes nothing."""
        table = self.delta_table(spec)
        if table is None:
            return []
        removed = table.vacuum(
            retention_hours=int(retention_hours),
            dry_run=dry_run,
            enforce_retention_duration=False,
            full=True,
        )
        if not dry_run:
            # A checkpoint and no log entries past their retention: a table with thousands
            # of commits still opens in a few reads.
            table.create_checkpoint()
            table.cleanup_metadata()
        root = self.table_dir(spec)
        return sorted(posixpath.join(root, path) for path in removed)

    def discard(self, staged: StagedPartition) -> None:
        self._delete_files(staged.files)

    def scan_in_parts(
        self,
        spec: TableSpec,
        keys: Iterable[str],
        part_bytes: int = PART_BYTES,
        *,
        version: int | None = None,
    ) -> list[pl.LazyFrame]:
        """Lazy frames over consecutive groups of the partitions' files (at `version` when
        given), each up to `part_bytes` of Parquet (a larger file stays alone): a step that
        handles one part at a time holds one part's rows, whatever the partition's size.
        Never empty."""
        parts: list[list[str]] = []
        size = 0
        for entry in self.file_entries(spec, keys, version=version):
            if not parts or size + entry.size > part_bytes:
                parts.append([])
                size = 0
            parts[-1].append(entry.path)
            size += entry.size
        return [self._scan_files(spec, files) for files in parts] or [self._scan_files(spec, [])]

    def parquet_writer(self, path: str, schema: pa.Schema) -> pq.ParquetWriter:
        """A writer of one lake Parquet file (zstd, with statistics) through the seam."""
        return pq.ParquetWriter(path, schema, filesystem=self.fs.filesystem, compression="zstd")

    def read_batches(self, path: str) -> Iterator[pa.RecordBatch]:
        """A Parquet file's rows, one row group's worth at a time."""
        with self._fs_for(path).open_input(path) as handle:
            yield from pq.ParquetFile(handle).iter_batches(batch_size=ROW_GROUP_ROWS)

    def append(self, spec: TableSpec, key: str | None, data: pl.DataFrame) -> PublishedPartition:
        """Add rows to a partition without touching its files (for logs such as the quality
        history): one Delta commit adding one verified file."""
        staged = self.stage(spec, key, data)
        return self._commit(spec, [staged], None, "append")[0]

    def _write_files(
        self,
        spec: TableSpec,
        folder: str,
        batches: Iterable[pl.DataFrame],
        files: list[str],
    ) -> int:
        """Write the batches into new uuid-named files in `folder`, appending each path to
        `files` as it is opened (so a caller can clean up after a failure). Returns the rows
        written."""
        arrow_schema = table_arrow_schema(spec)
        writer: pq.ParquetWriter | None = None
        rows_total = rows_in_file = 0

        def open_writer() -> pq.ParquetWriter:
            path = posixpath.join(folder, f"part-{uuid.uuid4().hex}{PARQUET_SUFFIX}")
            files.append(path)
            return self.parquet_writer(path, arrow_schema)

        try:
            for batch in batches:
                if len(batch) == 0:
                    continue
                if writer is None or rows_in_file >= self.max_file_rows:
                    if writer is not None:
                        writer.close()
                    writer = open_writer()
                    rows_in_file = 0
                table = to_arrow(batch).cast(arrow_schema)
                writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
                rows_in_file += table.num_rows
                rows_total += table.num_rows
            if writer is None:
                # An empty partition is still a partition: one file with the schema, no rows.
                writer = open_writer()
        finally:
            if writer is not None:
                writer.close()
        return rows_total

    def _verify(
        self, spec: TableSpec, key: str | None, files: Sequence[str], expected_rows: int
    ) -> list[delta.AddedFile]:
        """Read every written footer back; the columns must be the table's and the rows must
        add up. Returns what the commit records of each file."""
        verified = []
        expected_columns = list(spec.schema)
        root = self.table_dir(spec)
        partition = {spec.partition_column: key} if spec.partition_column else {}
        for path in files:
            with self.fs.open_input(path) as handle:
                size = handle.size()
                metadata = pq.read_metadata(handle)
            columns = metadata.schema.to_arrow_schema().names
            if columns != expected_columns:
                raise PublishVerificationError(
                    f"{spec.qualified_name}: written file {path} has columns {columns}, "
                    f"expected {expected_columns}"
                )
            relative = posixpath.relpath(path, root)
            stats = footer_stats(metadata)
            verified.append(delta.AddedFile(relative, size, metadata.num_rows, partition, stats))
        rows = sum(file.rows for file in verified)
        if rows != expected_rows:
            raise PublishVerificationError(
                f"{spec.qualified_name}: written files hold {rows} rows; "
                f"{expected_rows} were written"
            )
        return verified


def _published(staged: StagedPartition, version: int | None) -> PublishedPartition:
    return PublishedPartition(
        staged.spec.qualified_name,
        staged.key,
        staged.folder,
        staged.rows,
        len(staged.files),
        staged.bytes,
        version,
    )


def _commit_rank(table: str) -> int:
    """Commit order of deferred tables: quarantine, then data, then state (manifests)."""
    if table.startswith("quarantine."):
        return 0
    return 2 if table.startswith("state.") else 1
