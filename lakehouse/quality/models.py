"""Pandera models: one per silver and gold table (its declaration in `lakehouse.tables` names
it), and a contract model per landing source. Nothing here imports the table declarations.

Column types, nullability and key uniqueness are the *schema*: a partition that breaks them is
never published (ERROR). Ranges, allowed values and cross-column rules are the *rules*: a
partition that breaks them is published and the failure recorded (WARN). Rows that break a
row-level rule were already moved to quarantine by the transforms, so these models audit what
is about to be published.
"""

from __future__ import annotations

import datetime as dt

import pandera.polars as pa
import polars as pl

from lakehouse.landing.contract import (
    DEVICES,
    EVENT_TYPES,
    ORDER_STATUSES,
    REVIEW_LANGUAGES,
    SEGMENTS,
    SOURCES,
    SourceContract,
)
from lakehouse.money import MONEY, RATE
from lakehouse.reference import USD_PER_UNIT
from lakehouse.transforms.pii import has_pii

UTC_TS = pl.Datetime(time_unit="us", time_zone="UTC")
#: Clock skew allowed before an event time counts as "in the future".
FUTURE_TOLERANCE = dt.timedelta(minutes=5)


def _not_in_future(column: str) -> pl.Expr:
    limit = dt.datetime.now(dt.UTC) + FUTURE_TOLERANCE
    return pl.col(column).is_null() | (pl.col(column) <= pl.lit(limit).cast(UTC_TS))


def _amount_matches() -> pl.Expr:
    """Money is exact: amount is quantity x unit price to the cent, with no tolerance."""
    return pl.col("amount") == pl.col("quantity") * pl.col("unit_price")


class Strict(pa.DataFrameModel):
    class Config:
        strict = True
        coerce = False


# -- landing contracts (typed bronze rows) --------------------------------------------------


def contract_schema(source: SourceContract) -> pa.DataFrameSchema:
    """The pandera contract of a landing source, derived from its declaration so the two cannot
    disagree: each field has its declared type; every value may be NULL (null keys are a silver
    rule, with a reason in quarantine)."""
    return pa.DataFrameSchema(
        {name: pa.Column(dtype, nullable=True) for name, dtype in source.bronze_schema.items()},
        name=f"{source.name} contract",
        strict=True,
        coerce=False,
    )


# -- silver ------------------------------------------------------------------------------------


class SilverAppEvents(Strict):
    event_id: pl.String = pa.Field(unique=True)
    user_id: pl.String
    event_type: pl.String = pa.Field(isin=list(EVENT_TYPES))
    event_ts: UTC_TS
    device: pl.String = pa.Field(isin=list(DEVICES), nullable=True)
    app_version: pl.String = pa.Field(nullable=True)
    latency_ms: pl.Int64 = pa.Field(ge=0, le=600_000, nullable=True)
    properties: pl.String = pa.Field(nullable=True)
    arrival_date: pl.Date
    is_late: pl.Boolean
    source_file: pl.String = pa.Field(alias="_source_file")
    source_line: pl.Int64 = pa.Field(alias="_source_line", ge=1)

    @pa.dataframe_check(name="event_ts_not_in_future")
    def event_ts_not_in_future(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(_not_in_future("event_ts"))

    @pa.dataframe_check(name="arrives_after_event")
    def arrives_after_event(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("event_ts").dt.date() <= pl.col("arrival_date"))


class SilverReviews(Strict):
    review_id: pl.String = pa.Field(unique=True)
    product_id: pl.String
    customer_id: pl.String
    rating: pl.Int64 = pa.Field(ge=1, le=5)
    title: pl.String = pa.Field(nullable=True)
    body: pl.String
    language: pl.String = pa.Field(isin=list(REVIEW_LANGUAGES))
    created_at: UTC_TS
    arrival_date: pl.Date
    pii_redacted: pl.Boolean
    source_file: pl.String = pa.Field(alias="_source_file")
    source_line: pl.Int64 = pa.Field(alias="_source_line", ge=1)

    @pa.dataframe_check(name="created_at_not_in_future")
    def created_at_not_in_future(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(_not_in_future("created_at"))

    @pa.dataframe_check(name="no_email_or_phone_left")
    def no_email_or_phone_left(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(~has_pii(pl.col("body")) & ~has_pii(pl.col("title")))


class SilverOrders(Strict):
    order_id: pl.String = pa.Field(unique=True)
    customer_id: pl.String
    product_id: pl.String
    quantity: pl.Int64 = pa.Field(ge=1)
    unit_price: MONEY = pa.Field(ge=0)
    currency: pl.String = pa.Field(isin=list(USD_PER_UNIT))
    status: pl.String = pa.Field(isin=list(ORDER_STATUSES))
    order_ts: UTC_TS
    updated_at: UTC_TS
    amount: MONEY = pa.Field(ge=0)
    usd_per_unit: RATE = pa.Field(gt=0)
    amount_usd: MONEY = pa.Field(ge=0)
    versions: pl.Int64 = pa.Field(ge=1)
    source_file: pl.String = pa.Field(alias="_source_file")
    source_line: pl.Int64 = pa.Field(alias="_source_line", ge=1)

    @pa.dataframe_check(name="amount_is_quantity_times_price")
    def amount_is_quantity_times_price(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(_amount_matches())

    @pa.dataframe_check(name="updated_after_order")
    def updated_after_order(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("updated_at") >= pl.col("order_ts"))

    @pa.dataframe_check(name="order_ts_not_in_future")
    def order_ts_not_in_future(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(_not_in_future("order_ts"))


class SilverCustomers(Strict):
    customer_id: pl.String = pa.Field(unique=True)
    email: pl.String = pa.Field(nullable=True, str_contains="@")
    name: pl.String = pa.Field(nullable=True)
    country: pl.String = pa.Field(nullable=True, str_length={"min_value": 2, "max_value": 2})
    segment: pl.String = pa.Field(nullable=True, isin=list(SEGMENTS))
    created_at: UTC_TS
    updated_at: UTC_TS
    versions: pl.Int64 = pa.Field(ge=1)

    @pa.dataframe_check(name="updated_after_created")
    def updated_after_created(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("updated_at") >= pl.col("created_at"))


class SilverProducts(Strict):
    product_id: pl.String = pa.Field(unique=True)
    name: pl.String = pa.Field(nullable=True)
    category: pl.String = pa.Field(nullable=True)
    list_price: MONEY = pa.Field(ge=0)
    currency: pl.String = pa.Field(nullable=True, isin=list(USD_PER_UNIT))
    active: pl.Boolean = pa.Field(nullable=True)
    snapshot_date: pl.Date


class SilverSessions(Strict):
    session_id: pl.String = pa.Field(unique=True)
    user_id: pl.String
    session_start: UTC_TS
    session_end: UTC_TS
    duration_s: pl.Float64 = pa.Field(ge=0, le=7 * 24 * 3600)
    events: pl.Int64 = pa.Field(ge=1)
    converted: pl.Boolean
    device: pl.String = pa.Field(nullable=True)

    @pa.dataframe_check(name="ends_after_start")
    def ends_after_start(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("session_end") >= pl.col("session_start"))


# -- gold --------------------------------------------------------------------------------------


class GoldFactSales(Strict):
    order_id: pl.String = pa.Field(unique=True)
    order_ts: UTC_TS
    customer_id: pl.String
    customer_sk: pl.Int64
    product_id: pl.String
    product_category: pl.String
    quantity: pl.Int64 = pa.Field(ge=1)
    unit_price: MONEY = pa.Field(ge=0)
    currency: pl.String = pa.Field(isin=list(USD_PER_UNIT))
    amount: MONEY = pa.Field(ge=0)
    amount_usd: MONEY = pa.Field(ge=0)
    status: pl.String = pa.Field(isin=list(ORDER_STATUSES))
    is_revenue: pl.Boolean

    @pa.dataframe_check(name="amount_is_quantity_times_price")
    def amount_is_quantity_times_price(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(_amount_matches())


class GoldDimCustomer(Strict):
    customer_sk: pl.Int64 = pa.Field(unique=True)
    customer_id: pl.String
    email: pl.String = pa.Field(nullable=True)
    name: pl.String = pa.Field(nullable=True)
    country: pl.String = pa.Field(nullable=True)
    segment: pl.String = pa.Field(nullable=True, isin=list(SEGMENTS))
    valid_from: UTC_TS
    valid_to: UTC_TS = pa.Field(nullable=True)
    is_current: pl.Boolean
    is_deleted: pl.Boolean

    @pa.dataframe_check(name="valid_to_after_valid_from")
    def valid_to_after_valid_from(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.col("valid_to").is_null() | (pl.col("valid_to") > pl.col("valid_from"))
        )

    @pa.dataframe_check(name="one_current_version")
    def one_current_version(cls, data) -> pl.LazyFrame:
        current = pl.col("is_current").cast(pl.Int64).sum().over("customer_id")
        return data.lazyframe.select(current <= 1)


class GoldDailySummary(Strict):
    revenue_usd: MONEY = pa.Field(ge=0)
    orders: pl.Int64 = pa.Field(ge=0)
    revenue_orders: pl.Int64 = pa.Field(ge=0)
    avg_order_value_usd: MONEY = pa.Field(ge=0, nullable=True)
    active_users: pl.Int64 = pa.Field(ge=0)
    sessions: pl.Int64 = pa.Field(ge=0)
    converted_sessions: pl.Int64 = pa.Field(ge=0)
    conversion_rate: pl.Float64 = pa.Field(ge=0, le=1, nullable=True)
    new_customers: pl.Int64 = pa.Field(ge=0)
    reviews: pl.Int64 = pa.Field(ge=0, nullable=True)
    mean_sentiment: pl.Float64 = pa.Field(ge=0, le=1, nullable=True)
    share_negative_reviews: pl.Float64 = pa.Field(ge=0, le=1, nullable=True)
    is_complete: pl.Boolean
    as_of: UTC_TS

    @pa.dataframe_check(name="revenue_orders_within_orders")
    def revenue_orders_within_orders(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("revenue_orders") <= pl.col("orders"))


SENTIMENT_LABELS = ("negative", "neutral", "positive")


class GoldReviewSentiment(Strict):
    review_id: pl.String = pa.Field(unique=True)
    product_id: pl.String
    customer_id: pl.String
    rating: pl.Int64 = pa.Field(ge=1, le=5)
    sentiment_score: pl.Float64 = pa.Field(ge=0, le=1)
    sentiment_label: pl.String = pa.Field(isin=list(SENTIMENT_LABELS))
    model_version: pl.String


class GoldProductSentimentDaily(Strict):
    product_id: pl.String = pa.Field(unique=True)
    reviews: pl.Int64 = pa.Field(ge=1)
    mean_sentiment: pl.Float64 = pa.Field(ge=0, le=1)
    share_negative: pl.Float64 = pa.Field(ge=0, le=1)
    mean_rating: pl.Float64 = pa.Field(ge=1, le=5)
    model_version: pl.String


class GoldEventMetricsHourly(Strict):
    hour: UTC_TS
    event_type: pl.String = pa.Field(isin=list(EVENT_TYPES))
    events: pl.Int64 = pa.Field(ge=1)
    users: pl.Int64 = pa.Field(ge=1)
    hour_events: pl.Int64 = pa.Field(ge=1)
    hour_errors: pl.Int64 = pa.Field(ge=0)
    error_rate: pl.Float64 = pa.Field(ge=0, le=1)
    latency_p50_ms: pl.Float64 = pa.Field(ge=0, nullable=True)
    latency_p95_ms: pl.Float64 = pa.Field(ge=0, nullable=True)

    class Config:
        strict = True
        coerce = False
        unique = ["hour", "event_type"]

    @pa.dataframe_check(name="p50_not_above_p95")
    def p50_not_above_p95(cls, data) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.col("latency_p50_ms").is_null()
            | (pl.col("latency_p50_ms") <= pl.col("latency_p95_ms"))
        )


class GoldUserSegments(Strict):
    user_id: pl.String = pa.Field(unique=True)
    as_of_date: pl.Date
    recency_days: pl.Int64 = pa.Field(ge=0, nullable=True)
    frequency: pl.Int64 = pa.Field(ge=0)
    monetary_usd: MONEY = pa.Field(ge=0)
    events_30d: pl.Int64 = pa.Field(ge=0)
    sessions_30d: pl.Int64 = pa.Field(ge=0)
    engagement_score: pl.Float64 = pa.Field(ge=0, le=100)
    churn_risk: pl.Boolean
    segment: pl.String = pa.Field(isin=["at_risk", "champion", "loyal", "customer", "browser"])


#: Landing contracts, by source name. Bronze rows are checked against them.
CONTRACTS: dict[str, pa.DataFrameSchema] = {
    name: contract_schema(source) for name, source in SOURCES.items()
}
