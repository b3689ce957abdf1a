"""Every lake table, declared once: layer, columns, partitioning, owner, tags and description.

Assets, the store and (later) the catalog read these specs, so a column added here is added
everywhere. Partition columns are typed DATE and come from the folder name. Money columns are
`MONEY` (DECIMAL(18,2)) and rates `RATE` (DECIMAL(18,6)): see `lakehouse.money`.
"""

from __future__ import annotations

import polars as pl

from lakehouse.landing.contract import APP_EVENTS, CUSTOMERS, ORDERS, PRODUCTS, SourceContract
from lakehouse.money import MONEY, RATE
from lakehouse.storage.spec import TableSpec

UTC_TS = pl.Datetime("us", "UTC")
LINEAGE = {"_source_file": pl.String(), "_source_line": pl.Int64()}
QUARANTINE_REASON = {
    "_rule": pl.String(),
    "_column": pl.String(),
    "_reason": pl.String(),
    "_quarantined_at": UTC_TS,
}
ENGINEERING = "team:data-engineering"
ANALYTICS = "team:analytics"


def _bronze(contract: SourceContract, description: str, domain: str, pii: bool) -> TableSpec:
    return TableSpec(
        layer="bronze",
        name=contract.bronze_table,
        schema={
            **contract.bronze_schema,
            "_extra": pl.String(),
            **LINEAGE,
            "_ingested_at": UTC_TS,
        },
        partition_column="arrival_date",
        description=description,
        owner=ENGINEERING,
        domain=domain,
        pii=pii,
    )


BRONZE_APP_EVENTS = _bronze(
    APP_EVENTS, "App events as they landed, typed, by arrival date.", "product", pii=False
)
BRONZE_ORDERS = _bronze(
    ORDERS, "Order rows (every version) as they landed, typed, by arrival date.", "sales", False
)
BRONZE_CUSTOMERS_CDC = _bronze(
    CUSTOMERS, "Customer change-data-capture records, typed, by arrival date.", "customers", True
)
BRONZE_PRODUCTS = _bronze(
    PRODUCTS, "Daily full product snapshots, typed, by arrival date.", "catalog", pii=False
)
BRONZE_TABLES = (BRONZE_APP_EVENTS, BRONZE_ORDERS, BRONZE_CUSTOMERS_CDC, BRONZE_PRODUCTS)

SILVER_APP_EVENTS = TableSpec(
    layer="silver",
    name="app_events",
    schema={
        "event_id": pl.String(),
        "user_id": pl.String(),
        "event_type": pl.String(),
        "event_ts": UTC_TS,
        "device": pl.String(),
        "app_version": pl.String(),
        "latency_ms": pl.Int64(),
        "properties": pl.String(),
        "arrival_date": pl.Date(),
        "is_late": pl.Boolean(),
        **LINEAGE,
    },
    partition_column="event_date",
    description="App events deduplicated by event_id, by UTC event date; late arrivals included.",
    owner=ENGINEERING,
    domain="product",
    sort_by=("event_ts",),
)
SILVER_ORDERS = TableSpec(
    layer="silver",
    name="orders",
    schema={
        "order_id": pl.String(),
        "customer_id": pl.String(),
        "product_id": pl.String(),
        "quantity": pl.Int64(),
        "unit_price": MONEY,
        "currency": pl.String(),
        "status": pl.String(),
        "order_ts": UTC_TS,
        "updated_at": UTC_TS,
        "amount": MONEY,
        "usd_per_unit": RATE,
        "amount_usd": MONEY,
        "versions": pl.Int64(),
        **LINEAGE,
    },
    partition_column="order_date",
    description="Latest version of each order (latest updated_at wins), amounts also in USD.",
    owner=ENGINEERING,
    domain="sales",
    sort_by=("order_ts",),
)
SILVER_CUSTOMERS = TableSpec(
    layer="silver",
    name="customers",
    schema={
        "customer_id": pl.String(),
        "email": pl.String(),
        "name": pl.String(),
        "country": pl.String(),
        "segment": pl.String(),
        "created_at": UTC_TS,
        "updated_at": UTC_TS,
        "versions": pl.Int64(),
    },
    description="Current state of every customer from the CDC feed; deleted customers removed.",
    owner=ENGINEERING,
    domain="customers",
    pii=True,
)
SILVER_PRODUCTS = TableSpec(
    layer="silver",
    name="products",
    schema={
        "product_id": pl.String(),
        "name": pl.String(),
        "category": pl.String(),
        "list_price": MONEY,
        "currency": pl.String(),
        "active": pl.Boolean(),
        "snapshot_date": pl.Date(),
    },
    description="Products as of the latest daily snapshot.",
    owner=ENGINEERING,
    domain="catalog",
)
SILVER_SESSIONS = TableSpec(
    layer="silver",
    name="sessions",
    schema={
        "session_id": pl.String(),
        "user_id": pl.String(),
        "session_start": UTC_TS,
        "session_end": UTC_TS,
        "duration_s": pl.Float64(),
        "events": pl.Int64(),
        "converted": pl.Boolean(),
        "device": pl.String(),
    },
    partition_column="session_date",
    description="User sessions (a new session after 30 minutes without events), by start date.",
    owner=ENGINEERING,
    domain="product",
)

GOLD_FACT_SALES = TableSpec(
    layer="gold",
    name="fact_sales",
    schema={
        "order_id": pl.String(),
        "order_ts": UTC_TS,
        "customer_id": pl.String(),
        "customer_sk": pl.Int64(),
        "product_id": pl.String(),
        "product_category": pl.String(),
        "quantity": pl.Int64(),
        "unit_price": MONEY,
        "currency": pl.String(),
        "amount": MONEY,
        "amount_usd": MONEY,
        "status": pl.String(),
        "is_revenue": pl.Boolean(),
    },
    partition_column="order_date",
    description=(
        "One row per order with the customer version valid at order time (customer_sk) and the "
        "product; is_revenue marks paid and shipped orders."
    ),
    owner=ANALYTICS,
    domain="sales",
    sort_by=("customer_id", "product_id"),
)
GOLD_DIM_CUSTOMER = TableSpec(
    layer="gold",
    name="dim_customer",
    schema={
        "customer_sk": pl.Int64(),
        "customer_id": pl.String(),
        "email": pl.String(),
        "name": pl.String(),
        "country": pl.String(),
        "segment": pl.String(),
        "valid_from": UTC_TS,
        "valid_to": UTC_TS,
        "is_current": pl.Boolean(),
        "is_deleted": pl.Boolean(),
    },
    description=(
        "Customers as a type-2 slowly changing dimension: one row per version, valid_from "
        "inclusive, valid_to exclusive (NULL while current)."
    ),
    owner=ANALYTICS,
    domain="customers",
    pii=True,
)
GOLD_DAILY_SUMMARY = TableSpec(
    layer="gold",
    name="daily_summary",
    schema={
        "revenue_usd": MONEY,
        "orders": pl.Int64(),
        "revenue_orders": pl.Int64(),
        "avg_order_value_usd": MONEY,
        "active_users": pl.Int64(),
        "sessions": pl.Int64(),
        "converted_sessions": pl.Int64(),
        "conversion_rate": pl.Float64(),
        "new_customers": pl.Int64(),
    },
    partition_column="summary_date",
    description="One row per day: revenue, orders, average order value, users and conversion.",
    owner=ANALYTICS,
    domain="sales",
)
GOLD_EVENT_METRICS_HOURLY = TableSpec(
    layer="gold",
    name="event_metrics_hourly",
    schema={
        "hour": UTC_TS,
        "event_type": pl.String(),
        "events": pl.Int64(),
        "users": pl.Int64(),
        "hour_events": pl.Int64(),
        "hour_errors": pl.Int64(),
        "error_rate": pl.Float64(),
        "latency_p50_ms": pl.Float64(),
        "latency_p95_ms": pl.Float64(),
    },
    partition_column="event_date",
    description=(
        "Per hour and event type: events, users, latency p50/p95; error_rate is the hour's share "
        "of error events, repeated on each of the hour's rows."
    ),
    owner=ANALYTICS,
    domain="product",
    sort_by=("hour", "event_type"),
)
GOLD_USER_SEGMENTS = TableSpec(
    layer="gold",
    name="user_segments",
    schema={
        "user_id": pl.String(),
        "as_of_date": pl.Date(),
        "recency_days": pl.Int64(),
        "frequency": pl.Int64(),
        "monetary_usd": MONEY,
        "events_30d": pl.Int64(),
        "sessions_30d": pl.Int64(),
        "engagement_score": pl.Float64(),
        "churn_risk": pl.Boolean(),
        "segment": pl.String(),
    },
    description="Recency, frequency, monetary value and engagement per user, with a churn flag.",
    owner=ANALYTICS,
    domain="customers",
)

SILVER_TABLES = (
    SILVER_APP_EVENTS,
    SILVER_ORDERS,
    SILVER_CUSTOMERS,
    SILVER_PRODUCTS,
    SILVER_SESSIONS,
)
GOLD_TABLES = (
    GOLD_FACT_SALES,
    GOLD_DIM_CUSTOMER,
    GOLD_DAILY_SUMMARY,
    GOLD_EVENT_METRICS_HOURLY,
    GOLD_USER_SEGMENTS,
)


def quarantine_of(spec: TableSpec, row_schema: dict[str, pl.DataType]) -> TableSpec:
    """The quarantine table of `spec`: the rejected rows' columns plus why they were rejected."""
    return TableSpec(
        layer=f"quarantine/{spec.layer}",
        name=spec.name,
        schema={**row_schema, **QUARANTINE_REASON},
        partition_column=spec.partition_column,
        description=f"Rows rejected while building {spec.qualified_name}, with the reason.",
        owner=spec.owner,
        domain=spec.domain,
        pii=spec.pii,
    )


#: Bronze rejects keep the raw line: they could not be typed.
RAW_REJECT = {"_source_file": pl.String(), "_source_line": pl.Int64(), "_raw": pl.String()}
BRONZE_QUARANTINE = {spec.name: quarantine_of(spec, RAW_REJECT) for spec in BRONZE_TABLES}
#: Silver rejects keep the typed bronze row and the arrival date it came with.
SILVER_APP_EVENTS_QUARANTINE = quarantine_of(
    SILVER_APP_EVENTS, {**BRONZE_APP_EVENTS.schema, "arrival_date": pl.Date()}
)
SILVER_ORDERS_QUARANTINE = quarantine_of(
    SILVER_ORDERS, {**BRONZE_ORDERS.schema, "arrival_date": pl.Date()}
)
SILVER_CUSTOMERS_QUARANTINE = quarantine_of(
    SILVER_CUSTOMERS, {**BRONZE_CUSTOMERS_CDC.schema, "arrival_date": pl.Date()}
)
SILVER_PRODUCTS_QUARANTINE = quarantine_of(
    SILVER_PRODUCTS, {**BRONZE_PRODUCTS.schema, "arrival_date": pl.Date()}
)
GOLD_FACT_SALES_QUARANTINE = quarantine_of(GOLD_FACT_SALES, dict(SILVER_ORDERS.schema))

QUALITY_CHECK_RESULTS = TableSpec(
    layer="quality",
    name="check_results",
    schema={
        "table": pl.String(),
        "partition": pl.String(),
        "check": pl.String(),
        "severity": pl.String(),
        "passed": pl.Boolean(),
        "rows_checked": pl.Int64(),
        "rows_failed": pl.Int64(),
        "evaluated_at": UTC_TS,
        "run_id": pl.String(),
    },
    partition_column="evaluated_date",
    description="Every quality check evaluation, appended as it happens: the quality history.",
    owner=ENGINEERING,
    domain="quality",
)
QUALITY_ALERTS = TableSpec(
    layer="quality",
    name="alerts",
    schema={
        "table": pl.String(),
        "day": pl.Date(),
        "kind": pl.String(),
        "score": pl.Float64(),
        "threshold": pl.Float64(),
        "message": pl.String(),
        "raised_at": UTC_TS,
        "webhook_status": pl.String(),
    },
    partition_column="raised_date",
    description="Quality alerts raised by the alert sensor.",
    owner=ENGINEERING,
    domain="quality",
)

MAINTENANCE_HISTORY = TableSpec(
    layer="lakehouse",
    name="maintenance_history",
    schema={
        "operation": pl.String(),
        "table": pl.String(),
        "partition": pl.String(),
        "files_before": pl.Int64(),
        "bytes_before": pl.Int64(),
        "files_after": pl.Int64(),
        "bytes_after": pl.Int64(),
        "rows": pl.Int64(),
        "detail": pl.String(),
        "performed_at": UTC_TS,
        "seconds": pl.Float64(),
    },
    partition_column="performed_date",
    description="Every maintenance action (compact, cluster, retention, vacuum): what it "
    "changed, files and bytes before and after, and when.",
    owner="team:data-platform",
    domain="operations",
)

QUARANTINE_TABLES = (
    *BRONZE_QUARANTINE.values(),
    SILVER_APP_EVENTS_QUARANTINE,
    SILVER_ORDERS_QUARANTINE,
    SILVER_CUSTOMERS_QUARANTINE,
    SILVER_PRODUCTS_QUARANTINE,
    GOLD_FACT_SALES_QUARANTINE,
)
QUALITY_TABLES = (QUALITY_CHECK_RESULTS, QUALITY_ALERTS)
OPERATIONS_TABLES = (MAINTENANCE_HISTORY,)
#: Every table a user may query, in catalog order.
ALL_TABLES = (
    *BRONZE_TABLES,
    *SILVER_TABLES,
    *GOLD_TABLES,
    *QUARANTINE_TABLES,
    *QUALITY_TABLES,
    *OPERATIONS_TABLES,
)


def find_table(name: str) -> TableSpec:
    """A table by qualified name (`silver.orders`, `silver/orders`, `quarantine.silver.orders`)."""
    wanted = name.replace("/", ".")
    for spec in ALL_TABLES:
        if spec.qualified_name == wanted:
            return spec
    known = ", ".join(sorted(spec.qualified_name for spec in ALL_TABLES))
    raise KeyError(f"unknown table {name!r}; known tables: {known}")
