"""Five analyst queries on gold, as an analyst runs them: on the lake's catalog, opened
read-only (`duckdb -readonly data/lake/catalog.duckdb`), with the gold schema first on the
search path so the queries name tables bare.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import duckdb

from lakehouse.catalog import catalog_path


def analyst_queries(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The queries, with their dates and customer taken from the lake itself."""
    last_day = con.sql("SELECT max(order_date) FROM fact_sales").fetchall()[0][0]
    busiest = con.sql(
        "SELECT customer_id FROM dim_customer GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    ).fetchall()[0][0]
    return {
        "daily_revenue_30_days": f"""
            SELECT order_date, sum(amount_usd) FILTER (WHERE is_revenue) AS revenue_usd
            FROM fact_sales
            WHERE order_date BETWEEN DATE '{last_day}' - INTERVAL 29 DAY AND DATE '{last_day}'
            GROUP BY order_date ORDER BY order_date""",
        "top_products_by_revenue": """
            SELECT product_id, product_category, sum(amount_usd) AS revenue_usd
            FROM fact_sales WHERE is_revenue
            GROUP BY ALL ORDER BY revenue_usd DESC LIMIT 10""",
        "customers_by_segment": """
            SELECT segment, count(*) AS customers FROM user_segments
            GROUP BY segment ORDER BY customers DESC""",
        "hourly_error_rate_one_day": f"""
            SELECT hour, max(error_rate) AS error_rate FROM event_metrics_hourly
            WHERE event_date = DATE '{last_day}' GROUP BY hour ORDER BY hour""",
        "customer_scd2_history": f"""
            SELECT customer_sk, segment, country, valid_from, valid_to, is_current, is_deleted
            FROM dim_customer WHERE customer_id = '{busiest}' ORDER BY valid_from""",
    }


def time_queries(catalog_dir: Path, repetitions: int, threads: int = 2) -> dict[str, dict]:
    """p50/p95 wall time per query over `repetitions` runs, after one cold run."""
    figures: dict[str, dict] = {}
    config = {"threads": threads, "memory_limit": "1GB"}
    with duckdb.connect(str(catalog_path(catalog_dir)), read_only=True, config=config) as con:
        con.execute("SET TimeZone = 'UTC'")
        # An analyst session re-reads the same footers: DuckDB keeps them between queries.
        con.execute("SET parquet_metadata_cache = true")
        con.execute("SET search_path = 'gold,main'")
        for name, sql in analyst_queries(con).items():
            started = time.perf_counter()
            rows = len(con.sql(sql).fetchall())
            cold = time.perf_counter() - started
            samples = []
            for _ in range(repetitions):
                started = time.perf_counter()
                con.sql(sql).fetchall()
                samples.append(time.perf_counter() - started)
            figures[name] = {
                "rows": rows,
                "cold_ms": cold * 1000,
                "p50_ms": _percentile(samples, 50) * 1000,
                "p95_ms": _percentile(samples, 95) * 1000,
            }
    return figures


def _percentile(samples: list[float], percent: int) -> float:
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[percent - 1]
