"""Freshness checks on every gold asset, and the sensor that evaluates them.

Partitioned gold tables must have yesterday's partition by 09:00 UTC; unpartitioned ones must
have been rebuilt within the last 26 hours. A stale table shows as a failing (WARN) check.

Today is a partition too (its landing files arrive in micro-batches), so Dagster's
`build_time_partition_freshness_checks`, which expects the newest partition, would call a lake
stale every morning that today has not landed yet. The deadline check here expects the last
*whole* day instead; today's partial partition is never required. It records the metadata keys
Dagster's freshness sensor reads, so `build_sensor_for_freshness_checks` schedules it as it
schedules its own.
"""

import datetime as dt
from collections.abc import Iterator, Sequence

import dagster as dg

from lakehouse.defs.publishing import latest_materialization

DEADLINE = dt.time(9, 0)
DEADLINE_CRON = "0 9 * * *"
TIMEZONE = "UTC"
MAX_AGE = dt.timedelta(hours=26)
#: The metadata keys Dagster's freshness sensor reads from a check and its evaluations.
PARAMS_KEY = "dagster/freshness_params"
FRESH_UNTIL_KEY = "dagster/fresh_until_timestamp"
LATEST_DEADLINE_KEY = "dagster/latest_cron_tick_timestamp"
LAST_UPDATED_KEY = "dagster/last_updated_timestamp"
PARAMS = dg.MetadataValue.json({"timezone": TIMEZONE, "deadline_cron": DEADLINE_CRON})


def latest_deadline(now: dt.datetime) -> dt.datetime:
    """The most recent 09:00 UTC at or before `now`."""
    today = dt.datetime.combine(now.astimezone(dt.UTC).date(), DEADLINE, tzinfo=dt.UTC)
    return today if now >= today else today - dt.timedelta(days=1)


def expected_partition(now: dt.datetime) -> str:
    """The day whose partition must exist by the latest deadline: the day before it."""
    return (latest_deadline(now).date() - dt.timedelta(days=1)).isoformat()


def partition_deadline_checks(keys: Sequence[dg.AssetKey]) -> dg.AssetChecksDefinition:
    """One check per partitioned asset: the last whole day's partition exists by 09:00 UTC."""

    @dg.multi_asset_check(
        name="partition_freshness",
        specs=[
            dg.AssetCheckSpec(
                "freshness_check",
                asset=key,
                metadata={PARAMS_KEY: PARAMS},
                description="Yesterday's partition exists by 09:00 UTC (today's may be partial "
                "or missing).",
            )
            for key in keys
        ],
        can_subset=True,
    )
    def _check(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
        now = dt.datetime.now(dt.UTC)
        deadline = latest_deadline(now)
        partition = expected_partition(now)
        for check_key in context.selected_asset_check_keys:
            record = latest_materialization(context.instance, check_key.asset_key, partition)
            metadata = {
                PARAMS_KEY: PARAMS,
                LATEST_DEADLINE_KEY: dg.MetadataValue.timestamp(deadline.timestamp()),
                "expected_partition": partition,
            }
            if record is not None:
                next_deadline = deadline + dt.timedelta(days=1)
                metadata[FRESH_UNTIL_KEY] = dg.MetadataValue.timestamp(next_deadline.timestamp())
                description = f"Partition {partition} arrived before the deadline."
            else:
                latest = latest_materialization(context.instance, check_key.asset_key, None)
                if latest is not None:
                    metadata[LAST_UPDATED_KEY] = dg.MetadataValue.timestamp(latest.timestamp)
                description = (
                    f"Partition {partition} is overdue: expected by {deadline:%Y-%m-%d %H:%M} UTC."
                )
            yield dg.AssetCheckResult(
                asset_key=check_key.asset_key,
                passed=record is not None,
                severity=dg.AssetCheckSeverity.WARN,
                description=description,
                metadata=metadata,
            )

    return _check


def freshness_checks(gold: Sequence[dg.AssetsDefinition]) -> list[dg.AssetChecksDefinition]:
    """A deadline check on each partitioned gold asset, an age check on each unpartitioned one."""
    partitioned = [asset.key for asset in gold if asset.partitions_def is not None]
    unpartitioned = [asset for asset in gold if asset.partitions_def is None]
    return [
        partition_deadline_checks(partitioned),
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
