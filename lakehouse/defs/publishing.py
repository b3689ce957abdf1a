"""What every asset shares: its Dagster attributes from the table spec, and the metadata of
what it published."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from lakehouse.partitions import SINGLE_RUN, Partitioning
from lakehouse.storage import PublishedPartition
from lakehouse.table_spec import TableSpec


def asset_key(spec: TableSpec) -> dg.AssetKey:
    """The asset of a table: its path below the lake root, so the key follows the declaration."""
    return dg.AssetKey(list(spec.path))


def asset_attributes(
    spec: TableSpec,
    partitioning: Partitioning,
    *,
    kinds: set[str],
    checks: Sequence[dg.AssetCheckSpec] = (),
    automation: dg.AutomationCondition | None = None,
) -> dict[str, Any]:
    """Group, owners, tags, description, partitioning, checks and automation of an asset."""
    tags = {"layer": spec.layer, "domain": spec.domain}
    if spec.pii:
        tags["pii"] = "true"
    attributes: dict[str, Any] = {
        "key": asset_key(spec),
        "group_name": spec.layer,
        # Concurrency pool: the instance limits how many steps of one layer run at a time.
        "pool": spec.layer,
        "owners": [spec.owner],
        "tags": tags,
        "kinds": kinds | {"parquet"},
        "description": spec.description,
        "metadata": {"dagster/column_schema": table_schema(spec), **lineage_metadata(spec)},
        # Also on unpartitioned assets: a CLI partition range may then cover the whole graph
        # in one run, unpartitioned assets running once in it.
        "backfill_policy": partitioning.backfill_policy if spec.is_partitioned else SINGLE_RUN,
        "check_specs": list(checks),
        "automation_condition": automation,
    }
    if spec.is_partitioned:
        attributes["partitions_def"] = partitioning.daily
    return attributes


def table_schema(spec: TableSpec) -> dg.TableSchema:
    columns = [
        dg.TableColumn(name, str(dtype), description=spec.column_descriptions.get(name))
        for name, dtype in spec.read_schema.items()
    ]
    return dg.TableSchema(columns=columns)


def lineage_metadata(spec: TableSpec) -> dict[str, dg.TableColumnLineage]:
    """`dagster/column_lineage` from the spec's declared lineage (gold tables); none elsewhere."""
    if not spec.lineage:
        return {}
    deps = {
        column: [
            dg.TableColumnDep(asset_key=asset_key(upstream), column_name=name)
            for upstream, name in sources
        ]
        for column, sources in spec.lineage.items()
        if sources
    }
    return {"dagster/column_lineage": dg.TableColumnLineage(deps_by_column=deps)}


def latest_materialization(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None
) -> dg.EventLogRecord | None:
    """The newest materialization record of an asset (of one partition when given)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=key, asset_partitions=[partition] if partition is not None else None
        ),
        limit=1,
    ).records
    return records[0] if records else None


def partition_keys(context: dg.AssetExecutionContext) -> list[str]:
    """The keys this run materializes: one, or a whole range in a single-run backfill."""
    if context.has_partition_key_range or context.has_partition_key:
        return list(context.partition_keys)
    return []


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def published_metadata(
    spec: TableSpec,
    published: Sequence[PublishedPartition],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Rows, bytes, files, path and schema, plus a per-partition table for ranges."""
    rows = sum(item.rows for item in published)
    metadata: dict[str, Any] = {
        "dagster/row_count": rows,
        "rows": rows,
        "bytes": sum(item.bytes for item in published),
        "files": sum(item.files for item in published),
        "path": dg.MetadataValue.path(
            published[0].path if len(published) == 1 else _table_path(published)
        ),
        "dagster/column_schema": table_schema(spec),
        **lineage_metadata(spec),
    }
    keys = [item.partition_key for item in published if item.partition_key]
    if keys:
        metadata["partitions"] = len(keys)
        metadata["partition_range"] = f"{keys[0]}...{keys[-1]}"
    if len(published) > 1:
        lines = ["| partition | rows | files | bytes |", "|---|---:|---:|---:|"]
        lines += [
            f"| {item.partition_key} | {item.rows} | {item.files} | {item.bytes} |"
            for item in published
        ]
        metadata["published_partitions"] = dg.MetadataValue.md("\n".join(lines))
    metadata.update(extra or {})
    return metadata


def record_partition(
    context: dg.AssetExecutionContext,
    spec: TableSpec,
    published: PublishedPartition,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Metadata of one partition of a range run, so each partition shows its own figures."""
    metadata = {
        "dagster/row_count": published.rows,
        "rows": published.rows,
        "bytes": published.bytes,
        "files": published.files,
        "path": dg.MetadataValue.path(published.path),
        "partition_key": published.partition_key,
        **(extra or {}),
    }
    if published.partition_key is not None:
        context.add_asset_metadata(metadata, partition_key=published.partition_key)
    return metadata


def _table_path(published: Sequence[PublishedPartition]) -> str:
    return published[0].path.rsplit("/", 1)[0]
