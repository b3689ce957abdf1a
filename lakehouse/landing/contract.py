"""The landing contract: which files each source drops, in which format, with which fields.

`landing/<source>/<YYYY-MM-DD>/<file>`: the date folder is the arrival date and the bronze
partition key. Values allowed by the business rules (event types, statuses, currencies) live here
too, so the generator, the transforms and the quality rules share one definition.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

import polars as pl

from lakehouse.money import MONEY

EVENT_TYPES = ("page_view", "search", "add_to_cart", "purchase", "login", "logout", "error")
DEVICES = ("ios", "android", "web")
ORDER_STATUSES = ("placed", "paid", "shipped", "cancelled", "refunded")
#: Statuses whose orders count as revenue.
REVENUE_STATUSES = ("paid", "shipped")
CDC_OPS = ("c", "u", "d")
SEGMENTS = ("consumer", "smb", "enterprise")

# Field kinds and how each is typed in bronze. A DECIMAL is money as it landed: the text read
# exactly as DECIMAL(18,2) (19.99 is 19.99, never a float near it); a value with sub-cent digits
# does not fit and is rejected with its line, never rounded.
STRING, INTEGER, DECIMAL, TIMESTAMP, BOOLEAN, JSON = (
    "string",
    "integer",
    "decimal",
    "timestamp",
    "boolean",
    "json",
)
DUCKDB_TYPES = {
    STRING: "VARCHAR",
    INTEGER: "BIGINT",
    DECIMAL: "DECIMAL(18, 2)",
    TIMESTAMP: "TIMESTAMPTZ",
    BOOLEAN: "BOOLEAN",
    JSON: "JSON",
}
POLARS_TYPES: dict[str, pl.DataType] = {
    STRING: pl.String(),
    INTEGER: pl.Int64(),
    DECIMAL: MONEY,
    TIMESTAMP: pl.Datetime("us", "UTC"),
    BOOLEAN: pl.Boolean(),
    JSON: pl.String(),
}


@dataclass(frozen=True)
class Field:
    """A contract field. An optional CSV column may be absent from a file's header: the file
    still loads (the column is NULL) and bronze records the drift."""

    name: str
    kind: str
    optional: bool = False


@dataclass(frozen=True)
class SourceContract:
    """One landing source: `landing/<name>/<arrival date>/<file matching a pattern>`."""

    name: str
    format: str  # "jsonl" or "csv"
    patterns: tuple[str, ...]
    fields: tuple[Field, ...]
    bronze_table: str
    #: The timestamp field whose UTC date is a row's silver partition (its event day); None
    #: when silver is not partitioned by it.
    event_time: str | None = None

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(field.name for field in self.fields)

    def matches(self, file_name: str) -> bool:
        return any(fnmatch.fnmatchcase(file_name, pattern) for pattern in self.patterns)

    @property
    def bronze_schema(self) -> dict[str, pl.DataType]:
        return {field.name: POLARS_TYPES[field.kind] for field in self.fields}


APP_EVENTS = SourceContract(
    name="app_events",
    format="jsonl",
    patterns=("events-*.jsonl.gz", "events-*.jsonl"),
    fields=(
        Field("event_id", STRING),
        Field("user_id", STRING),
        Field("event_type", STRING),
        Field("event_ts", TIMESTAMP),
        Field("device", STRING),
        Field("app_version", STRING),
        Field("latency_ms", INTEGER),
        Field("properties", JSON),
    ),
    bronze_table="app_events",
    event_time="event_ts",
)

ORDERS = SourceContract(
    name="orders",
    format="csv",
    patterns=("orders-*.csv",),
    fields=(
        Field("order_id", STRING),
        Field("customer_id", STRING),
        Field("product_id", STRING),
        Field("quantity", INTEGER),
        Field("unit_price", DECIMAL),
        Field("currency", STRING),
        Field("status", STRING),
        Field("order_ts", TIMESTAMP),
        Field("updated_at", TIMESTAMP),
    ),
    bronze_table="orders",
    event_time="order_ts",
)

CUSTOMERS = SourceContract(
    name="customers",
    format="jsonl",
    patterns=("cdc-*.jsonl", "cdc-*.jsonl.gz"),
    fields=(
        Field("op", STRING),
        Field("customer_id", STRING),
        Field("email", STRING),
        Field("name", STRING),
        Field("country", STRING),
        Field("segment", STRING),
        Field("updated_at", TIMESTAMP),
    ),
    bronze_table="customers_cdc",
)

PRODUCTS = SourceContract(
    name="products",
    format="csv",
    patterns=("products.csv",),
    fields=(
        Field("product_id", STRING),
        Field("name", STRING),
        Field("category", STRING, optional=True),
        Field("list_price", DECIMAL),
        Field("currency", STRING),
        Field("active", BOOLEAN, optional=True),
    ),
    bronze_table="products",
)

REVIEWS = SourceContract(
    name="reviews",
    format="jsonl",
    patterns=("reviews-*.jsonl", "reviews-*.jsonl.gz"),
    fields=(
        Field("review_id", STRING),
        Field("product_id", STRING),
        Field("customer_id", STRING),
        Field("rating", INTEGER),
        Field("title", STRING),
        Field("body", STRING),
        Field("language", STRING),
        Field("created_at", TIMESTAMP),
    ),
    bronze_table="reviews",
    event_time="created_at",
)
#: ISO 639-1 codes of the languages reviews are written in.
REVIEW_LANGUAGES = ("en", "es", "de", "fr", "it", "pt", "nl")

SOURCES: dict[str, SourceContract] = {
    source.name: source for source in (APP_EVENTS, ORDERS, CUSTOMERS, PRODUCTS, REVIEWS)
}
