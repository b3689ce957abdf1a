"""Dagster wrappers, by layer: thin assets that read inputs, call transforms, publish."""
