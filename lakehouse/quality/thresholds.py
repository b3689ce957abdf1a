"""The share of rows that must pass a table's checks on a day; below it, an alert is raised."""

from __future__ import annotations

DEFAULT_THRESHOLD = 0.95

#: Per-table overrides, by qualified name (`silver.orders`).
THRESHOLDS: dict[str, float] = {
    "silver.app_events": 0.97,
    "gold.fact_sales": 0.97,
}


def threshold_for(table: str) -> float:
    return THRESHOLDS.get(table, DEFAULT_THRESHOLD)
