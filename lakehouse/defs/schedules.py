"""The daily schedule: yesterday's partition of every asset, in one run, early each morning.

Landing sensors bring data in as it arrives; this schedule is the safety net that builds the
whole graph for the day that just ended (unpartitioned tables are rebuilt in the same run).
"""

import datetime as dt

import dagster as dg

daily_job = dg.define_asset_job(
    name="daily_lakehouse",
    selection=dg.AssetSelection.all(),
    description="Every asset for one day: bronze to gold.",
)


@dg.schedule(
    name="daily_lakehouse_schedule",
    cron_schedule="30 2 * * *",
    execution_timezone="UTC",
    job=daily_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="At 02:30 UTC, materialize yesterday's partition of every asset.",
)
def daily_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    yesterday = (context.scheduled_execution_time.date() - dt.timedelta(days=1)).isoformat()
    return dg.RunRequest(run_key=f"daily:{yesterday}", partition_key=yesterday)
