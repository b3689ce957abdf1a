"""Lake Parquet files: frames checked against a table's contract, Arrow schemas, footer stats.

What the store writes is what the audit read: a frame is refused unless it has exactly the
table's columns (cast strictly) and only rows of its partition; Arrow batches from DuckDB must
carry the table's columns in order. Footer statistics go into the Delta log for other engines.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse.storage.paths import InvalidPartitionKey, validate_day_key
from lakehouse.table_spec import TableSpec

PARQUET_SUFFIX = ".parquet"
#: Rows per row group: large enough for scan throughput, small enough for min/max pruning.
ROW_GROUP_ROWS = 122_880


class SchemaMismatch(ValueError):
    """A frame whose columns do not match the table's contract."""


def footer_stats(metadata: pq.FileMetaData) -> dict[str, object]:
    """Null counts, minima and maxima of a file's columns from its footer: Delta readers
    (Spark, DuckDB, Polars) skip files with them."""
    nulls: dict[str, int] = {}
    minima: dict[str, object] = {}
    maxima: dict[str, object] = {}
    for index in range(metadata.num_columns):
        name = metadata.schema.column(index).name
        count = 0
        low = high = None
        complete = True
        for group in range(metadata.num_row_groups):
            stats = metadata.row_group(group).column(index).statistics
            if stats is None or not stats.has_null_count:
                complete = False
                break
            count += stats.null_count
            if stats.has_min_max:
                low = stats.min if low is None else min(low, stats.min)
                high = stats.max if high is None else max(high, stats.max)
        if not complete:
            continue
        nulls[name] = count
        if low is not None and isinstance(low, (int, float, str)) and not isinstance(low, bool):
            minima[name], maxima[name] = low, high
    return {"minValues": minima, "maxValues": maxima, "nullCount": nulls}


def to_arrow(batch: pl.DataFrame | pa.RecordBatch | pa.Table) -> pa.Table:
    if isinstance(batch, pl.DataFrame):
        return batch.to_arrow()
    if isinstance(batch, pa.RecordBatch):
        return pa.Table.from_batches([batch])
    return batch


def conform_batch(
    spec: TableSpec, key: str | None, part: pl.DataFrame | pa.RecordBatch
) -> pl.DataFrame | pa.RecordBatch:
    """Frames are checked against the contract; Arrow batches (from DuckDB over staged files
    of this same table) must carry exactly the table's columns."""
    if isinstance(part, pl.DataFrame):
        return conform(spec, key, part).collect()
    if part.schema.names != list(spec.schema):
        raise SchemaMismatch(
            f"{spec.qualified_name}: batch columns {part.schema.names} are not the table's "
            f"columns {list(spec.schema)}"
        )
    return part


def table_arrow_schema(spec: TableSpec) -> pa.Schema:
    return arrow_schema(spec.polars_schema)


def arrow_schema(schema: pl.Schema) -> pa.Schema:
    """The Arrow schema Polars writes for `schema`."""
    return pl.DataFrame(schema=schema).to_arrow().schema


def conform(spec: TableSpec, key: str | None, data: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Check the frame against the contract and order its columns; never silently drop data."""
    frame = data.lazy()
    columns = frame.collect_schema()
    if spec.partition_column is not None:
        validate_day_key(key)
    expected = set(spec.schema)
    present = set(columns)
    partition_column = spec.partition_column
    if partition_column is not None and partition_column in present:
        # The folder carries the value; refuse rows that belong to another partition.
        frame = frame.with_columns(pl.col(partition_column).cast(pl.Date()))
        frame = assert_single_partition(frame, partition_column, key, spec)
        present.discard(partition_column)
    missing = sorted(expected - present)
    extra = sorted(present - expected)
    if missing or extra:
        raise SchemaMismatch(
            f"{spec.qualified_name}: frame does not match the table schema "
            f"(missing columns: {missing or 'none'}; unexpected columns: {extra or 'none'})"
        )
    return spec.conform(frame)


def assert_single_partition(
    frame: pl.LazyFrame, column: str, key: str | None, spec: TableSpec
) -> pl.LazyFrame:
    expected = pl.lit(key).str.to_date()
    stray = frame.filter(pl.col(column).is_null() | (pl.col(column) != expected)).select(pl.len())
    count = stray.collect().item()
    if count:
        raise InvalidPartitionKey(
            f"{spec.qualified_name}: {count} rows have {column} other than {key} "
            "(NULL partition values are never written)"
        )
    return frame
