"""The audit log of data reads: each request is buffered in memory and appended to
`governance.api_requests` in batches, every few seconds and at shutdown. One Delta commit per
request would serialize 50 concurrent clients on the table's log; one per flush does not."""

from __future__ import annotations

import datetime as dt
import logging
import threading

import polars as pl

from lakehouse.storage import LakeStore
from lakehouse.tables import GOVERNANCE_API_REQUESTS

log = logging.getLogger(__name__)


class AuditLog:
    def __init__(self, store: LakeStore, flush_seconds: float) -> None:
        self.store = store
        self.flush_seconds = flush_seconds
        self._pending: list[dict[str, object]] = []
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-flush", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def record(
        self,
        *,
        token: str,
        role: str,
        endpoint: str,
        target: str,
        rows: int | None,
        status: int,
        seconds: float,
    ) -> None:
        row = {
            "requested_at": dt.datetime.now(dt.UTC),
            "token": token,
            "role": role,
            "endpoint": endpoint,
            "target": target,
            "rows": rows,
            "status": status,
            "seconds": seconds,
        }
        with self._lock:
            self._pending.append(row)

    def flush(self) -> int:
        """Append what is buffered, a commit per request date; returns the rows written."""
        with self._flushing:
            with self._lock:
                rows, self._pending = self._pending, []
            if not rows:
                return 0
            frame = pl.DataFrame(rows, schema=GOVERNANCE_API_REQUESTS.schema)
            days = frame["requested_at"].dt.date()
            for day in days.unique().sort():
                try:
                    self.store.append(
                        GOVERNANCE_API_REQUESTS, day.isoformat(), frame.filter(days == day)
                    )
                except BaseException:
                    # Kept for the next flush rather than lost (a day already appended is not
                    # put back: its commit happened).
                    with self._lock:
                        unsent = frame.filter(days >= day).to_dicts()
                        self._pending = unsent + self._pending
                    raise
            return len(rows)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            try:
                self.flush()
            except Exception:  # logged; the server keeps serving
                log.exception("could not append the API audit log")

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.flush()
