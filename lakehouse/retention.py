"""How long each table keeps its partitions, declared in one place.

The catalog shows it; the maintenance job (retention) deletes the partitions older than it.
Unpartitioned tables are rebuilt whole and have no retention of their own.
"""

from __future__ import annotations

from lakehouse.storage import TableSpec

#: Days of partitions kept, by the first folder of a table's path.
RETENTION_DAYS = {
    "bronze": 90,
    "silver": 2 * 365,
    "gold": 5 * 365,
    "quarantine": 30,
    "quality": 365,
    "lakehouse": 365,
}


def retention_days(spec: TableSpec) -> int | None:
    """Days of partitions `spec` keeps; None when it is unpartitioned (rebuilt whole)."""
    if not spec.is_partitioned:
        return None
    return RETENTION_DAYS[spec.path[0]]


def describe_retention(spec: TableSpec) -> str:
    days = retention_days(spec)
    if days is None:
        return "rebuilt whole"
    if days % 365 == 0:
        years = days // 365
        return f"{years} year{'s' if years > 1 else ''}"
    return f"{days} days"
