"""Keep the DuckDB catalog current: rebuilt after every successful run, and on demand."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from lakehouse import settings, tables
from lakehouse.catalog import CatalogBuild, build_catalog
from lakehouse.defs.publishing import asset_key
from lakehouse.defs.resources import LakeResource


def materialized_at(instance: dg.DagsterInstance) -> dict[str, dt.datetime]:
    """When Dagster last recorded a materialization of each table that is an asset."""
    times = {}
    for spec in tables.ALL_TABLES:
        event = instance.get_latest_materialization_event(asset_key(spec))
        if event is not None:
            times[spec.qualified_name] = dt.datetime.fromtimestamp(event.timestamp, dt.UTC)
    return times


def refresh_catalog(
    layout: settings.DataLayout, instance: dg.DagsterInstance | None = None
) -> CatalogBuild:
    materialized = materialized_at(instance) if instance is not None else {}
    return build_catalog(settings.lake_store(layout), layout.catalog_dir, materialized)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="catalog_after_runs",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Rebuilds lake/catalog.duckdb (views, comments, lakehouse.tables) after each "
    "successful run, atomically: readers of the previous file are never disturbed.",
)
def catalog_sensor(context: dg.RunStatusSensorContext, lake: LakeResource) -> dg.SkipReason:
    built = refresh_catalog(lake.layout, context.instance)
    message = f"catalog rebuilt after run {context.dagster_run.run_id}: {built.tables} tables"
    context.log.info(f"{message}, {built.rows:,} rows, {built.seconds:.2f} s")
    return dg.SkipReason(message)
