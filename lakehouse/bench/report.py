"""Bench results: the JSON record, the markdown table with each target, the scaling chart."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
from importlib import metadata
from pathlib import Path

import psutil

PACKAGES = ("dagster", "duckdb", "polars", "pyarrow", "pandas", "pandera")


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "versions": {name: metadata.version(name) for name in PACKAGES},
    }


def scaling_slopes(points: list[dict]) -> list[dict]:
    """Between consecutive points: how much the time grew for how much the data grew, and the
    time a doubling of the data costs at that rate."""
    slopes = []
    for small, large in zip(points, points[1:], strict=False):
        data = large["events"] / small["events"]
        time = large["run_s"] / small["run_s"]
        slopes.append(
            {
                "from": small["dataset"],
                "to": large["dataset"],
                "data_factor": data,
                "time_factor": time,
                "time_per_doubling": 2 ** (math.log2(time) / math.log2(data)),
            }
        )
    return slopes


def targets(results: dict) -> list[dict]:
    """Each target of the issue, with the measured figure and whether it is met."""
    engines = results["bronze_ingest"]["engines"]
    graph = results["full_graph"]
    plain = graph["plain_duckdb"]
    backfill = results["backfill"]
    scaling = results["scaling"]
    peaks = [point["peak_rss_mb"] for point in scaling]
    query_p50 = max(q["p50_ms"] for q in results["queries"]["queries"].values())
    query_p95 = max(q["p95_ms"] for q in results["queries"]["queries"].values())
    doubling = max(slope["time_per_doubling"] for slope in results["scaling_slopes"])
    rows = [
        ("bronze ingest / raw DuckDB throughput", engines["duckdb"]["lakehouse_ratio"], ">=", 0.8),
        ("bronze ingest / Polars throughput", engines["polars"]["lakehouse_ratio"], ">", 1.0),
        ("bronze ingest / pandas throughput", engines["pandas"]["lakehouse_ratio"], ">", 1.0),
        ("full graph input rows/s (wall)", graph["input_rows_per_s"], ">=", 1_000_000),
        (
            "full graph time / raw DuckDB ingest time",
            graph["wall_s"] / engines["duckdb"]["seconds"],
            "<=",
            3.0,
        ),
        (
            "whole graph wall time / plain DuckDB baseline",
            graph["wall_s"] / plain["wall_s"],
            "<=",
            0.8,
        ),
        ("peak RSS of the whole graph (MB)", graph["peak_rss_mb"], "<=", 700),
        ("peak RSS of the largest run (MB)", max(peaks), "<=", 1024),
        ("peak RSS largest / smallest run", max(peaks) / min(peaks), "<=", 1.1),
        ("backfill overhead per partition (ms)", backfill["overhead_per_partition_ms"], "<=", 10),
        ("incremental day / full rebuild", results["incremental"]["ratio"], "<=", 0.1),
        (
            "rows through the sessions windows / events",
            graph.get("sessions_windowed_per_event", 0.0),
            "<=",
            1.1,
        ),
        ("gold query p50, slowest query (ms)", query_p50, "<=", 50),
        ("gold query p95, slowest query (ms)", query_p95, "<=", 30),
        ("sensor steady tick (ms)", results["sensor"]["steady_tick_ms"], "<=", 1000),
        ("time factor per doubling of data", doubling, "<=", 2.1),
    ]
    fresh = results.get("freshness")
    if fresh:
        rows += [
            ("freshness p95, landing to gold (s)", fresh["latency_to_gold_p95_s"], "<=", 90),
            (
                "freshness round cost, late / early in the day",
                fresh["round_cost_growth"],
                "<=",
                1.2,
            ),
        ]
    sentiment = results.get("sentiment")
    if sentiment:
        rows += [
            ("sentiment scoring (reviews/s)", sentiment["scoring_reviews_per_s"], ">=", 50_000),
            (
                f"sentiment training peak RSS, {sentiment['reviews']:,} reviews (MB)",
                sentiment["training_peak_rss_mb"],
                "<=",
                1024,
            ),
        ]
    api = results.get("api_load")
    if api:
        rows += [
            (f"API errors, {api['clients']} clients", api["errors"], "<=", 0),
            ("API p95, one day of gold.fact_sales (ms)", api["p95_ms"], "<=", 100),
            ("API server peak RSS (MB)", api["server_peak_rss_mb"], "<=", 1024),
        ]
    compare = {
        ">=": lambda a, b: a >= b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
    }
    return [
        {
            "target": name,
            "measured": value,
            "goal": f"{op} {goal:g}",
            "met": compare[op](value, goal),
        }
        for name, value, op, goal in rows
    ]


def _n(value: float) -> str:
    if value >= 100_000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}" if value < 10 else f"{value:.1f}"


def _duckdb_settings(results: dict) -> str:
    settings = results.get("duckdb", {})
    return ", ".join(f"{name} {value}" for name, value in settings.items()) or "defaults"


def markdown(results: dict) -> str:
    info = results["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in info["versions"].items())
    lines = [
        f"# Benchmark results: size {results['size']}",
        "",
        f"Run {results['started']} on {info['cpus']} CPUs, {info['memory_gb']} GB, "
        f"Python {info['python']} ({versions}).",
        f"DuckDB in every step and baseline: {_duckdb_settings(results)}.",
        "",
        "## Targets",
        "",
        "| target | measured | goal | met |",
        "|---|---:|---|---|",
    ]
    for row in results["targets"]:
        mark = "yes" if row["met"] else "**no**"
        lines.append(f"| {row['target']} | {_n(row['measured'])} | {row['goal']} | {mark} |")
    if not all(row["met"] for row in results["targets"]):
        lines += [
            "",
            "For each goal not met, [FLOORS.md](FLOORS.md) (written by hand) gives the measured "
            "floor, the profile that explains it and the ideas tried.",
        ]

    ingest = results["bronze_ingest"]
    lines += [
        "",
        f"## 1. Bronze ingest of app_events ({ingest['dataset']}, "
        f"{ingest['landing_lines']:,} lines)",
        "",
        "| engine | seconds | rows/s | peak RSS MB | lakehouse ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for engine, row in ingest["engines"].items():
        ratio = row.get("lakehouse_ratio")
        lines.append(
            f"| {engine} | {row['seconds']:.2f} | {_n(row['rows_per_s'])} | "
            f"{row['peak_rss_mb']:.0f} | {'' if ratio is None else f'{ratio:.2f}'} |"
        )
    lines.append(
        "\nEngines' seconds are measured inside the process (no interpreter start-up); "
        "`lakehouse_cli` is the wall time of `dagster asset materialize`, start-up included."
    )

    graph = results["full_graph"]
    lines += [
        "",
        f"## 2. Full graph, bronze to gold, one run ({graph['dataset']})",
        "",
        f"- wall {graph['wall_s']:.1f} s (`lakehouse build`), run {graph['run_s']:.1f} s "
        "(the Dagster run itself)",
        f"- {graph['input_rows']:,} input rows: {_n(graph['input_rows_per_s'])} rows/s wall, "
        f"{_n(graph['input_rows_per_s_in_run'])} rows/s in the run",
        f"- peak RSS of the process tree {graph['peak_rss_mb']:.0f} MB",
        f"- {graph['files_written']:,} files, {graph['bytes_written'] / 2**20:.1f} MB written",
    ]
    lines += _against_plain(graph)

    backfill = results["backfill"]
    lines += [
        "",
        f"## 3. Backfill overhead ({backfill['partitions']} partitions of bronze/orders)",
        "",
        f"- one run of all partitions: {backfill['single_run_s']:.1f} s in process, "
        f"{backfill['cli_single_run_s']:.1f} s through the CLI",
        f"- one-partition run: {backfill['one_partition_run_s']:.2f} s in process, "
        f"{backfill['cli_one_partition_run_s']:.1f} s through the CLI "
        f"(x {backfill['partitions']} = {backfill['cli_runs_per_partition_extrapolated_s']:.0f} s "
        "as separate runs)",
        f"- per partition in the single run: {backfill['per_partition_ms']:.1f} ms, of which "
        f"{backfill['work_per_partition_ms']:.1f} ms is the ingest itself and "
        f"{backfill['overhead_per_partition_ms']:.1f} ms framework overhead",
    ]

    inc = results["incremental"]
    lines += [
        "",
        f"## 4. Incremental day ({inc['dataset']} + 1 day)",
        "",
        f"- initial build {inc['initial_build_s']:.1f} s; "
        f"one new day {inc['incremental_s']:.1f} s; "
        f"full rebuild {inc['full_rebuild_s']:.1f} s; ratio {inc['ratio']:.2f}",
    ]

    queries = results["queries"]
    lines += [
        "",
        f"## 5. Gold queries ({queries['dataset']}, {queries['repetitions']} repetitions)",
        "",
        "| query | rows | cold ms | p50 ms | p95 ms | p50 after | p95 after |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    after = queries.get("queries_after_maintenance", {})
    for name, row in queries["queries"].items():
        later = after.get(name, {})
        lines.append(
            f"| {name} | {row['rows']} | {row['cold_ms']:.1f} | {row['p50_ms']:.1f} | "
            f"{row['p95_ms']:.1f} | {later.get('p50_ms', float('nan')):.1f} | "
            f"{later.get('p95_ms', float('nan')):.1f} |"
        )
    if "maintenance_s" in queries:
        lines += [
            "",
            f'"after": once `lakehouse maintain compact cluster` ran '
            f"({queries['maintenance_s']:.1f} s) on the same lake.",
        ]

    sensor = results["sensor"]
    lines += [
        "",
        f"## 6. Landing sensor over {sensor['files']:,} files",
        "",
        f"- first tick {sensor['first_tick_ms']:.0f} ms; {sensor['ticks_until_all_known']} ticks "
        f"({sensor['catch_up_ms']:.0f} ms) until every file is known; steady tick "
        f"{sensor['steady_tick_ms']:.0f} ms (runs still pending)",
    ]

    lines += [
        "",
        "## 7. Scaling (full graph)",
        "",
        "| dataset | events | run s | wall s | peak RSS MB |",
        "|---|---:|---:|---:|---:|",
    ]
    for point in results["scaling"]:
        lines.append(
            f"| {point['dataset']} | {point['events']:,} | {point['run_s']:.1f} | "
            f"{point['wall_s']:.1f} | {point['peak_rss_mb']:.0f} |"
        )
    lines.append("")
    for slope in results["scaling_slopes"]:
        lines.append(
            f"- {slope['from']} → {slope['to']}: data x{slope['data_factor']:.1f}, "
            f"time x{slope['time_factor']:.2f} ({slope['time_per_doubling']:.2f} per doubling)"
        )
    lines.append(f"\n![scaling]({results['chart']})" if results.get("chart") else "")
    fresh = results.get("freshness")
    if fresh:
        rounds = fresh["round_seconds"]
        lines += [
            "",
            "## 8. Freshness: today's files under `lakehouse build --watch`",
            "",
            f"- {fresh['files']} files of {fresh['events_per_file']:,} events, one every "
            f"{fresh['spacing_s']:g} s; a round every {fresh['interval_s']:g} s, files settle "
            f"{fresh['settle_s']:g} s",
            f"- landing to silver: p50 {fresh['latency_to_silver_p50_s']:.1f} s, p95 "
            f"{fresh['latency_to_silver_p95_s']:.1f} s; to `gold.event_metrics_hourly`: p50 "
            f"{fresh['latency_to_gold_p50_s']:.1f} s, p95 {fresh['latency_to_gold_p95_s']:.1f} s",
            f"- {len(rounds)} rounds with new files: "
            + ", ".join(f"{seconds:.1f}" for seconds in rounds)
            + f" s (late / early in the day: {fresh['round_cost_growth']:.2f})",
            "- the bronze step of each round (the micro-batch append): "
            + ", ".join(f"{seconds:.1f}" for seconds in fresh.get("bronze_batch_seconds", []))
            + f" s (late / early: {fresh.get('bronze_batch_cost_growth', 0.0):.2f}); the rest "
            "of a round recomputes today's silver, sessions and gold whole",
        ]
    sentiment = results.get("sentiment")
    if sentiment:
        lines += [
            "",
            "## 9. Review sentiment: training and batch scoring",
            "",
            f"- training on {sentiment['reviews']:,} generated reviews: "
            f"{sentiment['training_s']:.1f} s, peak RSS {sentiment['training_peak_rss_mb']:.0f} MB "
            "(a child process: imports included)",
            f"- scoring reviews of 200-400 characters: "
            f"{sentiment['scoring_reviews_per_s']:,.0f} reviews/s on "
            f"{sentiment['reviews']:,} reviews (`lakehouse/ml/bench.py`)",
        ]
    api = results.get("api_load")
    if api:
        lines += [
            "",
            f"## 10. The API under load ({api['clients']} clients, {api['seconds']:.0f} s)",
            "",
            f"- each client reads a page of 1,000 rows of gold.fact_sales for {api['day']} "
            "as an analyst (PII masking on), in a loop",
            f"- {api['requests']:,} requests ({api['requests_per_s']:,.0f}/s), "
            f"{api['errors']} errors; latency p50 {api['p50_ms']:.0f} ms, "
            f"p95 {api['p95_ms']:.0f} ms, p99 {api['p99_ms']:.0f} ms",
            f"- server RSS {api['server_idle_rss_mb']:.0f} MB idle, "
            f"{api['server_peak_rss_mb']:.0f} MB at its peak (`lakehouse/bench/api_load.py`)",
        ]
        if "server_cpu_share" in api:
            lines.append(
                f"- {api.get('server_workers', 1)} server process(es), clients in "
                f"{api.get('client_processes', 1)} processes; "
                f"{api['cache_hits']:,} answers from the page cache; CPU of the "
                f"{api['cpus']} cores: server {api['server_cpu_share']:.0%}, clients "
                f"{api['client_cpu_share']:.0%}, anything else {api['other_cpu_share']:.0%}"
            )
    return "\n".join(lines) + "\n"


def _against_plain(graph: dict) -> list[str]:
    """Section 2's comparison with the same tables built by plain DuckDB SQL."""
    plain = graph["plain_duckdb"]
    lines = [
        "",
        "### The same 14 tables in plain DuckDB SQL",
        "",
        "`lakehouse/bench/plain_duckdb.py`: one DuckDB process, one statement per table "
        "(typed reads, our rules as WHERE predicates, QUALIFY dedup, window sessions, SCD2 with "
        "lead(), `COPY ... PARTITION_BY`), the same threads and memory limit; no quarantine, "
        "audit, Delta log or atomic publish.",
        "",
        "| tool | wall s | peak RSS MB |",
        "|---|---:|---:|",
        f"| lakehouse build | {graph['wall_s']:.1f} | {graph['peak_rss_mb']:.0f} |",
        f"| plain DuckDB | {plain['wall_s']:.1f} | {plain['peak_rss_mb']:.0f} |",
        "",
        f"Rows per table ({'all equal' if plain['rows_equal'] else '**not all equal**'}):",
        "",
        "| table | lakehouse | plain DuckDB | equal |",
        "|---|---:|---:|---|",
    ]
    for table, rows in plain["rows"].items():
        theirs = rows["plain_duckdb"]
        same = "yes" if theirs == rows["lakehouse"] else "**no**"
        shown = "missing" if theirs is None else f"{theirs:,}"
        lines.append(f"| {table} | {rows['lakehouse']:,} | {shown} | {same} |")
    return lines


def plot_scaling(points: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    events = [point["events"] / 1e6 for point in points]
    fig, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(10, 4))
    time_axis.plot(events, [point["run_s"] for point in points], "o-", label="Dagster run")
    time_axis.plot(events, [point["wall_s"] for point in points], "s--", label="lakehouse build")
    time_axis.set(xlabel="events (millions)", ylabel="seconds", title="Full graph time")
    time_axis.legend()
    memory_axis.plot(events, [point["peak_rss_mb"] for point in points], "o-", color="C2")
    memory_axis.axhline(1024, color="grey", linestyle=":", label="1 GB target")
    memory_axis.set(xlabel="events (millions)", ylabel="MB", title="Peak RSS of the process tree")
    memory_axis.set_ylim(bottom=0)
    memory_axis.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_outputs(results: dict, out: Path) -> dict[str, Path]:
    """`results/<time>-<size>.json`, the chart, and RESULTS.md (the latest run)."""
    stamp = dt.datetime.fromisoformat(results["started"]).strftime("%Y%m%dT%H%M%SZ")
    chart = plot_scaling(results["scaling"], out / f"scaling-{results['size']}.png")
    results["chart"] = chart.name
    record = out / "results" / f"{stamp}-{results['size']}.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(results, indent=2) + "\n")
    summary = out / "RESULTS.md"
    summary.write_text(markdown(results))
    return {"json": record, "markdown": summary, "chart": chart}
