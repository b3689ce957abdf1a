"""The code location: every asset and resource, assembled in one place."""

import dagster as dg

from lakehouse.defs.automation import automation_sensor
from lakehouse.defs.bronze import BRONZE_ASSETS
from lakehouse.defs.catalog_refresh import catalog_sensor
from lakehouse.defs.executor import run_executor
from lakehouse.defs.freshness import GOLD_FRESHNESS_CHECKS, freshness_sensor
from lakehouse.defs.gold import GOLD_ASSETS
from lakehouse.defs.landing_sensors import LANDING_SENSORS
from lakehouse.defs.maintenance import maintenance_job, maintenance_schedule
from lakehouse.defs.resources import build_resources
from lakehouse.defs.schedules import daily_job, daily_schedule
from lakehouse.defs.sensors import quality_alert_sensor
from lakehouse.defs.silver import SILVER_ASSETS


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[*BRONZE_ASSETS, *SILVER_ASSETS, *GOLD_ASSETS],
        asset_checks=GOLD_FRESHNESS_CHECKS,
        jobs=[daily_job, maintenance_job],
        schedules=[daily_schedule, maintenance_schedule],
        sensors=[
            *LANDING_SENSORS,
            automation_sensor(),
            quality_alert_sensor,
            freshness_sensor,
            catalog_sensor,
        ],
        resources=build_resources(),
        executor=run_executor(),
    )
