"""The landing manifest: what the sensors have seen of each landing file, kept in the lake.

One small table per source under `lake/state/`, replaced atomically like any lake table, so the
sensors' memory survives restarts and never lives only in a cursor string.

Status of a file: `settling` (seen, still changing), `pending` (settled, its day not requested
yet), `requested` (a run was requested with `run_key`), `ingested` (that run succeeded),
`failed` (unreadable, or its run failed: `error` says why; retried when the file changes),
`removed` (gone from landing; its day is to be re-ingested without it), `deleted` (gone, and
its day was requested again).
"""

from __future__ import annotations

import polars as pl

from lakehouse.storage import LakeStore, TableSpec

UTC_TS = pl.Datetime("us", "UTC")
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
    return store.scan(manifest_spec(source)).collect()


def save_manifest(store: LakeStore, source: str, manifest: pl.DataFrame) -> None:
    store.publish(manifest_spec(source), None, manifest.sort("path"))
