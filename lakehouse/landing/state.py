"""Load state per landing source: watermark and history, from the manifest and bronze.

The watermark is the latest arrival day whose files are all ingested, as in the state tables of
the pipelines this replaces; the history counts files by status, rows in bronze, the last file
ingested and when.
"""

from __future__ import annotations

import polars as pl

from lakehouse import tables
from lakehouse.landing.contract import SOURCES
from lakehouse.landing.manifest import INGESTED, load_manifest
from lakehouse.storage import LakeStore

_BRONZE = {spec.name: spec for spec in tables.BRONZE_TABLES}


def source_state(store: LakeStore, source: str) -> dict:
    manifest = load_manifest(store, source)
    bronze = _BRONZE[SOURCES[source].bronze_table]
    rows = store.scan(bronze).select(pl.len()).collect().item()
    by_status = dict(manifest.group_by("status").len().sort("status").iter_rows())
    days = (
        manifest.filter(pl.col("status") != "deleted")
        .group_by("arrival_date")
        .agg(complete=(pl.col("status") == INGESTED).all())
    )
    complete = days.filter(pl.col("complete"))["arrival_date"]
    ingested = manifest.filter(pl.col("status") == INGESTED).sort("changed_at")
    last = ingested.row(-1, named=True) if ingested.height else None
    return {
        "source": source,
        "watermark": complete.max() if complete.len() else None,
        "files": by_status,
        "bronze_rows": rows,
        "bronze_partitions": len(store.partition_keys(bronze)),
        "last_file": last["path"] if last else None,
        "last_success": last["changed_at"].isoformat() if last else None,
        "failed_files": manifest.filter(pl.col("status") == "failed")
        .select("path", "error")
        .to_dicts(),
    }


def all_states(store: LakeStore) -> list[dict]:
    return [source_state(store, source) for source in SOURCES]


def format_states(states: list[dict]) -> str:
    lines = [
        f"{'source':<12} {'watermark':<11} {'bronze rows':>12} {'partitions':>10}  "
        f"{'files by status':<40} last success"
    ]
    for state in states:
        files = ", ".join(f"{k} {v}" for k, v in state["files"].items()) or "none seen"
        lines.append(
            f"{state['source']:<12} {state['watermark'] or '-':<11} {state['bronze_rows']:>12,} "
            f"{state['bronze_partitions']:>10}  {files:<40} {state['last_success'] or '-'}"
        )
        for failed in state["failed_files"]:
            lines.append(f"    failed: {failed['path']}: {failed['error']}")
    return "\n".join(lines)
