"""Micro-batches: new landing files of a day appended to its bronze partition exactly once.

Only files a landing tick (a sensor's, or `lakehouse build --watch`'s) found settled and
recorded in the manifest are taken. The manifest is the checkpoint, as Structured Streaming's
offset and commit logs are: a bronze run first records which files make up the day's next
batch (their `batch` number n), then appends their rows to the day's bronze partition and
quarantine in commits that carry the Delta application transaction (source and day, n), then
marks the files ingested. A run killed after planning replays exactly the planned files as
batch n; one killed after the commits finds n in the table's transactions and only marks the
files. A batch so costs what its files cost, however much the day already holds, and no row is
appended twice.

A day whose ingested files changed or disappeared cannot grow by appending: it is rewritten
whole (`NotAppendable`), as any day outside a micro-batch run is.
"""

from __future__ import annotations

import datetime as dt
import posixpath

import polars as pl

from lakehouse.landing.contract import SourceContract
from lakehouse.landing.ingest import AppendBatch, IngestResult, batch_app_id, landing_files
from lakehouse.landing.manifest import (
    INGESTED,
    MANIFEST_SCHEMA,
    PENDING,
    REQUESTED,
    load_manifest,
    merge_manifest,
)
from lakehouse.landing.watch import hash_and_check
from lakehouse.storage import LakeFileSystem, LakeStore
from lakehouse.table_spec import TableSpec

#: Run tag of a bronze run that appends the day's new files instead of rewriting the day (what
#: the landing sensors and `lakehouse build --watch` request).
INGEST_TAG = "lakehouse/ingest"
APPEND = "append"


class NotAppendable(Exception):
    """A day whose ingested files changed or are gone: it must be rewritten whole."""


def next_batch(
    store: LakeStore,
    landing: LakeFileSystem,
    contract: SourceContract,
    table: TableSpec,
    day: str,
    *,
    run_id: str | None,
    now: dt.datetime,
) -> AppendBatch | None:
    """The day's next batch (a planned one first), recorded in the manifest before it is
    read; None when every file of the day is ingested."""
    committed = store.transaction_version(table, batch_app_id(contract.name, day))
    manifest = load_manifest(store, contract.name).filter(pl.col("arrival_date") == day)
    pending = manifest.filter(pl.col("batch").is_not_null() & (pl.col("status") != INGESTED))
    # Committed to bronze by a run that died before it said so in the manifest.
    landed = pending.filter(pl.col("batch") <= committed)
    if landed.height:
        landed = landed.with_columns(
            status=pl.lit(INGESTED), changed_at=pl.lit(now).cast(manifest["changed_at"].dtype)
        )
        merge_manifest(store, contract.name, landed)
        manifest = pl.concat(
            [manifest.filter(~pl.col("path").is_in(landed["path"].implode())), landed]
        )
    planned = pending.filter(pl.col("batch") == committed + 1)
    if planned.height:
        return AppendBatch(committed + 1, tuple(sorted(planned["path"])))
    ingested = {
        row["path"]: row
        for row in manifest.filter(pl.col("status") == INGESTED).iter_rows(named=True)
    }
    entries, _ = landing_files(landing, contract, day)
    listed = {posixpath.relpath(entry.path, landing.root): entry for entry in entries}
    for path, row in ingested.items():
        entry = listed.get(path)
        if entry is None:
            raise NotAppendable(f"{path} was removed since it was ingested")
        # A touched file keeps its rows; only other content needs the day rewritten.
        touched = (entry.size, entry.mtime_ns) != (row["size"], row["mtime_ns"])
        if touched and hash_and_check(landing, path)[0] != row["content_hash"]:
            raise NotAppendable(f"{path} changed since it was ingested")
    # Only files a landing tick saw settled: a file still being copied is never read.
    known = {row["path"]: row for row in manifest.iter_rows(named=True)}
    settled = {path for path, row in known.items() if row["status"] in (PENDING, REQUESTED)}
    new = sorted(path for path in listed if path not in ingested and path in settled)
    if not new:
        return None
    rows = [
        _updated(
            known.get(path),
            path=path,
            arrival_date=day,
            size=listed[path].size,
            mtime_ns=listed[path].mtime_ns,
            changed_at=now,
            status=REQUESTED,
            run_id=run_id,
            batch=committed + 1,
        )
        for path in new
    ]
    merge_manifest(store, contract.name, pl.DataFrame(rows, schema=MANIFEST_SCHEMA, orient="row"))
    return AppendBatch(committed + 1, tuple(new))


def _updated(known: dict | None, **fields) -> dict:
    """A file's manifest row with `fields` changed, first seen when it was first known (or
    now, `changed_at`)."""
    row = dict(known or {name: None for name in MANIFEST_SCHEMA})
    row.update(fields, first_seen=row["first_seen"] or fields["changed_at"])
    return row


def record_batch(
    store: LakeStore,
    contract: SourceContract,
    day: str,
    batch: AppendBatch,
    result: IngestResult,
    *,
    run_id: str | None,
    now: dt.datetime,
) -> None:
    """The batch's files as ingested, with what was read of each."""
    known = {
        row["path"]: row
        for row in load_manifest(store, contract.name)
        .filter(pl.col("path").is_in(list(batch.files)))
        .iter_rows(named=True)
    }
    rows = [
        _updated(
            known.get(path),
            path=path,
            arrival_date=day,
            size=result.listed[path][0],
            mtime_ns=result.listed[path][1],
            content_hash=result.hashes[path],
            changed_at=now,
            status=INGESTED,
            run_id=run_id,
            error=None,
            batch=batch.number,
        )
        for path in batch.files
    ]
    merge_manifest(store, contract.name, pl.DataFrame(rows, schema=MANIFEST_SCHEMA, orient="row"))
