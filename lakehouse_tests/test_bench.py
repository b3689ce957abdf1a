"""A smoke run of the benchmark harness at its tiny size: it runs end to end and reports
every measurement. Its figures are not checked against targets; `make bench` is the benchmark."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from lakehouse.bench.sizes import SIZES

SECTIONS = (
    "bronze_ingest",
    "full_graph",
    "backfill",
    "incremental",
    "queries",
    "sensor",
    "freshness",
    "sentiment",
    "api_load",
)


def test_the_bench_harness_measures_everything_at_the_smoke_size(tmp_path: Path) -> None:
    size = SIZES["XS"]
    completed = subprocess.run(
        [
            str(Path(sys.executable).with_name("lakehouse")),
            "bench",
            "--size",
            "XS",
            "--work",
            str(tmp_path / "work"),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    (record,) = (tmp_path / "out" / "results").glob("*-XS.json")
    results = json.loads(record.read_text())
    assert all(section in results for section in SECTIONS)

    ingest = results["bronze_ingest"]
    engines = ingest["engines"]
    assert set(engines) == {"duckdb", "polars", "pandas", "lakehouse_materialize", "lakehouse_cli"}
    ours = engines["lakehouse_materialize"]
    # Every landing line is either in bronze or in its quarantine. DuckDB's ignore_errors keeps
    # a malformed line as a row of NULLs; the Polars and pandas scripts drop it.
    assert ours["rows_written"] + ours["quarantined"] == ingest["landing_lines"]
    assert engines["duckdb"]["rows_written"] == ingest["landing_lines"]
    for engine in ("polars", "pandas"):
        assert 0 < engines[engine]["rows_written"] < ingest["landing_lines"]
    assert all(engines[engine]["lakehouse_ratio"] > 0 for engine in ("duckdb", "polars", "pandas"))

    graph = results["full_graph"]
    assert graph["events"] == size.main.events and graph["files_written"] > 20
    assert 0 < graph["run_s"] < graph["wall_s"] and graph["peak_rss_mb"] > 50
    # The same tables in plain DuckDB SQL, on the same landing files, with our row counts.
    plain = graph["plain_duckdb"]
    assert len(plain["rows"]) == 14 and plain["rows_equal"], plain["rows"]
    assert 0 < plain["seconds"] < plain["wall_s"] and plain["peak_rss_mb"] > 20
    assert [point["events"] for point in results["scaling"]] == [d.events for d in size.scaling]
    assert len(results["scaling_slopes"]) == len(size.scaling) - 1

    backfill = results["backfill"]
    assert backfill["partitions"] == size.backfill_partitions
    assert backfill["single_run_s"] > 0 and backfill["one_partition_run_s"] > 0
    assert backfill["cli_runs_per_partition_extrapolated_s"] > backfill["cli_single_run_s"]

    assert results["incremental"]["incremental_s"] > 0
    queries = results["queries"]["queries"]
    assert len(queries) == 5 and all(q["rows"] > 0 and q["p95_ms"] > 0 for q in queries.values())
    after = results["queries"]["queries_after_maintenance"]
    assert {name: q["rows"] for name, q in after.items()} == {
        name: q["rows"] for name, q in queries.items()
    }, "compaction and clustering change no query result"
    assert results["sensor"]["files"] == size.sensor_files
    assert results["sensor"]["ticks_until_all_known"] >= 1

    fresh = results["freshness"]
    assert fresh["files"] == size.freshness.files and fresh["round_seconds"]
    assert 0 < fresh["latency_to_silver_p50_s"] <= fresh["latency_to_gold_p50_s"]
    assert fresh["latency_to_gold_p50_s"] <= fresh["latency_to_gold_p95_s"]

    sentiment = results["sentiment"]
    assert sentiment["reviews"] == size.sentiment_reviews
    assert sentiment["training_s"] > 0 and sentiment["training_peak_rss_mb"] > 100
    assert sentiment["scoring_reviews_per_s"] > 0
    api = results["api_load"]
    assert api["clients"] == size.api_clients and api["requests"] > api["clients"]
    assert api["errors"] == 0, api["first_errors"]
    assert 0 < api["p50_ms"] <= api["p95_ms"] and api["server_peak_rss_mb"] > 50
    assert 0 < api["client_cpu_share"] < 1 and 0 < api["server_cpu_share"] < 1
    assert 0 < api["cache_hits"] < api["requests"]  # the first reads of the page missed

    # Sessions read each event about once, plus the day after the range.
    assert 1.0 <= results["full_graph"]["sessions_windowed_per_event"] <= 1.6
    assert len(results["targets"]) == 23  # three for the API under load
    assert all(isinstance(target["met"], bool) for target in results["targets"])
    markdown = (tmp_path / "out" / "RESULTS.md").read_text()
    assert "| bronze ingest / raw DuckDB throughput |" in markdown
    assert "| whole graph wall time / plain DuckDB baseline |" in markdown
    assert "### The same 14 tables in plain DuckDB SQL" in markdown
    assert "## 7. Scaling" in markdown and "## 8. Freshness" in markdown
    assert "## 9. Review sentiment" in markdown
    assert "## 10. The API under load" in markdown
    assert (tmp_path / "out" / "scaling-XS.png").read_bytes().startswith(b"\x89PNG")
    assert "## Targets" in completed.stdout
