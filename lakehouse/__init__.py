"""lakehouse: a medallion data lake of Dagster assets writing hive-partitioned Parquet."""

import warnings

# Dagster features we rely on by design are marked beta or preview: single-run backfills,
# mappings over days not yet in the partition set, and per-partition asset checks (so each
# partition shows its own check results). Say so here once, not on every asset.
warnings.filterwarnings(
    "ignore",
    message=r"Parameter `(backfill_policy|allow_nonexistent_upstream_partitions)`",
)
warnings.filterwarnings(
    "ignore", message=r"Specifying a partitions_def on an AssetCheckSpec is currently in preview"
)
# Freshness *checks* (with their sensor) are superseded by FreshnessPolicy but still supported;
# we use them because they show as failing checks and can be evaluated in tests.
warnings.filterwarnings("ignore", message=r"Function `build_\w+freshness_checks` is superseded")

# Blocked steps sleep until their next claim instead of spinning (see the module).
from lakehouse.runs import claim_backoff  # noqa: E402

claim_backoff.install()
