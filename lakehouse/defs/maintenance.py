"""Lake maintenance as a Dagster job on a weekly schedule, and the glue the CLI shares with it:
Dagster forgets retired partitions, and the catalog is rebuilt after changes."""

import datetime as dt
from collections.abc import Callable, Sequence

import dagster as dg

from lakehouse import settings, tables
from lakehouse.defs.catalog_refresh import refresh_catalog
from lakehouse.defs.publishing import asset_key
from lakehouse.defs.resources import LakeResource
from lakehouse.maintenance.actions import Action
from lakehouse.maintenance.cleanup import GRACE
from lakehouse.maintenance.compaction import TARGET_FILE_BYTES
from lakehouse.maintenance.run import OPERATIONS, maintain
from lakehouse.table_spec import TableSpec

ASSET_TABLES = {spec.qualified_name for spec in tables.BRONZE_TABLES + tables.SILVER_TABLES}
ASSET_TABLES |= {spec.qualified_name for spec in tables.GOLD_TABLES}


def forget_in(instance: dg.DagsterInstance) -> Callable[[TableSpec, Sequence[str]], None]:
    """Report retired partitions as gone, so the UI and automation see them missing, not
    materialized. SQLite and Postgres event logs cannot wipe single partitions: there the asset's
    event history is wiped and each kept partition is reported materialized again (runless,
    with `restored_after_retention` metadata); the lake's maintenance history keeps the record."""

    def forget(spec: TableSpec, keys: Sequence[str]) -> None:
        if spec.qualified_name not in ASSET_TABLES or not keys:
            return
        asset = asset_key(spec)
        try:
            instance.wipe_asset_partitions(asset, list(keys))
            return
        except NotImplementedError:
            pass
        kept = sorted(instance.get_materialized_partitions(asset) - set(keys))
        instance.wipe_assets([asset])
        for partition in kept:
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    asset, partition=partition, metadata={"restored_after_retention": True}
                )
            )

    return forget


def mark_restored(
    instance: dg.DagsterInstance, spec: TableSpec, partitions: Sequence[str], version: int
) -> bool:
    """Report a restore's changed partitions as materialized anew (runless, with the version
    restored), so assets built from them show as stale and automation rebuilds them. False
    for a table that is not an asset (quarantine, quality history)."""
    if spec.qualified_name not in ASSET_TABLES:
        return False
    asset = asset_key(spec)
    for partition in partitions:  # "" for an unpartitioned table
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset,
                partition=partition or None,
                metadata={"restored_to_version": version},
            )
        )
    return True


def run_maintenance(
    layout: settings.DataLayout,
    instance: dg.DagsterInstance | None,
    operations: Sequence[str] = OPERATIONS,
    *,
    dry_run: bool = False,
    grace: dt.timedelta = GRACE,
    target_bytes: int = TARGET_FILE_BYTES,
    log: Callable[[str], None] = print,
) -> list[Action]:
    store = settings.lake_store(layout)
    actions = maintain(
        store,
        operations,
        dry_run=dry_run,
        grace=grace,
        target_bytes=target_bytes,
        forget=forget_in(instance) if instance is not None else None,
        log=log,
    )
    if actions and not dry_run:
        refresh_catalog(layout, instance)
    return actions


class MaintenanceConfig(dg.Config):
    operations: list[str] = list(OPERATIONS)
    dry_run: bool = False
    grace_days: float = GRACE.days
    target_file_mb: int = TARGET_FILE_BYTES // 2**20


@dg.op(
    description="Retention, compaction, clustering and vacuum of the lake, audited.",
    out=dg.Out(dg.Nothing),
)
def maintain_lake(
    context: dg.OpExecutionContext,
    config: MaintenanceConfig,
    lake: LakeResource,
):
    actions = run_maintenance(
        lake.layout,
        context.instance,
        config.operations,
        dry_run=config.dry_run,
        grace=dt.timedelta(days=config.grace_days),
        target_bytes=config.target_file_mb * 2**20,
        log=context.log.info,
    )
    summary = {
        operation: sum(1 for action in actions if action.operation == operation)
        for operation in config.operations
    }
    yield dg.Output(None, metadata={"dry_run": config.dry_run, "actions": len(actions), **summary})


@dg.job(name="lake_maintenance", description="Weekly lake maintenance (see lakehouse maintain).")
def maintenance_job() -> None:
    maintain_lake()


maintenance_schedule = dg.ScheduleDefinition(
    name="lake_maintenance_weekly",
    job=maintenance_job,
    cron_schedule="0 4 * * 0",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Sundays at 04:00 UTC: retention, compaction, clustering, vacuum.",
)
