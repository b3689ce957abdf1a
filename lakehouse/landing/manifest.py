"""The landing manifest: what has been seen and ingested of each landing file, kept in the lake.

One small table per source under `lake/state/`, replaced atomically like any lake table, so the
memory survives restarts and never lives only in a sensor's cursor string. It is the one record
of what was ingested, whoever ran the bronze asset: the landing sensors write what they see and
request, and every bronze run (`lakehouse build`, the dagster CLI, the UI, a sensor's run)
records the files it read, by size, modification time and content hash. A file the manifest
knows unchanged is never requested again; a file changed afterwards is.

Status of a file: `settling` (seen, still changing), `pending` (settled, its day not requested
yet), `requested` (a run was requested with `run_key`), `ingested` (that run succeeded),
`failed` (unreadable, or its run failed: `error` says why; retried when the file changes),
`removed` (gone from landing; its day is to be re-ingested without it), `deleted` (gone, and
its day was requested again).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from lakehouse.storage import LakeStore, PartitionChanged
from lakehouse.table_spec import TableSpec

UTC_TS = pl.Datetime("us", "UTC")
#: A merge that keeps losing to other writers gives up after this many attempts.
MERGE_ATTEMPTS = 20
MANIFEST_SCHEMA: dict[str, pl.DataType] = {
    "path": pl.String(),
    "arrival_date": pl.String(),
    "size": pl.Int64(),
    "mtime_ns": pl.Int64(),
    "content_hash": pl.String(),
    "first_seen": UTC_TS,
    "changed_at": UTC_TS,
    "status": pl.String(),
    "run_key": pl.String(),
    "run_id": pl.String(),
    "error": pl.String(),
    #: The micro-batch of its day the file is (or was) appended in (`landing/batches.py`);
    #: null for files ingested by rewriting their day.
    "batch": pl.Int64(),
}
SETTLING, PENDING, REQUESTED, INGESTED, FAILED, REMOVED, DELETED = (
    "settling",
    "pending",
    "requested",
    "ingested",
    "failed",
    "removed",
    "deleted",
)


def manifest_spec(source: str) -> TableSpec:
    return TableSpec(
        layer="state",
        name=f"landing_manifest_{source}",
        schema=MANIFEST_SCHEMA,
        description=f"What the landing sensor has seen of every {source} file.",
        owner="team:data-engineering",
        domain="ingestion",
    )


def load_manifest(store: LakeStore, source: str) -> pl.DataFrame:
    """The manifest as it is now: read at its newest version even inside a step, where the
    store otherwise keeps reading each table at the version it first saw."""
    spec = manifest_spec(source)
    return store.scan(spec, version=store.newest_version(spec)).collect()


def save_manifest(store: LakeStore, source: str, manifest: pl.DataFrame) -> None:
    store.publish(manifest_spec(source), None, manifest.sort("path"))


def merge_manifest(store: LakeStore, source: str, rows: pl.DataFrame) -> None:
    """Replace the manifest's rows of these paths (adding new ones), keeping every other row
    as it is: read, merge, and commit only over the version read, again from the new version
    when another writer (a sensor tick, a bronze run) committed meanwhile, so both keep each
    other's rows."""
    if rows.is_empty():
        return
    spec = manifest_spec(source)
    for _ in range(MERGE_ATTEMPTS):
        version = store.current_version(spec)
        current = store.scan(spec, version=version).collect()
        kept = current.filter(~pl.col("path").is_in(rows["path"].implode()))
        merged = pl.concat([kept, rows.select(list(MANIFEST_SCHEMA))]).sort("path")
        try:
            store.commit_if_unchanged(store.stage(spec, None, merged), version)
            return
        except PartitionChanged:
            continue
    raise PartitionChanged(f"{spec.qualified_name}: {MERGE_ATTEMPTS} merges lost to other writers")


def record_ingested(
    store: LakeStore,
    source: str,
    files_by_day: dict[str, dict[str, tuple[int, int, str]]],
    run_id: str,
    now: dt.datetime,
) -> None:
    """What a bronze run read of each arrival day: its files as `ingested` (path to size,
    mtime_ns and content hash), and the files the manifest knew of those days that are gone
    as `deleted` (the day was ingested without them)."""
    current = load_manifest(store, source)
    known = {row["path"]: row for row in current.iter_rows(named=True)}
    rows = []
    for day, files in files_by_day.items():
        for path, (size, mtime_ns, digest) in files.items():
            first_seen = known[path]["first_seen"] if path in known else now
            rows.append(
                {
                    **{name: None for name in MANIFEST_SCHEMA},
                    **dict(path=path, arrival_date=day, size=size, mtime_ns=mtime_ns),
                    **dict(content_hash=digest, first_seen=first_seen, changed_at=now),
                    **dict(status=INGESTED, run_id=run_id),
                }
            )
        for path, row in known.items():
            if row["arrival_date"] == day and path not in files and row["status"] != DELETED:
                rows.append({**row, "status": DELETED, "changed_at": now, "run_id": run_id})
    merge_manifest(store, source, pl.DataFrame(rows, schema=MANIFEST_SCHEMA, orient="row"))
