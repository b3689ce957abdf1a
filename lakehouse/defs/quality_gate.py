"""Write-audit-publish for assets: checks run on each staged partition before it is published.

An ERROR outcome stops the asset before the partition is published: the previous version stays,
the step fails naming the rule and the count, and downstream assets do not run. WARN outcomes
are published and recorded. Every evaluation is appended to the lake's quality history.

In Dagster, a one-partition run shows each check's result for its partition. A run over a range
(a single-run backfill) shows one result per check summarizing its partitions, and a
per-partition evaluation for each partition that failed a check: an event for every passing
partition was about half the Dagster time of a year's backfill (some 10 ms each, five checks a
day), for a record the quality history keeps anyway.
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import dagster as dg
from duckdb import DuckDBPyConnection

from lakehouse.defs.publishing import asset_key, record_partition, utc_now
from lakehouse.landing.reader import LandingFileError
from lakehouse.partitions import Partitioning
from lakehouse.quality import history
from lakehouse.quality.audited import audit_partition
from lakehouse.quality.evaluate import ERROR, Outcome
from lakehouse.storage import (
    Audited,
    InvalidPartitionKey,
    LakeStore,
    PublishedPartition,
    Quarantine,
    Rows,
    SchemaMismatch,
    StagedPartition,
    publish_audited,
)
from lakehouse.table_spec import TableSpec

SEVERITIES = {"ERROR": dg.AssetCheckSeverity.ERROR, "WARN": dg.AssetCheckSeverity.WARN}


class QualityGateError(Exception):
    """A staged partition failed an ERROR check and was not published."""


#: Errors about the data itself: the same input fails the same way on every attempt.
DETERMINISTIC_ERRORS: tuple[type[Exception], ...] = (
    QualityGateError,
    LandingFileError,
    InvalidPartitionKey,
    SchemaMismatch,
)


def check_specs(
    spec: TableSpec, checks: Mapping[str, tuple[str, str]], partitioning: Partitioning
) -> list[dg.AssetCheckSpec]:
    """Check specs of a table: `checks` maps a check name to (severity, description)."""
    key = asset_key(spec)
    return [
        dg.AssetCheckSpec(
            name,
            asset=key,
            description=f"{description} ({severity}{', blocking' if severity == ERROR else ''})",
            blocking=severity == ERROR,
            partitions_def=partitioning.daily if spec.is_partitioned else None,
            metadata={"severity": severity},
        )
        for name, (severity, description) in checks.items()
    ]


class QualityGate:
    """Collects a run's outcomes for one asset and turns them into Dagster events."""

    def __init__(
        self, context: dg.AssetExecutionContext, spec: TableSpec, store: LakeStore
    ) -> None:
        self.context = context
        self.spec = spec
        self.store = store
        self.asset_key = asset_key(spec)
        # In a range run a yielded check result has no partition: failures are logged per
        # partition, and `results` sums up each check over the range.
        self.ranged = spec.is_partitioned and not context.has_partition_key
        self.outcomes: dict[str, list[tuple[str | None, Outcome]]] = {}
        self.published: list[tuple[str, dict[str, Any]]] = []
        self.history: list[dict[str, Any]] = []
        #: Check evaluations of a range run not yet handed to Dagster.
        self.pending: list[dg.AssetCheckEvaluation] = []

    def guard(self, steps: Iterator[Any]) -> Iterator[Any]:
        """Run an asset's steps. Partitions they publish are committed together, one Delta
        commit per table, before the materialization is reported. Whatever stops them (a
        failed ERROR check, an unreadable file, a bug), the partitions that passed their audits
        so far are committed and recorded as materialized before the error propagates, so a
        resumed backfill need not redo them; and the evaluations made so far always reach
        Dagster and the quality history. An interrupt (Ctrl-C, SIGTERM) commits nothing more."""
        self.store.defer_commits()
        try:
            for event in steps:
                yield from self._drain()
                if isinstance(event, dg.MaterializeResult):
                    self.store.commit_deferred()
                yield event
            yield from self._drain()
            self.store.stop_deferring()
        except Exception as error:
            self.store.stop_deferring()
            yield from self._drain()
            for key, metadata in self.published:
                yield dg.AssetMaterialization(
                    asset_key=self.asset_key, partition=key, metadata=metadata
                )
            if isinstance(error, QualityGateError) and not self.ranged:
                yield from self.results()
            if isinstance(error, DETERMINISTIC_ERRORS):
                # Retrying cannot help: fail now, with the message, and skip the retry policy.
                raise dg.Failure(description=str(error), allow_retries=False) from error
            raise
        except BaseException:
            self.store.stop_deferring(discard=True)
            raise
        finally:
            self.flush()

    def check(self, partition: str | None, outcomes: Sequence[Outcome]) -> list[Outcome]:
        """Record an audit's outcomes (their Dagster events go out with the step's next
        event); raise `QualityGateError` on a failed ERROR check, so that
        `publish_audited` discards the staged partition."""
        now = utc_now()
        for outcome in outcomes:
            self.outcomes.setdefault(outcome.check, []).append((partition, outcome))
            self.history.append(
                {
                    "table": self.spec.qualified_name,
                    "partition": partition,
                    "check": outcome.check,
                    "severity": outcome.severity,
                    "passed": outcome.passed,
                    "rows_checked": outcome.rows_checked,
                    "rows_failed": outcome.rows_failed,
                    "evaluated_at": now,
                    "run_id": self.context.run.run_id,
                }
            )
            if self.ranged and not outcome.passed:
                self.pending.append(
                    dg.AssetCheckEvaluation(
                        asset_key=self.asset_key,
                        check_name=outcome.check,
                        passed=outcome.passed,
                        metadata=outcome.metadata(),
                        severity=SEVERITIES[outcome.severity],
                        blocking=outcome.severity == ERROR,
                        partition=partition,
                    )
                )
        blocking = [o for o in outcomes if o.severity == ERROR and not o.passed]
        if blocking:
            where = f" partition {partition}" if partition else ""
            reasons = "; ".join(outcome.summary() for outcome in blocking)
            raise QualityGateError(
                f"{self.spec.qualified_name}{where} was not published: {reasons}. "
                "The previously published version is unchanged."
            )
        return list(outcomes)

    def _drain(self) -> Iterator[Any]:
        pending, self.pending = self.pending, []
        yield from pending

    def publish(
        self,
        key: str | None,
        rows: Rows | StagedPartition,
        audit: Callable[[StagedPartition, StagedPartition | None], Sequence[Outcome]],
        quarantine: Quarantine | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Audited[Sequence[Outcome]]:
        """`publish_audited` with this gate's verdict on the audit's outcomes; the partition
        is recorded as published."""
        result = publish_audited(
            self.store,
            self.spec,
            key,
            rows,
            lambda staged, rejected: self.check(key, audit(staged, rejected)),
            quarantine,
        )
        self.published_partition(result.published, extra)
        return result

    def publish_by_model(
        self, con: DuckDBPyConnection, key: str | None, rows: Rows | StagedPartition
    ) -> PublishedPartition:
        """`publish` with the table's pandera model audited on the staged files."""
        audit = lambda staged, _: audit_partition(self.store, con, staged)  # noqa: E731
        return self.publish(key, rows, audit).published

    def published_partition(
        self, published: PublishedPartition, extra: Mapping[str, Any] | None = None
    ) -> PublishedPartition:
        if published.partition_key is not None:
            metadata = record_partition(self.context, self.spec, published, extra)
            self.published.append((published.partition_key, metadata))
        return published

    def results(self) -> Iterator[dg.AssetCheckResult]:
        """One result per check: the outcome itself, or a summary of a range run."""
        for check, evaluated in self.outcomes.items():
            if not self.ranged:
                _, outcome = evaluated[-1]
                yield dg.AssetCheckResult(
                    check_name=check,
                    passed=outcome.passed,
                    severity=SEVERITIES[outcome.severity],
                    metadata=outcome.metadata(),
                )
                continue
            failed = [(key, o) for key, o in evaluated if not o.passed]
            checked = sum(o.rows_checked for _, o in evaluated)
            rows_failed = sum(o.rows_failed for _, o in evaluated)
            lines = ["| partition | rows checked | rows failed |", "|---|---:|---:|"]
            lines += [f"| {key} | {o.rows_checked} | {o.rows_failed} |" for key, o in failed]
            yield dg.AssetCheckResult(
                check_name=check,
                passed=not failed,
                severity=SEVERITIES[evaluated[0][1].severity],
                metadata={
                    "partitions_checked": len(evaluated),
                    "partitions_failed": len(failed),
                    "rows_checked": checked,
                    "rows_failed": rows_failed,
                    "failure_rate": round(rows_failed / checked, 6) if checked else 0.0,
                    "failed_partitions": dg.MetadataValue.md("\n".join(lines)),
                },
            )

    def flush(self) -> None:
        """Append this run's evaluations to the quality history (once)."""
        history.record(self.store, self.history)
        self.history = []
