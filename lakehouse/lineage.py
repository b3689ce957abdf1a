"""Column lineage of the gold tables: which upstream columns each column is computed from.

Declared next to nothing else so a reviewer can check it against the transforms in one read;
a test checks every table and column named here exists. Dagster shows it on each asset as
`dagster/column_lineage`.
"""

from __future__ import annotations

#: gold table -> column -> [(upstream table, upstream column), ...]
COLUMN_LINEAGE: dict[str, dict[str, list[tuple[str, str]]]] = {}


def _same(upstream: str, *columns: str) -> dict[str, list[tuple[str, str]]]:
    return {column: [(upstream, column)] for column in columns}


ORDERS, PRODUCTS, EVENTS, SESSIONS = (
    "silver.orders",
    "silver.products",
    "silver.app_events",
    "silver.sessions",
)
CDC, DIM, FACTS = "bronze.customers_cdc", "gold.dim_customer", "gold.fact_sales"

COLUMN_LINEAGE["gold.dim_customer"] = {
    "customer_sk": [(CDC, "customer_id"), (CDC, "updated_at")],
    **_same(CDC, "customer_id", "email", "name", "country", "segment"),
    "valid_from": [(CDC, "updated_at")],
    "valid_to": [(CDC, "updated_at")],
    "is_current": [(CDC, "updated_at"), (CDC, "op")],
    "is_deleted": [(CDC, "op")],
}
COLUMN_LINEAGE["gold.fact_sales"] = {
    **_same(ORDERS, "order_id", "order_ts", "customer_id", "product_id", "quantity"),
    **_same(ORDERS, "unit_price", "currency", "amount", "amount_usd", "status"),
    "customer_sk": [(DIM, "customer_sk"), (DIM, "valid_from"), (ORDERS, "order_ts")],
    "product_category": [(PRODUCTS, "category")],
    "is_revenue": [(ORDERS, "status")],
}
COLUMN_LINEAGE["gold.daily_summary"] = {
    "revenue_usd": [(FACTS, "amount_usd"), (FACTS, "is_revenue")],
    "orders": [(FACTS, "order_id")],
    "revenue_orders": [(FACTS, "is_revenue")],
    "avg_order_value_usd": [(FACTS, "amount_usd"), (FACTS, "is_revenue")],
    "active_users": [(EVENTS, "user_id")],
    "sessions": [(SESSIONS, "session_id")],
    "converted_sessions": [(SESSIONS, "converted")],
    "conversion_rate": [(SESSIONS, "converted"), (SESSIONS, "session_id")],
    "new_customers": [(DIM, "customer_id"), (DIM, "valid_from")],
}
COLUMN_LINEAGE["gold.event_metrics_hourly"] = {
    "hour": [(EVENTS, "event_ts")],
    "event_type": [(EVENTS, "event_type")],
    "events": [(EVENTS, "event_id")],
    "users": [(EVENTS, "user_id")],
    "hour_events": [(EVENTS, "event_ts")],
    "hour_errors": [(EVENTS, "event_ts"), (EVENTS, "event_type")],
    "error_rate": [(EVENTS, "event_ts"), (EVENTS, "event_type")],
    "latency_p50_ms": [(EVENTS, "latency_ms")],
    "latency_p95_ms": [(EVENTS, "latency_ms")],
}
COLUMN_LINEAGE["gold.user_segments"] = {
    "user_id": [(SESSIONS, "user_id"), (FACTS, "customer_id")],
    "as_of_date": [(SESSIONS, "session_start")],
    "recency_days": [(FACTS, "order_ts"), (SESSIONS, "session_start")],
    "frequency": [(FACTS, "order_id"), (FACTS, "is_revenue")],
    "monetary_usd": [(FACTS, "amount_usd"), (FACTS, "is_revenue")],
    "events_30d": [(SESSIONS, "events"), (SESSIONS, "session_start")],
    "sessions_30d": [(SESSIONS, "session_start")],
    "engagement_score": [(SESSIONS, "events"), (SESSIONS, "session_start")],
    "churn_risk": [(SESSIONS, "session_start"), (FACTS, "order_ts"), (FACTS, "is_revenue")],
    "segment": [(SESSIONS, "session_start"), (FACTS, "order_ts"), (FACTS, "is_revenue")],
}
