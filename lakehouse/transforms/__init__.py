"""Pure transforms: Polars LazyFrames in, LazyFrames out; no Dagster, no I/O."""
