"""One tick of a landing sensor, without Dagster: which files changed, which days to ingest.

A file counts once it has not changed for `settle_seconds` (half-copied files are never read),
its content hash differs from the manifest's, and it can be read (a corrupt gzip is marked
failed at once and does not hold up other days). A day is requested with a run key derived from
the content hashes of all its files, so a retried tick can never launch it twice. Work per tick
is bounded: at most `max_files_hashed` files and `max_bytes_hashed` bytes are hashed and at most
`max_partitions` days requested; the rest waits for the next tick.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import posixpath
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from lakehouse.landing.contract import SourceContract
from lakehouse.landing.manifest import (
    DELETED,
    FAILED,
    INGESTED,
    MANIFEST_SCHEMA,
    PENDING,
    REMOVED,
    REQUESTED,
    SETTLING,
)
from lakehouse.storage import InvalidPartitionKey, LakeFileSystem, validate_day_key

HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class WatchLimits:
    settle_seconds: float = 10.0
    max_files_hashed: int = 2_000
    max_bytes_hashed: int = 512 << 20
    max_partitions: int = 50


@dataclass(frozen=True)
class RunOutcome:
    """What became of a requested run: `succeeded` None while it is still queued or running."""

    succeeded: bool | None
    run_id: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class PartitionRequest:
    day: str
    run_key: str
    files: tuple[str, ...]
    #: Only new files: their rows can be appended to the day (`landing/batches.py`) rather
    #: than the day rewritten.
    append: bool = False


@dataclass
class TickPlan:
    requests: list[PartitionRequest]
    #: The manifest rows this tick changed or added: what it merges into the manifest.
    changed_rows: pl.DataFrame
    notes: list[str] = field(default_factory=list)


def plan_tick(
    landing: LakeFileSystem,
    contract: SourceContract,
    manifest: pl.DataFrame,
    *,
    now: dt.datetime,
    limits: WatchLimits,
    run_outcome: Callable[[str], RunOutcome | None],
    is_partition: Callable[[str], bool],
) -> TickPlan:
    rows = {row["path"]: row for row in manifest.iter_rows(named=True)}
    before = {path: dict(row) for path, row in rows.items()}
    notes: list[str] = []
    _reconcile_requested(rows, run_outcome)

    seen: set[str] = set()
    waiting_days: set[str] = set()
    #: Days where a file read before changed or went: appending cannot replace its rows.
    rewrite_days: set[str] = set()
    hashed_files = hashed_bytes = 0
    for path, day, size, mtime_ns in _landing_files(landing, contract, notes):
        seen.add(path)
        known = rows.get(path)
        unchanged = known and known["size"] == size and known["mtime_ns"] == mtime_ns
        if unchanged and known["status"] != SETTLING:
            continue
        # (A file seen while settling and untouched since is examined again: it may have
        # settled now.)
        age = now.timestamp() - mtime_ns / 1e9
        if age < limits.settle_seconds:
            # Still being written: its day waits. A known file keeps its state until it settles.
            waiting_days.add(day)
            if known is None:
                rows[path] = _row(None, path, day, size, mtime_ns, now, status=SETTLING)
            continue
        if hashed_files >= limits.max_files_hashed or hashed_bytes >= limits.max_bytes_hashed:
            # Not examined this tick: its day must not be requested with only some of its files.
            waiting_days.add(day)
            budget_note = "hashing budget reached; the remaining files wait for the next tick"
            if budget_note not in notes:
                notes.append(budget_note)
            continue
        hashed_files += 1
        hashed_bytes += size
        digest, error = hash_and_check(landing, path)
        if known and known["content_hash"] == digest:
            known.update(size=size, mtime_ns=mtime_ns)  # touched, same content
            continue
        if known and known["content_hash"] is not None:
            rewrite_days.add(day)
        rows[path] = _row(
            known,
            path,
            day,
            size,
            mtime_ns,
            now,
            status=FAILED if error else PENDING,
            content_hash=digest,
            error=error,
        )
    for path, row in rows.items():
        if path not in seen and row["status"] not in (REMOVED, DELETED):
            # Its day must be ingested again without it (unless it never was ingested).
            row.update(status=REMOVED, changed_at=now)
        if row["status"] == REMOVED:
            rewrite_days.add(row["arrival_date"])

    requests = _requests(rows, contract, limits, is_partition, waiting_days, rewrite_days, notes)
    requested_days = {request.day: request for request in requests}
    for row in rows.values():
        request = requested_days.get(row["arrival_date"])
        if request is None:
            continue
        if row["status"] == PENDING:
            row.update(status=REQUESTED, run_key=request.run_key, error=None)
        elif row["status"] == REMOVED:
            row.update(status=DELETED, run_key=request.run_key)
    changed = [
        path
        for path, row in rows.items()
        if {k: row[k] for k in MANIFEST_SCHEMA}
        != ({k: before[path][k] for k in MANIFEST_SCHEMA} if path in before else None)
    ]
    frame = pl.DataFrame([rows[path] for path in changed], schema=MANIFEST_SCHEMA, orient="row")
    return TickPlan(requests, frame, notes)


def _reconcile_requested(rows: dict[str, dict], run_outcome) -> None:
    """Files whose run has finished become `ingested` or `failed`."""
    outcomes: dict[str, RunOutcome | None] = {}
    for row in rows.values():
        if row["status"] != REQUESTED or not row["run_key"]:
            continue
        key = row["run_key"]
        if key not in outcomes:
            outcomes[key] = run_outcome(key)
        outcome = outcomes[key]
        if outcome is None or outcome.succeeded is None:
            continue
        row.update(
            status=INGESTED if outcome.succeeded else FAILED,
            run_id=outcome.run_id,
            error=None if outcome.succeeded else outcome.error,
        )


def _landing_files(landing: LakeFileSystem, contract: SourceContract, notes: list[str]):
    for folder in landing.subdirs(landing.path(contract.name)):
        day = posixpath.basename(folder)
        try:
            validate_day_key(day)
        except InvalidPartitionKey as error:
            notes.append(f"skipping folder {contract.name}/{day}: {error}")
            continue
        for entry in landing.list_files(folder):
            name = posixpath.basename(entry.path)
            if name.startswith((".", "_")) or not contract.matches(name):
                continue
            yield posixpath.relpath(entry.path, landing.root), day, entry.size, entry.mtime_ns


def _row(known, path, day, size, mtime_ns, now, *, status, content_hash=None, error=None):
    """A manifest row for a new or changed file."""
    row = dict(known) if known else {name: None for name in MANIFEST_SCHEMA}
    row.update(path=path, arrival_date=day, size=size, mtime_ns=mtime_ns, status=status)
    row["first_seen"] = row["first_seen"] or now
    if status != SETTLING:
        # A micro-batch a run planned (before it hashed the file) stays planned; other content
        # is no longer that batch's.
        same = row["content_hash"] in (None, content_hash)
        row.update(
            content_hash=content_hash,
            changed_at=now,
            error=error,
            run_key=None,
            run_id=None,
            batch=row["batch"] if same else None,
        )
    return row


def hash_and_check(landing: LakeFileSystem, path: str) -> tuple[str, str | None]:
    """SHA-256 of the bytes, and an error when a gzip file does not decompress to its end."""
    digest = hashlib.sha256()
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if path.endswith(".gz") else None
    error, size = None, 0
    with landing.filesystem.open_input_stream(landing.path(path), compression=None) as stream:
        while chunk := stream.read(HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if inflater is not None and error is None and not inflater.eof:
                try:
                    inflater.decompress(chunk)
                except zlib.error as problem:
                    error = f"{path}: corrupt gzip data ({problem})"
    # An empty file is an empty file; a gzip stream without its end marker is cut off.
    if inflater is not None and error is None and size and not inflater.eof:
        error = f"{path}: truncated gzip (compressed data ends before its end marker)"
    return digest.hexdigest(), error


def _requests(
    rows, contract, limits, is_partition, waiting_days, rewrite_days, notes
) -> list[PartitionRequest]:
    by_day: dict[str, list[dict]] = {}
    for row in rows.values():
        by_day.setdefault(row["arrival_date"], []).append(row)
    requests = []
    for day in sorted(by_day):
        files = by_day[day]
        if not any(r["status"] in (PENDING, REMOVED) for r in files):
            continue
        blocked = [r["path"] for r in files if r["status"] in (SETTLING, FAILED)]
        # A day rewritten whole must wait for all its files; one that only grows takes its
        # settled new files now (the run appends only those) and the others later.
        if (blocked or day in waiting_days) and day in rewrite_days:
            notes.append(
                f"{contract.name} {day}: waiting for files to settle or be fixed {blocked}"
            )
            continue
        if not is_partition(day):
            notes.append(f"{contract.name} {day}: not a partition yet")
            continue
        if len(requests) >= limits.max_partitions:
            notes.append("partition budget reached; the remaining days wait for the next tick")
            break
        present = sorted(
            (r["path"], r["content_hash"]) for r in files if r["status"] not in (REMOVED, DELETED)
        )
        content = hashlib.sha256(repr(present).encode()).hexdigest()[:24]
        requests.append(
            PartitionRequest(
                day,
                f"{contract.name}:{day}:{content}",
                tuple(path for path, _ in present if rows[path]["status"] == PENDING),
                append=day not in rewrite_days,
            )
        )
    return requests
