"""The code location: every asset, check, job, sensor and resource, assembled in one place.

Importing this module (or any module of the package) reads no setting. The settings that shape
the definitions (the first daily partition, the backfill policy, the sensors' interval, the
executor) are read once, by `build_definitions`, when the definitions are built; resources
read theirs through `EnvVar`, when a run or a sensor uses them.

`defs` is the attribute the code location loads (`workspace.yaml`, `pyproject.toml`,
`dagster ... -m lakehouse.definitions`). It is Dagster's lazy entry point (`@dg.definitions`):
the webserver, the daemon and each run worker call it when they load the code, so a changed
setting is picked up on the next reload, as before, and nothing is built by merely importing.
A module-level `Definitions` object would be simpler to read but would read the settings at
import, which is exactly what made the CLI set environment variables before importing.
The CLI and tests call `build_definitions` with the settings they mean.
"""

import dagster as dg

from lakehouse import settings
from lakehouse.defs.automation import automation_sensor
from lakehouse.defs.bronze import bronze_assets
from lakehouse.defs.catalog_refresh import catalog_sensor
from lakehouse.defs.executor import run_executor
from lakehouse.defs.freshness import freshness_checks, freshness_sensor
from lakehouse.defs.gold import gold_assets
from lakehouse.defs.landing_sensors import landing_sensors
from lakehouse.defs.maintenance import maintenance_job, maintenance_schedule
from lakehouse.defs.ml import ml_assets
from lakehouse.defs.resources import build_resources
from lakehouse.defs.schedules import daily_job, daily_schedule
from lakehouse.defs.sensors import quality_alert_sensor
from lakehouse.defs.silver import silver_assets
from lakehouse.partitions import Partitioning


def build_definitions(code: settings.CodeSettings) -> dg.Definitions:
    """The code location built from `code`; the resources from the environment, as `EnvVar`s
    where it sets them."""
    partitioning = Partitioning.from_settings(code)
    bronze = bronze_assets(partitioning)
    gold = gold_assets(partitioning)
    checks = freshness_checks(gold)
    return dg.Definitions(
        assets=[*bronze, *silver_assets(partitioning), *ml_assets, *gold],
        asset_checks=checks,
        jobs=[daily_job, maintenance_job],
        schedules=[daily_schedule, maintenance_schedule],
        sensors=[
            *landing_sensors(bronze, code.sensor_interval_seconds),
            automation_sensor(code.sensor_interval_seconds),
            quality_alert_sensor,
            freshness_sensor(checks),
            catalog_sensor,
        ],
        resources=build_resources(),
        executor=run_executor(code.executor),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The code location, with the settings of the environment it is loaded in."""
    return build_definitions(settings.CodeSettings.from_env())
