"""Load state per landing source: watermark and history, from the manifest and bronze.

The watermark is the latest arrival day whose files are all ingested, as in the state tables of
the pipelines this replaces; the history counts files by status, rows in bronze, the last file
ingested and when, and the freshness of ingestion: the newest file to land that is ingested, how
long after landing it was, and how many files wait since when.
"""

from __future__ import annotations

import polars as pl

from lakehouse import tables
from lakehouse.landing.contract import SOURCES
from lakehouse.landing.manifest import INGESTED, PENDING, REQUESTED, SETTLING, load_manifest
from lakehouse.storage import LakeStore

_BRONZE = {spec.name: spec for spec in tables.BRONZE_TABLES}


def source_state(store: LakeStore, source: str) -> dict:
    manifest = load_manifest(store, source)
    bronze = _BRONZE[SOURCES[source].bronze_table]
    loaded = (
        store.scan(bronze)
        .select(
            rows=pl.len(),
            files=pl.col("_source_file").n_unique(),
            last_ingested_at=pl.col("_ingested_at").max(),
        )
        .collect()
        .row(0, named=True)
    )
    partitions = store.partition_keys(bronze)
    by_status = dict(manifest.group_by("status").len().sort("status").iter_rows())
    days = (
        manifest.filter(pl.col("status") != "deleted")
        .group_by("arrival_date")
        .agg(complete=(pl.col("status") == INGESTED).all())
    )
    complete = days.filter(pl.col("complete"))["arrival_date"]
    ingested = manifest.filter(pl.col("status") == INGESTED).sort("changed_at")
    last = ingested.row(-1, named=True) if ingested.height else None
    # The newest file to land that is ingested, and how long after landing it was ingested.
    newest = ingested.sort("mtime_ns").row(-1, named=True) if ingested.height else None
    lag = (
        newest["changed_at"].timestamp() - newest["mtime_ns"] / 1e9 if newest is not None else None
    )
    waiting = manifest.filter(pl.col("status").is_in([PENDING, REQUESTED, SETTLING]))
    oldest_waiting = waiting["first_seen"].min() if waiting.height else None
    return {
        "source": source,
        "watermark": complete.max() if complete.len() else None,
        "files": by_status,
        # What bronze itself holds, however it was loaded (sensors, `lakehouse build`, the UI).
        "bronze_watermark": partitions[-1] if partitions else None,
        "bronze_files": loaded["files"],
        "bronze_rows": loaded["rows"],
        "bronze_partitions": len(partitions),
        "last_ingested_at": loaded["last_ingested_at"].isoformat()
        if loaded["last_ingested_at"]
        else None,
        "last_file": last["path"] if last else None,
        "newest_file": newest["path"] if newest else None,
        "newest_file_lag_seconds": round(lag, 1) if lag is not None else None,
        "files_waiting": waiting.height,
        "oldest_waiting_since": oldest_waiting.isoformat() if oldest_waiting else None,
        "last_success": last["changed_at"].isoformat() if last else None,
        "failed_files": manifest.filter(pl.col("status") == "failed")
        .select("path", "error")
        .to_dicts(),
    }


def all_states(store: LakeStore) -> list[dict]:
    return [source_state(store, source) for source in SOURCES]


def format_states(states: list[dict]) -> str:
    """`watermark` comes from the sensors' manifest; `in bronze to` from bronze itself."""
    lines = [
        f"{'source':<12} {'watermark':<11} {'in bronze to':<12} {'bronze rows':>12} "
        f"{'files':>6}  {'sensor files by status':<36} last ingested"
    ]
    for state in states:
        files = ", ".join(f"{k} {v}" for k, v in state["files"].items()) or "none seen"
        lines.append(
            f"{state['source']:<12} {state['watermark'] or '-':<11} "
            f"{state['bronze_watermark'] or '-':<12} {state['bronze_rows']:>12,} "
            f"{state['bronze_files']:>6}  {files:<36} {state['last_ingested_at'] or '-'}"
        )
        if state["newest_file"]:
            lines.append(
                f"    newest file ingested: {state['newest_file']}, "
                f"{state['newest_file_lag_seconds']:g} s after it landed; "
                f"{state['files_waiting']} waiting"
                + (f" (since {state['oldest_waiting_since']})" if state["files_waiting"] else "")
            )
        for failed in state["failed_files"]:
            lines.append(f"    failed: {failed['path']}: {failed['error']}")
    return "\n".join(lines)
