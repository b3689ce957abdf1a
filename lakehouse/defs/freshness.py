"""Freshness checks on every gold asset, and the sensor that evaluates them.

Partitioned gold tables must have yesterday's partition by 09:00 UTC; unpartitioned ones must
have been rebuilt within the last 26 hours. A stale table shows as a failing (WARN) check.
"""

import datetime as dt

import dagster as dg

from lakehouse.defs.gold import (
    daily_summary,
    dim_customer,
    event_metrics,
    fact_sales,
    user_segments_asset,
)

DEADLINE_CRON = "0 9 * * *"
TIMEZONE = "UTC"
MAX_AGE = dt.timedelta(hours=26)

GOLD_FRESHNESS_CHECKS = [
    *dg.build_time_partition_freshness_checks(
        assets=[fact_sales, daily_summary, event_metrics],
        deadline_cron=DEADLINE_CRON,
        timezone=TIMEZONE,
    ),
    *dg.build_last_update_freshness_checks(
        assets=[dim_customer, user_segments_asset],
        lower_bound_delta=MAX_AGE,
        timezone=TIMEZONE,
    ),
]

freshness_sensor = dg.build_sensor_for_freshness_checks(
    freshness_checks=GOLD_FRESHNESS_CHECKS,
    name="gold_freshness",
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
