"""Asset keys, each declared once from its table spec and reused by assets, checks, sensors."""

from __future__ import annotations

import dagster as dg

from lakehouse import tables
from lakehouse.storage import TableSpec


def key_of(spec: TableSpec) -> dg.AssetKey:
    return dg.AssetKey(list(spec.path))


BRONZE_APP_EVENTS = key_of(tables.BRONZE_APP_EVENTS)
BRONZE_ORDERS = key_of(tables.BRONZE_ORDERS)
BRONZE_CUSTOMERS_CDC = key_of(tables.BRONZE_CUSTOMERS_CDC)
BRONZE_PRODUCTS = key_of(tables.BRONZE_PRODUCTS)
SILVER_APP_EVENTS = key_of(tables.SILVER_APP_EVENTS)
SILVER_ORDERS = key_of(tables.SILVER_ORDERS)
SILVER_CUSTOMERS = key_of(tables.SILVER_CUSTOMERS)
SILVER_PRODUCTS = key_of(tables.SILVER_PRODUCTS)
SILVER_SESSIONS = key_of(tables.SILVER_SESSIONS)
GOLD_FACT_SALES = key_of(tables.GOLD_FACT_SALES)
GOLD_DIM_CUSTOMER = key_of(tables.GOLD_DIM_CUSTOMER)
GOLD_DAILY_SUMMARY = key_of(tables.GOLD_DAILY_SUMMARY)
GOLD_EVENT_METRICS_HOURLY = key_of(tables.GOLD_EVENT_METRICS_HOURLY)
GOLD_USER_SEGMENTS = key_of(tables.GOLD_USER_SEGMENTS)
