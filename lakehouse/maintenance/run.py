"""Run maintenance operations in order, or list what they would do (dry run)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from lakehouse import tables
from lakehouse.maintenance import cleanup, compaction
from lakehouse.maintenance.actions import Action, record
from lakehouse.storage import LakeStore
from lakehouse.table_spec import TableSpec

#: Retention first (nothing is compacted only to be deleted); the files compaction replaces
#: stay readable in older versions until a later vacuum's grace period has passed.
OPERATIONS = (cleanup.RETENTION, compaction.COMPACT, compaction.CLUSTER, cleanup.VACUUM)


def maintain(
    store: LakeStore,
    operations: Sequence[str] = OPERATIONS,
    *,
    dry_run: bool = False,
    today: dt.date | None = None,
    grace: dt.timedelta = cleanup.GRACE,
    target_bytes: int = compaction.TARGET_FILE_BYTES,
    specs: Sequence[TableSpec] = tables.ALL_TABLES,
    forget: Callable[[TableSpec, Sequence[str]], None] | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> list[Action]:
    """Each operation in turn; returns the actions taken (or, in a dry run, planned, with
    nothing changed and nothing recorded). Each operation's actions go to the maintenance
    history before the next begins (clustering reads when compaction rewrote a partition)."""
    today = today or dt.datetime.now(dt.UTC).date()
    done: list[Action] = []
    for operation in operations:
        if operation not in OPERATIONS:
            raise ValueError(f"unknown maintenance operation {operation!r}; use {OPERATIONS}")
        actions = _run(store, operation, dry_run, today, grace, target_bytes, specs, forget)
        for action in actions:
            log(("would " if dry_run else "") + action.describe(planned=dry_run))
        if not dry_run:
            record(store, actions)
        done.extend(actions)
    return done


def _run(
    store: LakeStore,
    operation: str,
    dry_run: bool,
    today: dt.date,
    grace: dt.timedelta,
    target_bytes: int,
    specs: Sequence[TableSpec],
    forget: Callable[[TableSpec, Sequence[str]], None] | None,
) -> list[Action]:
    if operation == cleanup.RETENTION:
        expired = cleanup.plan_retention(store, specs, today)
        if dry_run:
            return [item.action for item in expired]
        retired = [cleanup.retire(store, item) for item in expired]
        if forget is not None:
            by_table: dict[str, list[cleanup.Expired]] = {}
            for item in expired:
                by_table.setdefault(item.spec.qualified_name, []).append(item)
            for items in by_table.values():
                forget(items[0].spec, [item.key for item in items])
        return retired
    if operation == cleanup.VACUUM:
        leftovers = cleanup.plan_vacuum(store, specs, grace)
        if dry_run:
            return [cleanup.planned_action(store, leftover) for leftover in leftovers]
        return cleanup.vacuum(store, leftovers, grace)
    today_key = today.isoformat()
    candidates = [
        # A partition still being appended to (today's quality history) is left for tomorrow.
        candidate
        for candidate in compaction.plan(store, specs, operation, target_bytes)
        if candidate.key is None or candidate.key < today_key
    ]
    if dry_run:
        return [candidate.action(operation, candidate.reason) for candidate in candidates]
    return [compaction.rewrite(store, c, operation, target_bytes) for c in candidates]
