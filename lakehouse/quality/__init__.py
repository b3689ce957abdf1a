"""Data quality: pandera models, check evaluation, history, alerts and profiling."""
