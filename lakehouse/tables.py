"""Every lake table, declared once: layer, columns, partitioning, owner, tags, description, the
pandera model that audits it, its pass threshold, its retention and its column lineage.

Assets, checks, the store, the catalog, maintenance and the quality reports read these specs
(never a registry keyed by table name), so a column or a rule added here is added everywhere.
Partition columns are typed DATE and come from the folder name. Money columns are `MONEY`
(DECIMAL(18,2)) and rates `RATE` (DECIMAL(18,6)): see `lakehouse.money`. Lineage names the
upstream spec objects, so gold tables are declared after what they read.
"""

from __future__ import annotations

import polars as pl

from lakehouse.landing.contract import (
    APP_EVENTS,
    CUSTOMERS,
    ORDERS,
    PRODUCTS,
    REVIEWS,
    SourceContract,
)
from lakehouse.money import MONEY, RATE
from lakehouse.quality.models import (
    GoldDailySummary,
    GoldDimCustomer,
    GoldEventMetricsHourly,
    GoldFactSales,
    GoldProductSentimentDaily,
    GoldReviewSentiment,
    GoldUserSegments,
    SilverAppEvents,
    SilverCustomers,
    SilverOrders,
    SilverProducts,
    SilverReviews,
    SilverSessions,
)
from lakehouse.table_spec import ColumnLineage, Mask, TableSpec

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

#: Days of partitions kept, by layer: what each layer is for decides how long it is kept.
BRONZE_DAYS = 90
SILVER_DAYS = 2 * 365
GOLD_DAYS = 5 * 365
QUARANTINE_DAYS = 30
QUALITY_DAYS = 365
OPERATIONS_DAYS = 365

#: The masks of the PII columns, by column name: a customer's contact details and free text.
CONTACT_MASKS = {"email": Mask.EMAIL, "name": Mask.NAME}
TEXT_MASKS = {"title": Mask.TEXT, "body": Mask.TEXT, "_raw": Mask.TEXT, "_extra": Mask.TEXT}


def _masks(schema, masks: dict[str, Mask]) -> dict[str, Mask]:
    """The masks of those columns the schema has."""
    return {column: mask for column, mask in masks.items() if column in schema}


def _same(upstream: TableSpec, *columns: str) -> ColumnLineage:
    """Lineage of columns copied unchanged from `upstream`."""
    return {column: ((upstream, column),) for column in columns}


def _bronze(contract: SourceContract, description: str, domain: str, pii: bool) -> TableSpec:
    schema = {**contract.bronze_schema, "_extra": pl.String(), **LINEAGE, "_ingested_at": UTC_TS}
    return TableSpec(
        layer="bronze",
        name=contract.bronze_table,
        schema=schema,
        masks=_masks(schema, {**CONTACT_MASKS, **TEXT_MASKS}) if pii else {},
        partition_column="arrival_date",
        retention_days=BRONZE_DAYS,
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
BRONZE_REVIEWS = _bronze(
    REVIEWS,
    "Product reviews as they landed, typed, by arrival date; their text may hold contact details.",
    "reviews",
    pii=True,
)
BRONZE_TABLES = (
    BRONZE_APP_EVENTS,
    BRONZE_ORDERS,
    BRONZE_CUSTOMERS_CDC,
    BRONZE_PRODUCTS,
    BRONZE_REVIEWS,
)

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
    model=SilverAppEvents,
    pass_threshold=0.97,
    retention_days=SILVER_DAYS,
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
    model=SilverOrders,
    retention_days=SILVER_DAYS,
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
    masks=CONTACT_MASKS,
    model=SilverCustomers,
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
    model=SilverProducts,
)
SILVER_REVIEWS = TableSpec(
    layer="silver",
    name="reviews",
    schema={
        "review_id": pl.String(),
        "product_id": pl.String(),
        "customer_id": pl.String(),
        "rating": pl.Int64(),
        "title": pl.String(),
        "body": pl.String(),
        "language": pl.String(),
        "created_at": UTC_TS,
        "arrival_date": pl.Date(),
        "pii_redacted": pl.Boolean(),
        **LINEAGE,
    },
    partition_column="review_date",
    description="Reviews deduplicated by review_id, by UTC review date; e-mail addresses and "
    "phone numbers in title and body replaced by [email] and [phone] (pii_redacted marks them); "
    "reviews of products not in silver.products quarantined.",
    owner=ENGINEERING,
    domain="reviews",
    sort_by=("product_id", "created_at"),
    column_descriptions={
        "body": "Free text written by the customer, contact details redacted.",
        "pii_redacted": "True when an e-mail address or phone number was removed from the text.",
    },
    model=SilverReviews,
    retention_days=SILVER_DAYS,
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
    model=SilverSessions,
    retention_days=SILVER_DAYS,
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
    masks=CONTACT_MASKS,
    model=GoldDimCustomer,
    lineage={
        "customer_sk": (
            (BRONZE_CUSTOMERS_CDC, "customer_id"),
            (BRONZE_CUSTOMERS_CDC, "updated_at"),
        ),
        **_same(BRONZE_CUSTOMERS_CDC, "customer_id", "email", "name", "country", "segment"),
        "valid_from": ((BRONZE_CUSTOMERS_CDC, "updated_at"),),
        "valid_to": ((BRONZE_CUSTOMERS_CDC, "updated_at"),),
        "is_current": ((BRONZE_CUSTOMERS_CDC, "updated_at"), (BRONZE_CUSTOMERS_CDC, "op")),
        "is_deleted": ((BRONZE_CUSTOMERS_CDC, "op"),),
    },
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
    model=GoldFactSales,
    pass_threshold=0.97,
    retention_days=GOLD_DAYS,
    lineage={
        **_same(SILVER_ORDERS, "order_id", "order_ts", "customer_id", "product_id", "quantity"),
        **_same(SILVER_ORDERS, "unit_price", "currency", "amount", "amount_usd", "status"),
        "customer_sk": (
            (GOLD_DIM_CUSTOMER, "customer_sk"),
            (GOLD_DIM_CUSTOMER, "valid_from"),
            (SILVER_ORDERS, "order_ts"),
        ),
        "product_category": ((SILVER_PRODUCTS, "category"),),
        "is_revenue": ((SILVER_ORDERS, "status"),),
    },
)
GOLD_REVIEW_SENTIMENT = TableSpec(
    layer="gold",
    name="review_sentiment",
    schema={
        "review_id": pl.String(),
        "product_id": pl.String(),
        "customer_id": pl.String(),
        "rating": pl.Int64(),
        "sentiment_score": pl.Float64(),
        "sentiment_label": pl.String(),
        "model_version": pl.String(),
    },
    partition_column="review_date",
    description="Each review's sentiment: sentiment_score is the probability that it is positive "
    "(0-1) by the promoted model named in model_version; sentiment_label positive, neutral or "
    "negative. A retrained model rescoring old days is a backfill of this table.",
    owner=ANALYTICS,
    domain="reviews",
    sort_by=("product_id",),
    model=GoldReviewSentiment,
    retention_days=GOLD_DAYS,
    lineage={
        **_same(SILVER_REVIEWS, "review_id", "product_id", "customer_id", "rating"),
        "sentiment_score": ((SILVER_REVIEWS, "title"), (SILVER_REVIEWS, "body")),
        "sentiment_label": ((SILVER_REVIEWS, "title"), (SILVER_REVIEWS, "body")),
        # The promoted model's version: from the model registry, not from a column.
        "model_version": (),
    },
)
GOLD_PRODUCT_SENTIMENT_DAILY = TableSpec(
    layer="gold",
    name="product_sentiment_daily",
    schema={
        "product_id": pl.String(),
        "reviews": pl.Int64(),
        "mean_sentiment": pl.Float64(),
        "share_negative": pl.Float64(),
        "mean_rating": pl.Float64(),
        "model_version": pl.String(),
    },
    partition_column="review_date",
    description="Per product and review day: reviews, mean sentiment score, share of negative "
    "reviews and mean rating (model_version: the newest model among the day's scores).",
    owner=ANALYTICS,
    domain="reviews",
    sort_by=("product_id",),
    model=GoldProductSentimentDaily,
    retention_days=GOLD_DAYS,
    lineage={
        "product_id": ((GOLD_REVIEW_SENTIMENT, "product_id"),),
        "reviews": ((GOLD_REVIEW_SENTIMENT, "review_id"),),
        "mean_sentiment": ((GOLD_REVIEW_SENTIMENT, "sentiment_score"),),
        "share_negative": ((GOLD_REVIEW_SENTIMENT, "sentiment_label"),),
        "mean_rating": ((GOLD_REVIEW_SENTIMENT, "rating"),),
        "model_version": ((GOLD_REVIEW_SENTIMENT, "model_version"),),
    },
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
        "reviews": pl.Int64(),
        "mean_sentiment": pl.Float64(),
        "share_negative_reviews": pl.Float64(),
        "is_complete": pl.Boolean(),
        "as_of": UTC_TS,
    },
    partition_column="summary_date",
    description="One row per day: revenue, orders, average order value, users, conversion and "
    "review sentiment. A day's figures are final once is_complete: the day and its "
    "late-arrival window are over; before that (today's row above all) they are as of as_of.",
    owner=ANALYTICS,
    domain="sales",
    model=GoldDailySummary,
    retention_days=GOLD_DAYS,
    lineage={
        "revenue_usd": ((GOLD_FACT_SALES, "amount_usd"), (GOLD_FACT_SALES, "is_revenue")),
        "orders": ((GOLD_FACT_SALES, "order_id"),),
        "revenue_orders": ((GOLD_FACT_SALES, "is_revenue"),),
        "avg_order_value_usd": ((GOLD_FACT_SALES, "amount_usd"), (GOLD_FACT_SALES, "is_revenue")),
        "active_users": ((SILVER_APP_EVENTS, "user_id"),),
        "sessions": ((SILVER_SESSIONS, "session_id"),),
        "converted_sessions": ((SILVER_SESSIONS, "converted"),),
        "conversion_rate": ((SILVER_SESSIONS, "converted"), (SILVER_SESSIONS, "session_id")),
        "new_customers": ((GOLD_DIM_CUSTOMER, "customer_id"), (GOLD_DIM_CUSTOMER, "valid_from")),
        "reviews": ((GOLD_REVIEW_SENTIMENT, "review_id"),),
        "mean_sentiment": ((GOLD_REVIEW_SENTIMENT, "sentiment_score"),),
        "share_negative_reviews": ((GOLD_REVIEW_SENTIMENT, "sentiment_label"),),
        # From the clock of the run, not from a column.
        "is_complete": (),
        "as_of": (),
    },
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
    model=GoldEventMetricsHourly,
    retention_days=GOLD_DAYS,
    lineage={
        "hour": ((SILVER_APP_EVENTS, "event_ts"),),
        "event_type": ((SILVER_APP_EVENTS, "event_type"),),
        "events": ((SILVER_APP_EVENTS, "event_id"),),
        "users": ((SILVER_APP_EVENTS, "user_id"),),
        "hour_events": ((SILVER_APP_EVENTS, "event_ts"),),
        "hour_errors": ((SILVER_APP_EVENTS, "event_ts"), (SILVER_APP_EVENTS, "event_type")),
        "error_rate": ((SILVER_APP_EVENTS, "event_ts"), (SILVER_APP_EVENTS, "event_type")),
        "latency_p50_ms": ((SILVER_APP_EVENTS, "latency_ms"),),
        "latency_p95_ms": ((SILVER_APP_EVENTS, "latency_ms"),),
    },
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
    model=GoldUserSegments,
    lineage={
        "user_id": ((SILVER_SESSIONS, "user_id"), (GOLD_FACT_SALES, "customer_id")),
        "as_of_date": ((SILVER_SESSIONS, "session_start"),),
        "recency_days": ((GOLD_FACT_SALES, "order_ts"), (SILVER_SESSIONS, "session_start")),
        "frequency": ((GOLD_FACT_SALES, "order_id"), (GOLD_FACT_SALES, "is_revenue")),
        "monetary_usd": ((GOLD_FACT_SALES, "amount_usd"), (GOLD_FACT_SALES, "is_revenue")),
        "events_30d": ((SILVER_SESSIONS, "events"), (SILVER_SESSIONS, "session_start")),
        "sessions_30d": ((SILVER_SESSIONS, "session_start"),),
        "engagement_score": ((SILVER_SESSIONS, "events"), (SILVER_SESSIONS, "session_start")),
        "churn_risk": (
            (SILVER_SESSIONS, "session_start"),
            (GOLD_FACT_SALES, "order_ts"),
            (GOLD_FACT_SALES, "is_revenue"),
        ),
        "segment": (
            (SILVER_SESSIONS, "session_start"),
            (GOLD_FACT_SALES, "order_ts"),
            (GOLD_FACT_SALES, "is_revenue"),
        ),
    },
)

SILVER_TABLES = (
    SILVER_APP_EVENTS,
    SILVER_ORDERS,
    SILVER_CUSTOMERS,
    SILVER_PRODUCTS,
    SILVER_SESSIONS,
    SILVER_REVIEWS,
)
GOLD_TABLES = (
    GOLD_FACT_SALES,
    GOLD_DIM_CUSTOMER,
    GOLD_DAILY_SUMMARY,
    GOLD_EVENT_METRICS_HOURLY,
    GOLD_USER_SEGMENTS,
    GOLD_REVIEW_SENTIMENT,
    GOLD_PRODUCT_SENTIMENT_DAILY,
)


def quarantine_of(spec: TableSpec, row_schema: dict[str, pl.DataType]) -> TableSpec:
    """The quarantine table of `spec`: the rejected rows' columns plus why they were rejected."""
    return TableSpec(
        layer=f"quarantine/{spec.layer}",
        name=spec.name,
        schema={**row_schema, **QUARANTINE_REASON},
        partition_column=spec.partition_column,
        retention_days=QUARANTINE_DAYS if spec.is_partitioned else None,
        description=f"Rows rejected while building {spec.qualified_name}, with the reason.",
        owner=spec.owner,
        domain=spec.domain,
        pii=spec.pii,
        masks=_masks(row_schema, {**spec.masks, "_raw": Mask.TEXT}) if spec.pii else {},
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
SILVER_REVIEWS_QUARANTINE = quarantine_of(
    SILVER_REVIEWS, {**BRONZE_REVIEWS.schema, "arrival_date": pl.Date()}
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
    retention_days=QUALITY_DAYS,
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
    retention_days=QUALITY_DAYS,
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
    retention_days=OPERATIONS_DAYS,
    description="Every maintenance action (compact, cluster, retention, vacuum): what it "
    "changed, files and bytes before and after, and when.",
    owner="team:data-platform",
    domain="operations",
)

GOVERNANCE_API_REQUESTS = TableSpec(
    layer="governance",
    name="api_requests",
    schema={
        "requested_at": UTC_TS,
        "token": pl.String(),
        "role": pl.String(),
        "endpoint": pl.String(),
        "target": pl.String(),
        "rows": pl.Int64(),
        "status": pl.Int64(),
        "seconds": pl.Float64(),
    },
    partition_column="request_date",
    retention_days=OPERATIONS_DAYS,
    description="Every API request that read data: when, which token and role, the table or "
    "SQL text, rows returned, HTTP status and duration. Readable by engineers only.",
    owner="team:data-platform",
    domain="governance",
    column_descriptions={"target": "The table read, or the SQL text run."},
)

ML_SENTIMENT_MODELS = TableSpec(
    layer="ml",
    name="sentiment_models",
    schema={
        "model_version": pl.String(),
        "trained_at": UTC_TS,
        "run_id": pl.String(),
        "training_rows": pl.Int64(),
        "holdout_rows": pl.Int64(),
        "trained_from": pl.Date(),
        "holdout_from": pl.Date(),
        "holdout_to": pl.Date(),
        "accuracy": pl.Float64(),
        "f1": pl.Float64(),
        "roc_auc": pl.Float64(),
        "vader_accuracy": pl.Float64(),
        "vader_f1": pl.Float64(),
        "vader_roc_auc": pl.Float64(),
        "promoted": pl.Boolean(),
        "reason": pl.String(),
    },
    description="The sentiment model registry: every training of ml/sentiment_model with its "
    "holdout metrics beside the VADER lexicon's, and whether it was promoted (the newest "
    "promoted version is the one scoring uses).",
    owner=ANALYTICS,
    domain="reviews",
)

QUARANTINE_TABLES = (
    *BRONZE_QUARANTINE.values(),
    SILVER_APP_EVENTS_QUARANTINE,
    SILVER_ORDERS_QUARANTINE,
    SILVER_CUSTOMERS_QUARANTINE,
    SILVER_PRODUCTS_QUARANTINE,
    SILVER_REVIEWS_QUARANTINE,
    GOLD_FACT_SALES_QUARANTINE,
)
QUALITY_TABLES = (QUALITY_CHECK_RESULTS, QUALITY_ALERTS)
OPERATIONS_TABLES = (MAINTENANCE_HISTORY,)
GOVERNANCE_TABLES = (GOVERNANCE_API_REQUESTS,)
ML_TABLES = (ML_SENTIMENT_MODELS,)
#: Every table a user may query, in catalog order.
ALL_TABLES = (
    *BRONZE_TABLES,
    *SILVER_TABLES,
    *GOLD_TABLES,
    *QUARANTINE_TABLES,
    *QUALITY_TABLES,
    *OPERATIONS_TABLES,
    *ML_TABLES,
    *GOVERNANCE_TABLES,
)


def find_table(name: str) -> TableSpec:
    """A table by qualified name (`silver.orders`, `silver/orders`, `quarantine.silver.orders`)."""
    wanted = name.replace("/", ".")
    for spec in ALL_TABLES:
        if spec.qualified_name == wanted:
            return spec
    known = ", ".join(sorted(spec.qualified_name for spec in ALL_TABLES))
    raise KeyError(f"unknown table {name!r}; known tables: {known}")
