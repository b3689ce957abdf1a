"""A short summary of the gold tables, read back through DuckDB like an analyst would."""

from __future__ import annotations

from pathlib import Path

import duckdb

from lakehouse import tables


def gold_summary(lake: Path) -> str:
    con = duckdb.connect(":memory:")
    lines = ["gold tables:"]
    for spec in tables.GOLD_TABLES:
        folder = lake.joinpath(*spec.path)
        if not folder.exists():
            lines.append(f"  {spec.qualified_name:<28} (not built)")
            continue
        glob = str(folder / "**" / "*.parquet")
        count, files = con.execute(
            "SELECT count(*), count(DISTINCT filename) "
            "FROM read_parquet(?, hive_partitioning = true, filename = true)",
            [glob],
        ).fetchall()[0]
        lines.append(f"  {spec.qualified_name:<28} {count:>10,} rows in {files} files")
    daily = lake / "gold" / "daily_summary"
    if daily.exists():
        lines.append("")
        lines.append("gold.daily_summary:")
        relation = con.sql(
            "SELECT summary_date, revenue_usd, orders, avg_order_value_usd, active_users, "
            "round(conversion_rate, 4) AS conversion_rate, new_customers "
            "FROM read_parquet($glob, hive_partitioning = true) ORDER BY summary_date",
            params={"glob": str(daily / "**" / "*.parquet")},
        )
        lines.append(str(relation))
    return "\n".join(lines)
