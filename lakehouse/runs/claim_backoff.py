"""A step waiting for a concurrency-pool slot sleeps between claims instead of spinning.

Dagster 1.13 computes the wait before the next claim as `min([0, *intervals])`, which is never
above zero: an executor whose step is blocked by a full pool loops without sleeping and burns a
core until a slot frees (issue 16 saw it for 10 minutes; upstream dagster-io/dagster#20367
found the same and was closed unmerged). The wait should be the time to the earliest pending
claim check, never below zero. Installed when the package is imported, so every process that
loads the code (`lakehouse build`, code servers, run and step workers) waits the same way.
"""

from __future__ import annotations

import time

from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext


def _interval_to_next_pending_claim_check(self: InstanceConcurrencyContext) -> float:
    if not self._pending_claims or not self._pending_timeouts:
        return 0.0
    return max(0.0, min(self._pending_timeouts.values()) - time.time())


def install() -> None:
    if not hasattr(InstanceConcurrencyContext, "interval_to_next_pending_claim_check"):
        raise RuntimeError(
            "Dagster changed how a blocked step waits for a pool slot: review "
            "lakehouse/runs/claim_backoff.py against the installed version"
        )
    InstanceConcurrencyContext.interval_to_next_pending_claim_check = (
        _interval_to_next_pending_claim_check
    )
