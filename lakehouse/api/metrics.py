"""`GET /metrics`: the lake's health and the API's traffic in Prometheus' text format.

Lake gauges are computed when scraped (`TableStats`, cached per table version, so a scrape
every 15 s reads only what changed).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from lakehouse.api.stats import TableStats
from lakehouse.table_spec import TableSpec


class ApiMetrics:
    """Requests, errors and latency of the API, by endpoint."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "lakehouse_api_requests",
            "API requests by endpoint, method and status.",
            ["endpoint", "method", "status"],
            registry=registry,
        )
        self.errors = Counter(
            "lakehouse_api_errors",
            "API requests answered with a 4xx or 5xx status, by endpoint and status.",
            ["endpoint", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "lakehouse_api_request_duration_seconds",
            "Time to the response's first byte, by endpoint.",
            ["endpoint"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, method, str(status)).inc()
        if status >= 400:
            self.errors.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)


class LakeCollector:
    """Per table: rows, bytes, files, last commit time and freshness lag."""

    def __init__(self, stats: TableStats, specs: Sequence[TableSpec]) -> None:
        self.stats = stats
        self.specs = specs

    def collect(self):
        labels = ["table", "layer"]
        rows = GaugeMetricFamily(
            "lakehouse_table_rows", "Rows in the table's live files.", labels=labels
        )
        size = GaugeMetricFamily(
            "lakehouse_table_bytes", "Bytes of the table's live Parquet files.", labels=labels
        )
        files = GaugeMetricFamily("lakehouse_table_files", "Live Parquet files.", labels=labels)
        last = GaugeMetricFamily(
            "lakehouse_table_last_materialization_timestamp_seconds",
            "Unix time of the table's last successful commit.",
            labels=labels,
        )
        lag = GaugeMetricFamily(
            "lakehouse_table_freshness_lag_seconds",
            "Seconds since the table's last successful commit.",
            labels=labels,
        )
        now = time.time()
        for spec in self.specs:
            facts = self.stats.of(spec)
            if facts is None:
                continue
            values = [spec.qualified_name, spec.path[0]]
            rows.add_metric(values, facts["rows"])
            size.add_metric(values, facts["bytes"])
            files.add_metric(values, facts["files"])
            if facts["last_materialized"] is not None:
                committed = facts["last_materialized"].timestamp()
                last.add_metric(values, committed)
                lag.add_metric(values, max(0.0, now - committed))
        yield from (rows, size, files, last, lag)
        yield from self.stats.quality_families()
