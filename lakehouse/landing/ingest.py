"""Ingesting one arrival day of one landing source into its bronze partition and quarantine.

The typed rows of each batch are checked against the source's pandera contract before they
are written: a batch that breaks it aborts the publish, so the previous partition stays.
"""

from __future__ import annotations

import datetime as dt
import posixpath
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import duckdb
import polars as pl
import pyarrow as pa

from lakehouse.landing.contract import SourceContract
from lakehouse.landing.reader import REJECT_SCHEMA, parse_landing_files
from lakehouse.quality.evaluate import CONTRACT, DRIFT, ERROR, WARN, Outcome, audit
from lakehouse.quality.models import CONTRACTS
from lakehouse.storage import (
    AppendOnce,
    FileEntry,
    LakeFileSystem,
    LakeStore,
    PublishedPartition,
    Quarantine,
    StagedPartition,
    publish_audited,
    validate_day_key,
)
from lakehouse.table_spec import TableSpec


@dataclass(frozen=True)
class AppendBatch:
    """Micro-batch `number` of an arrival day: new landing files (relative to the landing
    root) whose rows are appended to the day's bronze partition, once."""

    number: int
    files: tuple[str, ...]

    def once(self, source: str, day: str) -> AppendOnce:
        return AppendOnce(batch_app_id(source, day), self.number)


def batch_app_id(source: str, day: str) -> str:
    """The Delta application transaction id of a source's micro-batches into one day."""
    return f"lakehouse.landing/{source}/{day}"


class ContractViolation(Exception):
    """Typed rows that do not match the landing contract; nothing was published."""


@dataclass
class IngestResult:
    published: PublishedPartition | None
    quarantined: PublishedPartition | None
    outcomes: list[Outcome]
    files: list[str] = field(default_factory=list)
    ignored_files: list[str] = field(default_factory=list)
    blank_lines: int = 0
    drift: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    #: Every file read, relative to the landing root: (size, mtime_ns) as listed before it was
    #: read, and the SHA-256 of what was read. What the landing manifest records as ingested.
    listed: dict[str, tuple[int, int]] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    #: The UTC dates of the rows' event times (`SourceContract.event_time`): the silver days
    #: these rows can change, besides the arrival day itself.
    event_days: set[str] = field(default_factory=set)

    @property
    def figures(self) -> dict[str, int]:
        """What one day's ingest saw, as materialization metadata."""
        return {
            "landing_files": len(self.files),
            "quarantined_rows": self.quarantined.rows if self.quarantined else 0,
            "blank_lines": self.blank_lines,
            "ignored_files": len(self.ignored_files),
            "files_with_drift": len(self.drift),
        }


def landing_files(
    landing: LakeFileSystem, contract: SourceContract, day: str
) -> tuple[list[FileEntry], list[str]]:
    """Files of one arrival day that match the contract, and the paths of those that do not."""
    folder = landing.path(contract.name, validate_day_key(day))
    matched, ignored = [], []
    for entry in landing.list_files(folder):
        name = posixpath.basename(entry.path)
        if name.startswith((".", "_")):
            continue  # in-flight uploads and markers
        if contract.matches(name):
            matched.append(entry)
        else:
            ignored.append(entry.path)
    return matched, ignored


def ingest_day(
    *,
    landing: LakeFileSystem,
    store: LakeStore,
    contract: SourceContract,
    table: TableSpec,
    quarantine: TableSpec,
    day: str,
    con: duckdb.DuckDBPyConnection,
    now: dt.datetime,
    check: Callable[[Sequence[Outcome]], Sequence[Outcome]] = list,
    batch: AppendBatch | None = None,
) -> IngestResult:
    """Publish the typed rows of every file of `day`, and its rejected lines to quarantine,
    through `publish_audited`: the contract is checked batch by batch as the rows are staged,
    then `check` (the asset's quality gate, which raises on a failed ERROR check) sees the
    day's outcomes before anything is committed.

    Files stream through a batch at a time; a file that cannot be read fails the whole day
    and nothing is published, so the previous version of the partition stays whole.

    With `batch`, only its files are read and their rows appended to the partition (and its
    quarantine) exactly once, as micro-batch `batch.number` of the day.
    """
    entries, ignored = landing_files(landing, contract, day)
    if batch is not None:
        wanted = set(batch.files)
        entries = [e for e in entries if posixpath.relpath(e.path, landing.root) in wanted]
        missing = wanted - {posixpath.relpath(e.path, landing.root) for e in entries}
        if missing:
            raise FileNotFoundError(f"batch {batch.number} of {day}: gone from landing {missing}")
        ignored = []
    files = [entry.path for entry in entries]
    model = CONTRACTS[contract.name]
    result = IngestResult(
        None, None, [], ignored_files=[posixpath.relpath(path, landing.root) for path in ignored]
    )
    result.listed = {
        posixpath.relpath(entry.path, landing.root): (entry.size, entry.mtime_ns)
        for entry in entries
    }
    rejected: list[pl.DataFrame] = []
    rows_per_file: dict[str, int] = {}
    checked = failed = 0
    failures: list[tuple[str, str, int]] = []

    def frames() -> Iterator[pl.DataFrame]:
        nonlocal checked, failed
        for batch in parse_landing_files(landing, files, contract, con):
            result.files.extend(batch.files)
            result.hashes.update(batch.hashes)
            result.blank_lines += batch.blank_lines
            result.drift.update(batch.drift)
            for name, count in batch.rows.group_by("_source_file").len().iter_rows():
                rows_per_file[name] = rows_per_file.get(name, 0) + count
            if batch.rejected.height:
                rejected.append(_detached(batch.rejected))
            if contract.event_time is not None:
                dates = batch.rows.get_column(contract.event_time).dt.date().drop_nulls()
                result.event_days.update(str(date) for date in dates.unique())
            schema = audit(model, batch.rows.select(contract.field_names))[0]
            checked += schema.rows_checked
            if not schema.passed:
                failed += schema.rows_failed
                failures.extend(schema.by_rule)
                raise ContractViolation(schema.summary())
            yield batch.rows.with_columns(_ingested_at=pl.lit(now).cast(pl.Datetime("us", "UTC")))

    def rejects() -> pl.DataFrame:
        bad = pl.concat(rejected) if rejected else pl.DataFrame(schema=REJECT_SCHEMA)
        return bad.with_columns(
            _rule=pl.lit("contract"),
            _column=pl.col("_reason").str.extract(r"^([a-z_]+): cannot read", 1),
            _quarantined_at=pl.lit(now).cast(pl.Datetime("us", "UTC")),
        )

    def verdict(staged: StagedPartition, quarantined: StagedPartition | None) -> Sequence[Outcome]:
        return check(
            [
                Outcome(CONTRACT, ERROR, True, checked, 0),
                drift_outcome(result.drift, rows_per_file, checked),
            ]
        )

    try:
        audited = publish_audited(
            store,
            table,
            day,
            frames(),
            verdict,
            Quarantine(quarantine, rejects),
            once=batch.once(contract.name, day) if batch is not None else None,
        )
    except ContractViolation:
        # Nothing was published; the failed contract is the day's verdict.
        result.outcomes = list(check([Outcome(CONTRACT, ERROR, False, checked, failed, failures)]))
        return result
    result.published, result.quarantined = audited.published, audited.quarantined
    result.outcomes = list(audited.audit)
    return result


def _detached(frame: pl.DataFrame) -> pl.DataFrame:
    """A copy that owns its strings: a filtered Polars frame's string views keep the whole
    batch's buffers alive, so keeping the few rejected rows of every batch kept every batch."""
    table = frame.to_arrow()
    owned = pa.schema(
        [
            field.with_type(pa.large_string()) if pa.types.is_string_view(field.type) else field
            for field in table.schema
        ]
    )
    detached = pl.from_arrow(table.cast(owned))
    assert isinstance(detached, pl.DataFrame)
    return detached


def drift_outcome(
    drift: dict[str, list[tuple[str, str]]], rows_per_file: dict[str, int], rows: int
) -> Outcome:
    """WARN when files carry columns the contract does not know, or lack optional ones."""
    by_rule: dict[tuple[str, str], int] = {}
    for name, changes in drift.items():
        for rule, column in changes:
            by_rule[(rule, column)] = by_rule.get((rule, column), 0) + rows_per_file.get(name, 0)
    drifting = sum(rows_per_file.get(name, 0) for name in drift)
    sample = (
        pl.DataFrame(
            [(name, rule, column) for name, changes in drift.items() for rule, column in changes],
            schema={"file": pl.String, "rule": pl.String, "column": pl.String},
            orient="row",
        )
        if drift
        else None
    )
    return Outcome(
        DRIFT,
        WARN,
        not drift,
        rows,
        drifting,
        [(rule, column, count) for (rule, column), count in sorted(by_rule.items())],
        sample,
    )
