"""Freshness checks on every gold asset, and the sensor that evaluates them.

Partitioned gold tables must have yesterday's partition by 09:00 UTC; unpartitioned ones must
have been rebuilt within the last 26 hours. A stale table shows as a failing (WARN) check.
"""

import datetime as dt
from collections.abc import Sequence

import dagster as dg

DEADLINE_CRON = "0 9 * * *"
TIMEZONE = "UTC"
MAX_AGE = dt.timedelta(hours=26)


def freshness_checks(gold: Sequence[dg.AssetsDefinition]) -> list[dg.AssetChecksDefinition]:
    """A deadline check on each partitioned gold asset, an age check on each unpartitioned one."""
    partitioned = [asset for asset in gold if asset.partitions_def is not None]
    unpartitioned = [asset for asset in gold if asset.partitions_def is None]
    return [
        *dg.build_time_partition_freshness_checks(
            assets=partitioned, deadline_cron=DEADLINE_CRON, timezone=TIMEZONE
        ),
        *dg.build_last_update_freshness_checks(
            assets=unpartitioned, lower_bound_delta=MAX_AGE, timezone=TIMEZONE
        ),
    ]


def freshness_sensor(checks: Sequence[dg.AssetChecksDefinition]) -> dg.SensorDefinition:
    return dg.build_sensor_for_freshness_checks(
        freshness_checks=checks,
        name="gold_freshness",
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
