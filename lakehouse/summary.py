"""A short summary of the gold tables, read back through DuckDB like an analyst would."""

from __future__ import annotations

import duckdb

from lakehouse import tables
from lakehouse.storage import LakeStore, parquet_source


def gold_summary(store: LakeStore) -> str:
    """Rows and files of each gold table and the daily summary, wherever the lake is."""
    with duckdb.connect(":memory:") as con:
        store.prepare_duckdb(con)
        lines = ["gold tables:"]
        for spec in tables.GOLD_TABLES:
            files = store.files(spec)
            if not files:
                lines.append(f"  {spec.qualified_name:<28} (not built)")
                continue
            query = f"SELECT count(*) FROM {parquet_source(store, files)}"
            (count,) = con.sql(query).fetchall()[0]
            lines.append(f"  {spec.qualified_name:<28} {count:>10,} rows in {len(files)} files")
        daily = store.files(tables.GOLD_DAILY_SUMMARY)
        if daily:
            source = parquet_source(store, daily, hive=True, union_by_name=True)
            # Files written before is_complete existed read it as NULL: not known to be final.
            present = con.sql(f"SELECT * FROM {source} LIMIT 0").columns
            final = "is_complete" if "is_complete" in present else "NULL::BOOLEAN"
            relation = con.sql(
                "SELECT summary_date AS day, revenue_usd, orders, "
                "avg_order_value_usd AS avg_order_usd, active_users AS users, "
                "round(conversion_rate, 4) AS conversion, new_customers, "
                f"coalesce({final}, false) AS final "
                f"FROM {source} ORDER BY day"
            )
            lines += ["", "gold.daily_summary:", str(relation)]
    return "\n".join(lines)
