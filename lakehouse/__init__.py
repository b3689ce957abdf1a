"""lakehouse: a medallion data lake of Dagster assets writing hive-partitioned Parquet."""

import warnings

# Two Dagster parameters we rely on by design are marked beta; say so once, not per asset.
warnings.filterwarnings(
    "ignore",
    message=r"Parameter `(backfill_policy|allow_nonexistent_upstream_partitions)`",
)
