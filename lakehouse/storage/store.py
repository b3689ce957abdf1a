"""The lake store: the only code that writes or reads lake tables.

Two verbs serve the whole graph: `publish(spec, key, frame)` replaces one partition atomically and
`scan(spec, keys)` returns a lazy, partition-pruned Polars frame. A publish writes Parquet files,
checks their footers against the rows written, then makes them visible in one step, so readers
never see a partial partition: on a local file system the files go to a staging folder that is
swapped in by a rename (`atomic.py`); on object storage they are written beside the partition's
current files and a conditional write of its manifest commits them (`manifest.py`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import posixpath
import re
import socket
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse.storage.duckdb_access import duckdb_uri
from lakehouse.storage.duckdb_access import register as register_filesystem
from lakehouse.storage.filesystem import FileEntry, LakeFileSystem
from lakehouse.storage.manifest import (
    COMMIT_ATTEMPTS,
    MANIFEST_NAME,
    ConcurrentCommitError,
    Manifest,
    ManifestFile,
    manifest_path,
    successor,
)
from lakehouse.storage.paths import (
    InvalidPartitionKey,
    parse_partition_folder,
    partition_folder,
    validate_day_key,
)
from lakehouse.storage.spec import TableSpec
from lakehouse.storage.sqltext import literal

STAGING_DIR = "_staging"
#: Under the staging folder: partitions replaced or retired by maintenance, kept for a grace
#: period (to restore by hand if need be) until vacuum deletes them.
TRASH_DIR = "_trash"
PARQUET_SUFFIX = ".parquet"
#: Rows per row group: large enough for scan throughput, small enough for min/max pruning.
ROW_GROUP_ROWS = 122_880
#: A partition larger than this is split into several files.
MAX_FILE_ROWS = 8 * ROW_GROUP_ROWS
#: Parquet bytes a step reads at once when it works part by part (about 1.3M bronze events).
PART_BYTES = 24 * 2**20
#: Footer key naming the columns a file's rows are sorted by (written by sorted stages).
SORTED_BY_KEY = "lakehouse.sorted_by"
#: A staging folder left by a live process is only taken for abandoned after this long.
STALE_STAGING_SECONDS = 24 * 3600
#: This machine in the names of the staging folders it creates: a process id means something
#: only on the host that issued it (pods sharing a scratch volume each count from 1).
HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "localhost"
#: Manifests read at once on object storage: each read is a round trip, so a table's worth
#: (a year of partitions) is read side by side rather than one after another.
MANIFEST_READERS = 16
#: The end of a folder a writer owns while it lives: `<label>.<pid>@<host>.<uuid hex>` for
#: staging and scratch (`_holder_name`), `<label>.<ns>.<uuid hex>` for the trash, `.old` added
#: to a replaced partition on its way out.
HOLDER_NAME = re.compile(r"\.(?P<pid>[0-9]+)(@(?P<host>[A-Za-z0-9-]+))?\.[0-9a-f]{32}(\.old)?$")


class SchemaMismatch(ValueError):
    """A frame whose columns do not match the table's contract."""


class PartitionChanged(RuntimeError):
    """A conditional commit found the partition republished since it was read."""


class PublishVerificationError(RuntimeError):
    """Staged files that do not read back as written; nothing was published."""


@dataclass(frozen=True)
class StagedPartition:
    """Verified files of one partition, in a staging folder, not yet visible to readers."""

    spec: TableSpec
    key: str | None
    folder: str
    target: str
    files: tuple[str, ...]
    rows: int
    bytes: int
    #: Name, size and rows of each file, as its verified footer gave them.
    manifest_files: tuple[ManifestFile, ...] = ()


@dataclass(frozen=True)
class PublishedPartition:
    table: str
    partition_key: str | None
    path: str
    rows: int
    files: int
    bytes: int


class LakeStore:
    def __init__(
        self,
        fs: LakeFileSystem,
        *,
        max_file_rows: int = MAX_FILE_ROWS,
        scratch_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.fs = fs
        self.max_file_rows = max_file_rows
        # Scratch files and DuckDB's spill stay on a local disk: under the lake's staging
        # area when the lake is local, else in `scratch_dir` (default: the system temp dir).
        if fs.uses_manifests:
            scratch_root = scratch_dir or posixpath.join(tempfile.gettempdir(), "lakehouse")
            self.scratch_fs = LakeFileSystem.local(os.fspath(scratch_root))
        else:
            self.scratch_fs = fs

    @classmethod
    def local(cls, lake_root: str | os.PathLike[str]) -> LakeStore:
        return cls(LakeFileSystem.local(os.fspath(lake_root)))

    @classmethod
    def from_url(
        cls, url: str | os.PathLike[str], scratch_dir: str | os.PathLike[str] | None = None
    ) -> LakeStore:
        """The lake at a local path or an `s3://bucket/prefix` URL."""
        return cls(LakeFileSystem.from_url(os.fspath(url)), scratch_dir=scratch_dir)

    # -- DuckDB --------------------------------------------------------------------------------

    def _fs_for(self, path: str) -> LakeFileSystem:
        """The scratch file system for scratch paths, else the lake's."""
        if self.scratch_fs is not self.fs and path.startswith(self.scratch_fs.root + "/"):
            return self.scratch_fs
        return self.fs

    def duckdb_path(self, path: str) -> str:
        """The name DuckDB opens a lake or scratch file by (see `prepare_duckdb`)."""
        if self._fs_for(path).uses_manifests:
            return duckdb_uri(path)
        return path

    def prepare_duckdb(self, con: duckdb.DuckDBPyConnection) -> None:
        """Let `con` read lake files (object storage through the lake's own file system) and
        spill to the local scratch area rather than DuckDB's default `.tmp` in the working
        directory, unless the connection was given a temp directory."""
        if self.fs.uses_manifests:
            register_filesystem(con, self.fs.filesystem)
        (current,) = con.sql("SELECT current_setting('temp_directory')").fetchall()[0]
        if current in ("", ".tmp"):
            # DuckDB names its spill files by process id: one folder per host keeps the
            # processes of two hosts sharing a volume apart.
            folder = self.scratch_fs.path(STAGING_DIR, "_duckdb_spill", HOST)
            self.scratch_fs.makedirs(folder)  # DuckDB creates only the last level
            con.execute(f"SET temp_directory = {literal(folder)}")

    # -- paths ---------------------------------------------------------------------------------

    def table_dir(self, spec: TableSpec) -> str:
        return self.fs.path(*spec.path)

    def partition_dir(self, spec: TableSpec, key: str | None) -> str:
        """The folder holding one partition's files (the table folder when unpartitioned)."""
        if spec.partition_column is None:
            if key is not None:
                raise InvalidPartitionKey(
                    f"{spec.qualified_name} is not partitioned; got key {key!r}"
                )
            return self.table_dir(spec)
        return posixpath.join(self.table_dir(spec), partition_folder(spec.partition_column, key))

    def _staging_root(self, spec: TableSpec, fs: LakeFileSystem | None = None) -> str:
        return (fs or self.fs).path(STAGING_DIR, *spec.path)

    # -- reads ---------------------------------------------------------------------------------

    def partition_keys(self, spec: TableSpec) -> list[str]:
        """Published partition keys, sorted."""
        if spec.partition_column is None:
            return []
        if self.fs.uses_manifests:
            folders = [folder for folder, _ in self._live_manifests(spec)]
        else:
            folders = list(self.fs.subdirs(self.table_dir(spec)))
        keys = (
            parse_partition_folder(spec.partition_column, posixpath.basename(folder))
            for folder in folders
        )
        return sorted(key for key in keys if key is not None)

    def files(self, spec: TableSpec, keys: Iterable[str] | None = None) -> list[str]:
        """Parquet files of the given partitions (all when None); missing partitions are skipped."""
        return [entry.path for entry in self.file_entries(spec, keys)]

    def file_entries(self, spec: TableSpec, keys: Iterable[str] | None = None) -> list[FileEntry]:
        """Like `files`, with each file's size and modification time."""
        if self.fs.uses_manifests:
            return [
                entry
                for folder, manifest in self._live_manifests(spec, keys)
                for entry in _committed_files(folder, manifest)
            ]
        if spec.partition_column is None:
            folders = [self.table_dir(spec)]
        else:
            wanted = self.partition_keys(spec) if keys is None else sorted(set(keys))
            folders = [self.partition_dir(spec, key) for key in wanted]
        return [entry for folder in folders for entry in self.fs.list_files(folder, PARQUET_SUFFIX)]

    def files_by_partition(self, spec: TableSpec) -> dict[str | None, list[FileEntry]]:
        """Each published partition's files in key order (key None for an unpartitioned table),
        from one listing: on object storage one read of each manifest."""
        grouped: dict[str | None, list[FileEntry]] = {}
        for entry in self.file_entries(spec):
            key = None
            if spec.partition_column is not None:
                folder = posixpath.basename(posixpath.dirname(entry.path))
                key = parse_partition_folder(spec.partition_column, folder)
            grouped.setdefault(key, []).append(entry)
        return grouped

    def read_manifest(self, folder: str) -> tuple[Manifest | None, str | None]:
        """A partition folder's manifest and its version (object storage)."""
        found = self.fs.read_versioned(manifest_path(folder))
        if found is None:
            return None, None
        data, etag = found
        return Manifest.from_json(data, manifest_path(folder)), etag

    def manifest_folders(self, spec: TableSpec) -> list[str]:
        """Folders of a table holding a manifest, tombstones included (object storage)."""
        return sorted(
            posixpath.dirname(entry.path)
            for entry in self.fs.list_tree(self.table_dir(spec))
            if posixpath.basename(entry.path) == MANIFEST_NAME
        )

    def forget_retired(self, folder: str, names: set[str]) -> None:
        """Drop deleted retired files from a manifest (vacuum); a lost race leaves them listed
        for the next vacuum, which is harmless."""
        current, etag = self.read_manifest(folder)
        if current is not None:
            self.fs.write_if(manifest_path(folder), current.without_retired(names).to_json(), etag)

    def _live_manifests(
        self, spec: TableSpec, keys: Iterable[str] | None = None
    ) -> list[tuple[str, Manifest]]:
        """(folder, manifest) of the given partitions (all when None) that exist and are not
        tombstones, in key order; one read of each manifest."""
        if spec.partition_column is None:
            folders = [self.table_dir(spec)]
        elif keys is None:
            # A partition exists once its manifest does, until retention leaves a tombstone.
            folders = self.manifest_folders(spec)
        else:
            folders = [self.partition_dir(spec, key) for key in sorted(set(keys))]
        with ThreadPoolExecutor(min(MANIFEST_READERS, max(1, len(folders)))) as readers:
            manifests = list(readers.map(self.read_manifest, folders))
        return [
            (folder, manifest)
            for folder, (manifest, _) in zip(folders, manifests, strict=True)
            if manifest is not None and not manifest.is_tombstone
        ]

    def scan(self, spec: TableSpec, keys: Iterable[str] | None = None) -> pl.LazyFrame:
        """A lazy frame over the given partitions; only their files are ever opened."""
        return self._scan_files(spec, self.files(spec, keys))

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
        *,
        sorted_by: Sequence[str] = (),
    ) -> StagedPartition:
        """Write and verify a partition's files in a staging folder; nothing is visible yet.

        `sorted_by` declares (in each file's footer) the order the rows come in, for
        maintenance to know a partition is clustered.

        Write-audit-publish: audit the staged files (`scan_staged`), then `commit` or
        `discard` them.
        """
        target = self.partition_dir(spec, key)
        if isinstance(data, (pl.DataFrame, pl.LazyFrame)):
            frame = _conform(spec, key, data)
            batches = frame.collect_batches(chunk_size=ROW_GROUP_ROWS, engine="streaming")
        else:
            if spec.partition_column is not None:
                validate_day_key(key)
            batches = (_conform_batch(spec, key, part) for part in data)
        self.remove_abandoned_staging(spec)
        if self.fs.uses_manifests:
            # New uuid-named files beside the current ones: invisible until the manifest names
            # them (see manifest.py).
            staging = target
        else:
            label = posixpath.basename(target) if key is not None else "_table"
            staging = self._new_staging_dir(spec, label)
        files: list[str] = []
        try:
            rows = self._write_files(spec, staging, batches, files, sorted_by)
            verified = self._verify(spec, files, rows)
        except BaseException:
            self._delete_staged(staging, files)
            raise
        size = sum(file.size for file in verified)
        return StagedPartition(
            spec, key, staging, target, tuple(files), rows, size, manifest_files=tuple(verified)
        )

    def _delete_staged(self, folder: str, files: Sequence[str]) -> None:
        if self.fs.uses_manifests:
            for path in files:
                with contextlib.suppress(FileNotFoundError):
                    self.fs.delete_file(path)
        else:
            self.fs.delete_dir(folder)

    def commit(
        self,
        staged: StagedPartition,
        *,
        keep_previous: bool = False,
        expect_files: set[str] | None = None,
    ) -> PublishedPartition:
        """Swap a staged partition in atomically; the previous version is deleted, or with
        `keep_previous` moved to the trash (see `retire`) for vacuum to delete later. On
        object storage the previous files always stay until vacuum (see manifest.py).

        `expect_files` (file names) makes the commit conditional on the partition still being
        made of exactly those files, else `PartitionChanged` (maintenance rewrites)."""
        if self.fs.uses_manifests:
            self._commit_manifest(staged, expect_files)
            return self._published(staged)
        if expect_files is not None:
            entries = self.file_entries(staged.spec, partition_keys_of(staged.key))
            live = {posixpath.basename(entry.path) for entry in entries}
            if live != expect_files:
                self.discard(staged)
                raise PartitionChanged(f"{staged.target} was republished meanwhile")
        old_holder = f"{staged.folder}.old"
        try:
            self.fs.publish_dir(staged.folder, staged.target, old_holder=old_holder)
        except BaseException:
            self.fs.delete_dir(staged.folder)
            raise
        if keep_previous and self.fs.exists(old_holder):
            trash = self._trash_path(staged.spec, staged.key)
            self.fs.makedirs(posixpath.dirname(trash))
            self.fs.move(old_holder, trash)
        else:
            self.fs.delete_dir(old_holder)
        return self._published(staged)

    @staticmethod
    def _published(staged: StagedPartition) -> PublishedPartition:
        return PublishedPartition(
            staged.spec.qualified_name,
            staged.key,
            staged.target,
            staged.rows,
            len(staged.files),
            staged.bytes,
        )

    def _commit_manifest(self, staged: StagedPartition, expect_files: set[str] | None) -> None:
        """Name the staged files, and only them, in the partition's manifest."""
        new_files = list(staged.manifest_files)

        def files_after(current: list[ManifestFile]) -> list[ManifestFile]:
            if expect_files is not None and {f.name for f in current} != expect_files:
                raise PartitionChanged(f"{staged.target} was republished meanwhile")
            return new_files

        try:
            self._swap_manifest(staged.target, files_after)
        except BaseException:
            self._delete_staged(staged.folder, staged.files)
            raise

    def _swap_manifest(self, folder: str, files_after) -> Manifest:
        """Read-modify-write of a manifest under a conditional write, retried when another
        writer committed in between. `files_after(current_files)` gives the new file list."""
        for _ in range(COMMIT_ATTEMPTS):
            current, etag = self.read_manifest(folder)
            manifest = successor(current, files_after(list(current.files) if current else []))
            if self.fs.write_if(manifest_path(folder), manifest.to_json(), etag):
                return manifest
        raise ConcurrentCommitError(
            f"{folder}: {COMMIT_ATTEMPTS} conditional writes of the manifest lost to other writers"
        )

    def sorted_by(self, path: str) -> tuple[str, ...]:
        """The columns a file declares its rows sorted by (empty when it declares none)."""
        with self.fs.open_input(path) as handle:
            metadata = pq.read_metadata(handle).metadata or {}
        value = metadata.get(SORTED_BY_KEY.encode(), b"").decode()
        return tuple(value.split(",")) if value else ()

    def scan_staged(self, staged: StagedPartition) -> pl.LazyFrame:
        """The staged files as the audit reads them: the table's file columns, lazily."""
        return pl.scan_parquet(
            [self.fs.uri(path) for path in staged.files],
            storage_options=self.fs.storage_options(),
            schema=staged.spec.polars_schema,
        )

    def retire(self, spec: TableSpec, key: str | None) -> str | None:
        """Take a published partition out of the table in one rename (readers see it whole or
        not at all); it waits in the trash until vacuum deletes it. Returns where it went."""
        source = self.partition_dir(spec, key)
        if self.fs.uses_manifests:
            # A tombstone: gone for readers at once, its files retired for vacuum's grace.
            current = self.read_manifest(source)[0]
            if current is None or current.is_tombstone:
                return None
            self._swap_manifest(source, lambda _files: [])
            return source
        if not self.fs.exists(source):
            return None
        destination = self._trash_path(spec, key)
        self.fs.makedirs(posixpath.dirname(destination))
        self.fs.move(source, destination)
        return destination

    def trash_root(self) -> str:
        return self.fs.path(STAGING_DIR, TRASH_DIR)

    def _trash_path(self, spec: TableSpec, key: str | None) -> str:
        label = key or "_table"
        stamp = time.time_ns()
        return posixpath.join(self.trash_root(), *spec.path, f"{label}.{stamp}.{uuid.uuid4().hex}")

    def discard(self, staged: StagedPartition) -> None:
        self._delete_staged(staged.folder, staged.files)

    @contextlib.contextmanager
    def scratch(self, spec: TableSpec, label: str) -> Iterator[str]:
        """A private staging folder for a step's intermediate files, deleted when done (and by
        `remove_abandoned_staging` if the process dies)."""
        folder = self._new_staging_dir(spec, f"scratch-{label}", self.scratch_fs)
        try:
            yield folder
        finally:
            self.scratch_fs.delete_dir(folder)

    def scan_in_parts(
        self, spec: TableSpec, keys: Iterable[str], part_bytes: int = PART_BYTES
    ) -> list[pl.LazyFrame]:
        """Lazy frames over consecutive groups of the partitions' files, each up to `part_bytes`
        of Parquet (a larger file stays alone): a step that handles one part at a time holds
        one part's rows, whatever the partition's size. Never empty."""
        parts: list[list[str]] = []
        size = 0
        for entry in self.file_entries(spec, keys):
            if not parts or size + entry.size > part_bytes:
                parts.append([])
                size = 0
            parts[-1].append(entry.path)
            size += entry.size
        return [self._scan_files(spec, files) for files in parts] or [self._scan_files(spec, [])]

    def parquet_writer(
        self, path: str, schema: pa.Schema, *, scratch: bool = False
    ) -> pq.ParquetWriter:
        """A writer of one Parquet file through the file-system seam. Scratch files are read
        once and deleted: LZ4 without statistics writes them several times faster than zstd."""
        return pq.ParquetWriter(
            path,
            schema,
            filesystem=self._fs_for(path).filesystem,
            compression="lz4" if scratch else "zstd",
            write_statistics=not scratch,
        )

    def read_batches(self, path: str) -> Iterator[pa.RecordBatch]:
        """A Parquet file's rows, one row group's worth at a time."""
        with self._fs_for(path).open_input(path) as handle:
            yield from pq.ParquetFile(handle).iter_batches(batch_size=ROW_GROUP_ROWS)

    def _new_staging_dir(
        self, spec: TableSpec, label: str, fs: LakeFileSystem | None = None
    ) -> str:
        fs = fs or self.fs
        staging = posixpath.join(self._staging_root(spec, fs), _holder_name(label))
        fs.makedirs(staging)
        return staging

    def append(self, spec: TableSpec, key: str | None, data: pl.DataFrame) -> PublishedPartition:
        """Add one file to a partition without touching the files already there (for logs such
        as the quality history). The file is staged and verified, then renamed into place."""
        target = self.partition_dir(spec, key)
        frame = _conform(spec, key, data)
        if self.fs.uses_manifests:
            staging = target  # invisible until the manifest names the file
        else:
            staging = self.fs.path(STAGING_DIR, *spec.path, _holder_name("append"))
        self.fs.makedirs(staging)
        files: list[str] = []
        try:
            rows = self._write_files(spec, staging, [frame.collect()], files)
            added = self._verify(spec, files, rows)
            size, written = sum(file.size for file in added), len(files)
            if self.fs.uses_manifests:
                self._swap_manifest(target, lambda current: [*current, *added])
                files.clear()  # committed: nothing to clean up
            else:
                self.fs.makedirs(target)
                for path in files:
                    self.fs.move(path, posixpath.join(target, posixpath.basename(path)))
        finally:
            self._delete_staged(staging, files)
        return PublishedPartition(spec.qualified_name, key, target, rows, written, size)

    def _write_files(
        self,
        spec: TableSpec,
        staging: str,
        batches: Iterable[pl.DataFrame],
        files: list[str],
        sorted_by: Sequence[str] = (),
    ) -> int:
        """Write the batches into new files in `staging`, appending each path to `files` as it
        is opened (so a caller can clean up after a failure). Returns the rows written."""
        arrow_schema = _arrow_schema(spec)
        footer_schema = arrow_schema
        if sorted_by:
            footer_schema = arrow_schema.with_metadata({SORTED_BY_KEY: ",".join(sorted_by)})
        writer: pq.ParquetWriter | None = None
        rows_total = rows_in_file = 0

        def open_writer() -> pq.ParquetWriter:
            path = posixpath.join(staging, f"part-{uuid.uuid4().hex}{PARQUET_SUFFIX}")
            files.append(path)
            return self.parquet_writer(path, footer_schema)

        try:
            for batch in batches:
                if len(batch) == 0:
                    continue
                if writer is None or rows_in_file >= self.max_file_rows:
                    if writer is not None:
                        writer.close()
                    writer = open_writer()
                    rows_in_file = 0
                table = _to_arrow(batch).cast(arrow_schema)
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
        self, spec: TableSpec, files: Sequence[str], expected_rows: int
    ) -> list[ManifestFile]:
        """Read every staged footer back; the rows must add up. Returns each file's name, size
        and rows (what a manifest records)."""
        verified = []
        expected_columns = list(spec.schema)
        for path in files:
            with self.fs.open_input(path) as handle:
                size = handle.size()
                metadata = pq.read_metadata(handle)
            verified.append(ManifestFile(posixpath.basename(path), size, metadata.num_rows))
            columns = metadata.schema.to_arrow_schema().names
            if columns != expected_columns:
                raise PublishVerificationError(
                    f"{spec.qualified_name}: staged file {path} has columns {columns}, "
                    f"expected {expected_columns}"
                )
        rows = sum(file.rows for file in verified)
        if rows != expected_rows:
            raise PublishVerificationError(
                f"{spec.qualified_name}: staged files hold {rows} rows; "
                f"{expected_rows} were written"
            )
        return verified

    def remove_abandoned_staging(self, spec: TableSpec) -> list[str]:
        """Delete staging and scratch folders of this table left by writers that died. They
        live on the local scratch file system (the lake's own when the lake is local; on
        object storage staged files are uuid-named litter that vacuum deletes)."""
        fs = self.scratch_fs
        removed = []
        for folder in fs.subdirs(self._staging_root(spec, fs)):
            if _is_abandoned(posixpath.basename(folder), fs.list_dir(folder)):
                fs.delete_dir(folder)
                removed.append(folder)
        return removed


def _committed_files(folder: str, manifest: Manifest) -> list[FileEntry]:
    mtime_ns = int(dt.datetime.fromisoformat(manifest.committed_at).timestamp() * 1e9)
    return [
        FileEntry(posixpath.join(folder, file.name), file.size, mtime_ns) for file in manifest.files
    ]


def partition_keys_of(key: str | None) -> list[str] | None:
    """The `keys` argument that selects one partition (None: the unpartitioned table)."""
    return None if key is None else [key]


def _holder_name(label: str) -> str:
    """`<label>.<pid>@<host>.<uuid hex>`: a staging folder its writer owns while it lives."""
    return f"{label}.{os.getpid()}@{HOST}.{uuid.uuid4().hex}"


def _is_abandoned(folder_name: str, entries: Sequence) -> bool:
    """A folder whose writer died on this host, or (whoever wrote it) untouched for a day:
    another host's process cannot be asked whether it is alive."""
    owner = HOLDER_NAME.search(folder_name)
    if owner is None:
        return True
    if owner["host"] == HOST and not _process_alive(int(owner["pid"])):
        return True
    newest = max((entry.mtime_ns for entry in entries), default=0) / 1e9
    return newest > 0 and time.time() - newest > STALE_STAGING_SECONDS


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _to_arrow(batch: pl.DataFrame | pa.RecordBatch | pa.Table) -> pa.Table:
    if isinstance(batch, pl.DataFrame):
        return batch.to_arrow()
    if isinstance(batch, pa.RecordBatch):
        return pa.Table.from_batches([batch])
    return batch


def _conform_batch(
    spec: TableSpec, key: str | None, part: pl.DataFrame | pa.RecordBatch
) -> pl.DataFrame | pa.RecordBatch:
    """Frames are checked against the contract; Arrow batches (from DuckDB over staged files
    of this same table) must carry exactly the table's columns."""
    if isinstance(part, pl.DataFrame):
        return _conform(spec, key, part).collect()
    if part.schema.names != list(spec.schema):
        raise SchemaMismatch(
            f"{spec.qualified_name}: batch columns {part.schema.names} are not the table's "
            f"columns {list(spec.schema)}"
        )
    return part


def _arrow_schema(spec: TableSpec) -> pa.Schema:
    return arrow_schema(spec.polars_schema)


def arrow_schema(schema: pl.Schema) -> pa.Schema:
    """The Arrow schema Polars writes for `schema`."""
    return pl.DataFrame(schema=schema).to_arrow().schema


def _conform(spec: TableSpec, key: str | None, data: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Check the frame against the contract and order its columns; never silently drop data."""
    frame = data.lazy()
    columns = frame.collect_schema()
    if spec.partition_column is not None:
        validate_day_key(key)
    expected = set(spec.schema)
    present = set(columns)
    partition_column = spec.partition_column
    if partition_column is not None and partition_column in present:
        # The folder carries the value; refuse rows that belong to another partition.
        frame = frame.with_columns(pl.col(partition_column).cast(pl.Date()))
        frame = _assert_single_partition(frame, partition_column, key, spec)
        present.discard(partition_column)
    missing = sorted(expected - present)
    extra = sorted(present - expected)
    if missing or extra:
        raise SchemaMismatch(
            f"{spec.qualified_name}: frame does not match the table schema "
            f"(missing columns: {missing or 'none'}; unexpected columns: {extra or 'none'})"
        )
    return spec.conform(frame)


def _assert_single_partition(
    frame: pl.LazyFrame, column: str, key: str | None, spec: TableSpec
) -> pl.LazyFrame:
    expected = pl.lit(key).str.to_date()
    stray = frame.filter(pl.col(column).is_null() | (pl.col(column) != expected)).select(pl.len())
    count = stray.collect().item()
    if count:
        raise InvalidPartitionKey(
            f"{spec.qualified_name}: {count} rows have {column} other than {key} "
            "(NULL partition values are never written)"
        )
    return frame
