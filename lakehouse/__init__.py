"""lakehouse: a medallion data lake of Dagster assets writing hive-partitioned Parquet."""
