"""Ingesting one arrival day of one landing source into its bronze partition and quarantine."""

from __future__ import annotations

import datetime as dt
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field

import duckdb
import polars as pl

from lakehouse.landing.contract import SourceContract
from lakehouse.landing.reader import REJECT_SCHEMA, parse_landing_files
from lakehouse.storage import LakeFileSystem, LakeStore, PublishedPartition, TableSpec
from lakehouse.storage.paths import validate_day_key


@dataclass
class IngestResult:
    published: PublishedPartition
    quarantined: PublishedPartition
    files: list[str] = field(default_factory=list)
    ignored_files: list[str] = field(default_factory=list)
    blank_lines: int = 0
    unexpected_columns: dict[str, list[str]] = field(default_factory=dict)


def landing_files(
    landing: LakeFileSystem, contract: SourceContract, day: str
) -> tuple[list[str], list[str]]:
    """Files of one arrival day that match the contract, and the ones that do not."""
    folder = landing.path(contract.name, validate_day_key(day))
    matched, ignored = [], []
    for entry in landing.list_files(folder):
        name = posixpath.basename(entry.path)
        if name.startswith((".", "_")):
            continue  # in-flight uploads and markers
        (matched if contract.matches(name) else ignored).append(entry.path)
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
) -> IngestResult:
    """Publish the typed rows of every file of `day`, and its rejected lines to quarantine.

    Files stream through one at a time; a file that cannot be read fails the whole day and
    nothing is published, so the previous version of the partition stays whole.
    """
    files, ignored = landing_files(landing, contract, day)
    rejected: list[pl.DataFrame] = []
    result_files: list[str] = []
    blank = 0
    unexpected: dict[str, list[str]] = {}

    def frames() -> Iterator[pl.DataFrame]:
        nonlocal blank
        for batch in parse_landing_files(landing, files, contract, con):
            result_files.extend(batch.files)
            blank += batch.blank_lines
            unexpected.update(batch.unexpected_columns)
            if batch.rejected.height:
                rejected.append(batch.rejected)
            yield batch.rows.with_columns(_ingested_at=pl.lit(now).cast(pl.Datetime("us", "UTC")))

    published = store.publish(table, day, frames())
    bad = pl.concat(rejected) if rejected else pl.DataFrame(schema=REJECT_SCHEMA)
    quarantined = store.publish(
        quarantine,
        day,
        bad.with_columns(
            _rule=pl.lit("contract"),
            _column=pl.col("_reason").str.extract(r"^([a-z_]+): cannot read", 1),
            _quarantined_at=pl.lit(now).cast(pl.Datetime("us", "UTC")),
        ),
    )
    return IngestResult(
        published,
        quarantined,
        result_files,
        [posixpath.relpath(path, landing.root) for path in ignored],
        blank,
        unexpected,
    )
