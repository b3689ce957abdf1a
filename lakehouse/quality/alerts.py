"""Quality alerts: a table's daily score under its threshold, or a failed ERROR check.

Alerts are computed from the quality history, recorded in the lake, and posted as JSON to a
webhook when one is configured. Only days with evaluations newer than the cursor are looked at,
so each evaluation can raise an alert once.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass

import polars as pl

from lakehouse.quality.history import daily_scores, pass_threshold, results
from lakehouse.storage import LakeStore
from lakehouse.tables import QUALITY_ALERTS

WEBHOOK_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class Alert:
    table: str
    day: dt.date
    kind: str  # "score_below_threshold" or "error_check_failed"
    score: float
    threshold: float
    message: str

    def payload(self) -> dict:
        data = asdict(self)
        data["day"] = self.day.isoformat()
        return {"source": "lakehouse", "alert": data}


def find_alerts(
    store: LakeStore, since: dt.datetime | None
) -> tuple[list[Alert], dt.datetime | None]:
    """Alerts for table-days evaluated after `since`, and the newest evaluation time seen."""
    scores = daily_scores(results(store)).collect()
    if scores.is_empty():
        return [], since
    fresh = scores if since is None else scores.filter(pl.col("last_evaluated_at") > since)
    alerts = []
    for row in fresh.sort("table", "day").iter_rows(named=True):
        threshold = pass_threshold(row["table"])
        if row["error_failures"]:
            alerts.append(
                Alert(
                    row["table"],
                    row["day"],
                    "error_check_failed",
                    row["score"],
                    threshold,
                    f"{row['table']} {row['day']}: {row['error_failures']} ERROR check(s) failed; "
                    "the partition was not published",
                )
            )
        elif row["score"] < threshold:
            alerts.append(
                Alert(
                    row["table"],
                    row["day"],
                    "score_below_threshold",
                    row["score"],
                    threshold,
                    f"{row['table']} {row['day']}: quality score {row['score']:.2%} is below "
                    f"{threshold:.0%} ({row['rows_failed']} of {row['rows_checked']} rows failed)",
                )
            )
    return alerts, scores["last_evaluated_at"].max()


def post_webhook(url: str, alert: Alert) -> str:
    """POST the alert as JSON; returns the HTTP status or the error, never raises."""
    request = urllib.request.Request(
        url,
        data=json.dumps(alert.payload()).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            return str(response.status)
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        return f"error: {error}"


def record_alerts(store: LakeStore, alerts: list[Alert], statuses: list[str]) -> None:
    if not alerts:
        return
    now = dt.datetime.now(dt.UTC)
    frame = pl.DataFrame(
        [
            {**asdict(alert), "raised_at": now, "webhook_status": status}
            for alert, status in zip(alerts, statuses, strict=True)
        ],
        schema=QUALITY_ALERTS.polars_schema,
    )
    store.append(QUALITY_ALERTS, now.date().isoformat(), frame)
