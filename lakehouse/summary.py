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
        if store.files(tables.GOLD_DAILY_SUMMARY):
            # The store's scan reads is_complete as NULL in files written before it existed:
            # not known to be final.
            daily = store.scan(tables.GOLD_DAILY_SUMMARY).collect()  # noqa: F841 (by DuckDB)
            relation = con.sql(
                "SELECT summary_date AS day, revenue_usd, orders, "
                "avg_order_value_usd AS avg_order_usd, active_users AS users, "
                "round(conversion_rate, 4) AS conversion, new_customers, "
                "coalesce(is_complete, false) AS final "
                "FROM daily ORDER BY day"
            )
            lines += ["", "gold.daily_summary:", str(relation)]
    return "\n".join(lines)
