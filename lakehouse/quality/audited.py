"""The audit half of write-audit-publish, without Dagster: a staged partition checked
against its table's pandera model, and a cleaned table's partition published only if every
input row is accounted for (`rows_in = rows_out + duplicates + removed_other + quarantined`).

The asset bodies in `lakehouse.defs` call these with their quality gate's `check`, which turns
the outcomes into Dagster check evaluations and refuses a failed ERROR check.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import polars as pl
from deltalake import Transaction
from duckdb import DuckDBPyConnection

from lakehouse.quality.evaluate import Outcome, audit_batches, quarantine_outcome
from lakehouse.scratch import scratch_folder, scratch_writer
from lakehouse.staging import duplicated_rows, stage_sorted
from lakehouse.storage import (
    ROW_GROUP_ROWS,
    AppendOnce,
    LakeStore,
    PublishedPartition,
    Quarantine,
    StagedPartition,
    arrow_schema,
    publish_audited,
    watermark_id,
)
from lakehouse.table_spec import TableSpec
from lakehouse.transforms.rules import Cleaned


def audit_partition(
    store: LakeStore, con: DuckDBPyConnection, staged: StagedPartition
) -> list[Outcome]:
    """The table's pandera model on a staged partition, a batch at a time, and uniqueness
    over the whole partition (DuckDB): memory holds one batch whatever the partition's size."""
    return audit_batches(
        staged.spec.model,
        staged_batches(store, staged),
        lambda columns: duplicated_rows(con, store, staged.files, columns),
    )


def audit_with_rejects(
    store: LakeStore,
    con: DuckDBPyConnection,
    staged: StagedPartition,
    rejected: StagedPartition,
    rows_in: int,
) -> list[Outcome]:
    """`audit_partition`, and the share of the `rows_in` input rows sent to quarantine
    against the table's pass threshold."""
    return [
        *audit_partition(store, con, staged),
        quarantine_outcome(rows_in, store.scan_staged(rejected), staged.spec.pass_threshold),
    ]


def staged_batches(store: LakeStore, staged: StagedPartition) -> Iterator[pl.DataFrame]:
    """A staged partition a row group at a time; one empty frame when it has no rows."""
    empty = True
    for path in staged.files:
        for batch in store.read_batches(path):
            empty = False
            yield pl.from_arrow(batch, schema=staged.spec.polars_schema)
    if empty:
        yield pl.DataFrame(schema=staged.spec.polars_schema)


class RowAccountingError(RuntimeError):
    """Rows that would vanish between input and output: nothing is published."""


Check = Callable[[Sequence[Outcome]], Sequence[Outcome]]


def publish_cleaned(
    store: LakeStore,
    con: DuckDBPyConnection,
    spec: TableSpec,
    quarantine: TableSpec,
    key: str | None,
    parts: Sequence[Cleaned],
    check: Check,
    watermark: Transaction | None = None,
) -> tuple[PublishedPartition, dict[str, int]]:
    """Write-audit-publish one partition of a cleaned table (`publish_audited`): the audit
    first refuses rows that vanished (row accounting), then `check`s the pandera model and
    the quarantine rate on the staged files. Returns what was published and its counts.
    `watermark` is committed with the partition (see `publish_new_rows`).

    `parts` together make the partition. With `keep_first` (large tables) each part is computed
    on its own and appended to scratch files, and DuckDB deduplicates and sorts the clean rows
    within its memory limit: memory holds one part. Otherwise the single part's three lazy
    frames share one in-memory collect.
    """
    with contextlib.ExitStack() as scratch:
        if parts and parts[0].keep_first is not None:
            clean, rejects, counts = _write_in_parts(
                scratch, store, con, spec, quarantine, key, parts
            )
        else:
            (cleaned,) = parts
            clean, rejected, count_frame = pl.collect_all(
                [
                    spec.conform(cleaned.clean),
                    quarantine.conform(cleaned.quarantined),
                    cleaned.counts,
                ]
            )
            counts = {
                name: int(value or 0) for name, value in count_frame.row(0, named=True).items()
            }
            rejects = lambda: rejected  # noqa: E731

        audit = _accounted_audit(store, con, spec, counts, check)
        result = publish_audited(
            store, spec, key, clean, audit, Quarantine(quarantine, rejects), watermark=watermark
        )
    return result.published, counts


def _accounted_audit(
    store: LakeStore,
    con: DuckDBPyConnection,
    spec: TableSpec,
    counts: dict[str, int],
    check: Check,
) -> Callable[[StagedPartition, StagedPartition | None], Sequence[Outcome]]:
    """The audit of a cleaned partition: its rows accounted for (`counts` gains rows_out and
    quarantined), then `check` of the pandera model and the quarantine rate."""

    def audit(staged: StagedPartition, rejected: StagedPartition | None) -> Sequence[Outcome]:
        assert rejected is not None
        counts.update(rows_out=staged.rows, quarantined=rejected.rows)
        accounting = accounting_metadata([counts])
        if not accounting["balanced"]:
            raise RowAccountingError(
                f"{spec.qualified_name}: row accounting does not balance {accounting}; "
                "nothing was published"
            )
        return check(audit_with_rejects(store, con, staged, rejected, counts["rows_in"]))

    return audit


def publish_new_rows(
    store: LakeStore,
    con: DuckDBPyConnection,
    spec: TableSpec,
    quarantine: TableSpec,
    key: str,
    upstream: TableSpec,
    upstream_keys: Sequence[str],
    transform: Callable[[pl.LazyFrame], Cleaned],
    check: Check,
) -> tuple[PublishedPartition, dict[str, int]] | None:
    """Bring a partition of a table deduplicated by `keep_first` up to date from the rows
    appended to its upstream partitions since it was last computed, instead of recomputing it
    from all of them (a micro-batch's cost then follows the batch, not the day so far).

    The partition's watermark is the upstream version it was computed from, a Delta
    application transaction committed with it. The new rows are cleaned by `transform`, the
    first arrival of each key kept, and those whose key the partition lacks are appended (with
    the rejects appended to quarantine) through the same audit as a recomputation, with the
    new watermark. The result equals a recomputation; where it could not, None is returned and
    the caller recomputes: no watermark yet, an earlier attempt that committed its quarantine
    but not the table, upstream rewritten or compacted since, no new rows, or a new row that
    arrived before the copy the partition kept (files landing out of order).
    """
    mark = watermark_id(key)
    since = store.transaction_version(spec, mark)
    if since == 0 or store.transaction_version(quarantine, mark) > since:
        return None
    appended = store.appended_since(upstream, since, upstream_keys)
    if appended is None:
        return None
    reading, new_rows = appended
    cleaned = transform(new_rows.lazy())
    keep = cleaned.keep_first
    assert keep is not None, f"{spec.qualified_name}: publish_new_rows needs keep_first"
    clean, rejects, count_frame = pl.collect_all(
        [spec.conform(cleaned.clean), quarantine.conform(cleaned.quarantined), cleaned.counts]
    )
    order = [keep.key, *keep.prefer]
    first = clean.sort(list(keep.prefer)).unique(keep.key, keep="first", maintain_order=True)
    kept = (
        store.scan(spec, [key])
        .select(order)
        .filter(pl.col(keep.key).is_in(first[keep.key].implode()))
        .collect(engine="streaming")
    )
    rivals = pl.concat([kept.with_columns(new=False), first.select(order).with_columns(new=True)])
    winners = rivals.sort(list(keep.prefer)).unique(keep.key, keep="first", maintain_order=True)
    if winners.filter(pl.col("new") & pl.col(keep.key).is_in(kept[keep.key].implode())).height:
        return None
    fresh = first.join(kept.select(keep.key), on=keep.key, how="anti")
    counts = {
        "rows_in": int(count_frame["rows_in"].item()),
        "duplicates": clean.height - fresh.height,
        "removed_other": 0,
    }
    audit = _accounted_audit(store, con, spec, counts, check)
    result = publish_audited(
        store,
        spec,
        key,
        fresh,
        audit,
        Quarantine(quarantine, lambda: rejects),
        once=AppendOnce(mark, reading),
    )
    if result.published is None:  # another run appended this batch meanwhile: recompute
        return None
    return result.published, counts


def _write_in_parts(
    scratch: contextlib.ExitStack,
    store: LakeStore,
    con: DuckDBPyConnection,
    spec: TableSpec,
    quarantine: TableSpec,
    key: str | None,
    parts: Sequence[Cleaned],
) -> tuple[StagedPartition, Callable[[], Iterator[Any]], dict[str, int]]:
    """The parts' clean rows staged deduplicated and sorted, and their rejects in a scratch
    file (streamed into quarantine when `publish_audited` asks for them)."""
    keep_first = parts[0].keep_first
    rows_in = 0
    folder = scratch.enter_context(scratch_folder(store, spec, key or "_table"))
    clean_file, rejected_file = f"{folder}/clean.parquet", f"{folder}/rejected.parquet"
    with (
        scratch_writer(store, clean_file, arrow_schema(spec.polars_schema)) as clean_out,
        scratch_writer(store, rejected_file, arrow_schema(quarantine.polars_schema)) as bad,
    ):
        for part in parts:
            clean, rejects, count = pl.collect_all(
                [spec.conform(part.clean), quarantine.conform(part.quarantined), part.counts]
            )
            clean_out.write_table(clean.to_arrow(), row_group_size=ROW_GROUP_ROWS)
            bad.write_table(rejects.to_arrow(), row_group_size=ROW_GROUP_ROWS)
            rows_in += int(count["rows_in"].item())
    result = stage_sorted(store, con, spec, key, clean_file, keep_first)
    counts = {"rows_in": rows_in, "duplicates": result.duplicates, "removed_other": 0}
    return result.staged, lambda: store.read_batches(rejected_file), counts


def accounting_metadata(counts: list[dict[str, int]]) -> dict[str, int | bool]:
    """rows_in = rows_out + duplicates + removed_other + quarantined, summed over partitions."""
    total = sum_counts(counts)
    total["balanced"] = total.get("rows_in", 0) == sum(
        total.get(name, 0) for name in ("rows_out", "duplicates", "removed_other", "quarantined")
    )
    return total


def sum_counts(counts: Sequence[Mapping[str, int]]) -> dict[str, int]:
    """Add up the row counts of several partitions."""
    total: dict[str, int] = {}
    for partition in counts:
        for name, value in partition.items():
            total[name] = total.get(name, 0) + int(value or 0)
    return total
