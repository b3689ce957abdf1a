"""The bench driver: prepares data, runs each measurement in a child process, collects figures.

Landing data is generated once per (days, events per day) under the work folder and reused by
later runs (the generator is deterministic); every lake and Dagster home is built from scratch.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from lakehouse import settings
from lakehouse.bench.baselines import BASELINES
from lakehouse.bench.probe import Measured, measure, python_module
from lakehouse.bench.sizes import BenchSize, Dataset
from lakehouse.landing.contract import SOURCES
from lakehouse.landing.generator import MANIFEST_NAME

DUCKDB_THREADS = 2
DUCKDB_MEMORY_LIMIT = "2GB"
WORKLOADS = "lakehouse.bench.workloads"


def _tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def first_day(days: int) -> dt.date:
    """Data ends the day before yesterday, so every day is already a daily partition."""
    return dt.date.today() - dt.timedelta(days=days + 1)


class Bench:
    def __init__(self, size: BenchSize, work: Path, log: Callable[[str], None] = print) -> None:
        self.size = size
        self.work = work
        self.log = log

    # -- data -------------------------------------------------------------------------------

    def landing(self, dataset: Dataset) -> Path:
        """Generated landing files for `dataset`, reused when already complete."""
        folder = self.work / "landing" / f"{dataset.days}x{dataset.events_per_day}"
        if not (folder / MANIFEST_NAME).exists():
            shutil.rmtree(folder, ignore_errors=True)
            self.log(f"generating {dataset.label}")
            measure(
                [
                    _tool("lakehouse"),
                    "generate",
                    "--landing",
                    str(folder),
                    "--start",
                    first_day(dataset.days).isoformat(),
                    "--days",
                    str(dataset.days),
                    "--events-per-day",
                    str(dataset.events_per_day),
                ]
            )
        return folder

    def fresh_root(self, name: str, landing: Path | None = None) -> Path:
        """An empty data root whose landing folder links to generated files."""
        root = self.work / "roots" / name
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        if landing is not None:
            (root / "landing").symlink_to(landing.resolve(), target_is_directory=True)
        return root

    def env(self, root: Path, first: dt.date) -> dict[str, str]:
        home = settings.ensure_dagster_home(root / "dagster_home")
        return {
            settings.DATA_DIR_ENV: str(root),
            "DAGSTER_HOME": str(home),
            settings.START_DATE_ENV: first.isoformat(),
            settings.DUCKDB_THREADS_ENV: str(DUCKDB_THREADS),
            settings.DUCKDB_MEMORY_LIMIT_ENV: DUCKDB_MEMORY_LIMIT,
        }

    # -- measurements -----------------------------------------------------------------------

    def bronze_ingest(self) -> dict:
        """1. bronze/app_events in-process and through the CLI, against the three baselines."""
        dataset = self.size.main
        landing = self.landing(dataset)
        first = first_day(dataset.days)
        last = first + dt.timedelta(days=dataset.days - 1)
        lines = _manifest(landing)["sources"]["app_events"]["lines"]
        figures: dict[str, dict] = {}
        for engine in BASELINES:
            out = self.fresh_root(f"baseline-{engine}")
            self.log(f"bronze ingest: {engine} baseline")
            run = measure(
                python_module(
                    "lakehouse.bench.baselines",
                    engine,
                    str(landing / "app_events"),
                    str(out / "app_events"),
                    str(DUCKDB_THREADS),
                    DUCKDB_MEMORY_LIMIT,
                )
            )
            figures[engine] = _throughput(run, run.result["seconds"], lines, run.result["rows"])
        self.log("bronze ingest: lakehouse, in-process materialize")
        root = self.fresh_root("bronze-inprocess", landing)
        run = measure(
            python_module(WORKLOADS, "bronze-events", first.isoformat(), last.isoformat()),
            self.env(root, first),
        )
        figures["lakehouse_materialize"] = _throughput(
            run, run.result["seconds"], lines, run.result["rows"]
        )
        figures["lakehouse_materialize"]["quarantined"] = run.result["quarantined"]
        self.log("bronze ingest: lakehouse, dagster CLI")
        root = self.fresh_root("bronze-cli", landing)
        run = measure(
            [
                _tool("dagster"),
                "asset",
                "materialize",
                "-m",
                "lakehouse.definitions",
                "--select",
                "bronze/app_events",
                "--partition-range",
                f"{first}...{last}",
            ],
            self.env(root, first),
        )
        figures["lakehouse_cli"] = _throughput(run, run.wall_s, lines, None)
        inside = figures["lakehouse_materialize"]["rows_per_s"]
        for engine in BASELINES:
            figures[engine]["lakehouse_ratio"] = inside / figures[engine]["rows_per_s"]
        return {"dataset": dataset.label, "landing_lines": lines, "engines": figures}

    def full_graph(self, dataset: Dataset, name: str) -> dict:
        """2 and 7. `lakehouse build`: every asset, every day, one run."""
        landing = self.landing(dataset)
        first = first_day(dataset.days)
        root = self.fresh_root(name, landing)
        self.log(f"full graph: {dataset.label}")
        run = measure([_tool("lakehouse"), "build"], self.env(root, first))
        manifest = _manifest(landing)
        input_rows = sum(
            manifest["sources"][source].get("lines", manifest["sources"][source].get("rows", 0))
            for source in SOURCES
        )
        files, size = _lake_files(root / "lake")
        run_seconds = _run_seconds(root / "dagster_home")
        return {
            "dataset": dataset.label,
            "events": dataset.events,
            "input_rows": input_rows,
            "wall_s": run.wall_s,
            "run_s": run_seconds,
            "input_rows_per_s": input_rows / run.wall_s,
            "input_rows_per_s_in_run": input_rows / run_seconds,
            "peak_rss_mb": run.peak_rss_bytes / 2**20,
            "files_written": files,
            "bytes_written": size,
        }

    def scaling(self, main: dict) -> list[dict]:
        """7. The full graph at each scaling point (the main dataset's figures are reused)."""
        points = []
        for dataset in self.size.scaling:
            if dataset == self.size.main:
                points.append(main)
            else:
                points.append(self.full_graph(dataset, f"scaling-{dataset.events_per_day}"))
        return points

    def backfill(self) -> dict:
        """3. Framework overhead per partition in a single-run backfill of a tiny table."""
        from lakehouse.bench.workloads import write_tiny_orders

        partitions = self.size.backfill_partitions
        first = first_day(partitions)
        last = first + dt.timedelta(days=partitions - 1)
        root = self.fresh_root("backfill")
        days = [(first + dt.timedelta(days=i)).isoformat() for i in range(partitions)]
        write_tiny_orders(root / "landing", days)
        env = self.env(root, first)
        self.log(f"backfill: {partitions} partitions of bronze/orders, in process")
        run = measure(
            python_module(
                WORKLOADS,
                "backfill-overhead",
                first.isoformat(),
                last.isoformat(),
                str(self.size.single_partition_runs),
            ),
            env,
        )
        figures = dict(run.result)
        self.log("backfill: the same through the dagster CLI, one run and single-partition runs")
        cli = [
            _tool("dagster"),
            "asset",
            "materialize",
            "-m",
            "lakehouse.definitions",
            "--select",
            "bronze/orders",
        ]
        single_run = measure([*cli, "--partition-range", f"{first}...{last}"], env)
        singles = [
            measure([*cli, "--partition", day], env).wall_s
            for day in days[: self.size.single_partition_runs]
        ]
        per_run = sorted(singles)[len(singles) // 2]
        figures.update(
            cli_single_run_s=single_run.wall_s,
            cli_one_partition_run_s=per_run,
            cli_runs_per_partition_extrapolated_s=per_run * partitions,
        )
        return figures

    def incremental(self) -> dict:
        """4. One new landing day on an N-day lake, against rebuilding all N + 1 days."""
        dataset = self.size.incremental
        grown = Dataset(dataset.days + 1, dataset.events_per_day)
        landing = self.landing(grown)
        first = first_day(grown.days)
        new_day = first + dt.timedelta(days=dataset.days)
        root = self.fresh_root("incremental")
        partial = root / "landing"
        shutil.copytree(landing, partial, ignore=_skip_day(new_day.isoformat()))
        env = self.env(root, first)
        self.log(f"incremental: building {dataset.label}")
        initial = measure([_tool("lakehouse"), "build"], env)
        shutil.copytree(landing, partial, dirs_exist_ok=True)
        self.log(f"incremental: adding {new_day}")
        incremental = measure([_tool("lakehouse"), "build"], env)
        self.log(f"incremental: full rebuild of {grown.days} days")
        full = measure([_tool("lakehouse"), "build", "--full"], env)
        return {
            "dataset": dataset.label,
            "initial_build_s": initial.wall_s,
            "incremental_s": incremental.wall_s,
            "full_rebuild_s": full.wall_s,
            "ratio": incremental.wall_s / full.wall_s,
        }

    def queries(self) -> dict:
        """5. Analyst queries on the gold tables of a long lake."""
        dataset = self.size.queries
        landing = self.landing(dataset)
        first = first_day(dataset.days)
        root = self.fresh_root("queries", landing)
        env = self.env(root, first)
        self.log(f"queries: building {dataset.label}")
        build = measure([_tool("lakehouse"), "build"], env)
        self.log("queries: timing")
        run = measure(python_module(WORKLOADS, "queries", str(self.size.query_repetitions)), env)
        return {
            "dataset": dataset.label,
            "build_s": build.wall_s,
            "repetitions": self.size.query_repetitions,
            "queries": run.result,
        }

    def sensor(self) -> dict:
        """6. One landing sensor over many files: the first tick, then steady ticks."""
        from lakehouse.bench.workloads import write_event_files

        files = self.size.sensor_files
        days = -(-files // 200)
        first = first_day(days)
        root = self.fresh_root("sensor")
        write_event_files(root / "landing", files, first)
        self.log(f"sensor: ticking over {files:,} files")
        run = measure(python_module(WORKLOADS, "sensor-ticks", str(files)), self.env(root, first))
        return run.result

    def run_all(self) -> dict:
        main = self.full_graph(self.size.main, "full-graph")
        return {
            "bronze_ingest": self.bronze_ingest(),
            "full_graph": main,
            "backfill": self.backfill(),
            "incremental": self.incremental(),
            "queries": self.queries(),
            "sensor": self.sensor(),
            "scaling": self.scaling(main),
        }


def _throughput(run: Measured, seconds: float, lines: int, rows: int | None) -> dict:
    return {
        "seconds": seconds,
        "wall_s": run.wall_s,
        "rows_written": rows,
        "rows_per_s": lines / seconds,
        "peak_rss_mb": run.peak_rss_bytes / 2**20,
    }


def _manifest(landing: Path) -> dict:
    return json.loads((landing / MANIFEST_NAME).read_text())


def _lake_files(lake: Path) -> tuple[int, int]:
    files = size = 0
    for folder, _, names in os.walk(lake):
        if "_staging" in Path(folder).parts:
            continue
        for name in names:
            files += 1
            size += (Path(folder) / name).stat().st_size
    return files, size


def _run_seconds(home: Path) -> float:
    """Start to end of the one run the build made, from the instance's run record."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        records = instance.get_run_records()
        if len(records) != 1:
            raise RuntimeError(f"expected one run in {home}, found {len(records)}")
        record = records[0]
        return record.end_time - record.start_time


def _skip_day(day: str) -> Callable[[str, list[str]], list[str]]:
    return lambda folder, names: [name for name in names if name == day]


def run_bench(
    size: BenchSize, work: Path, out: Path, log: Callable[[str], None] = print
) -> tuple[dict, dict[str, Path]]:
    """Every measurement at `size`; the outputs are written under `out`."""
    from lakehouse.bench.report import machine, scaling_slopes, targets, write_outputs

    results = {
        "size": size.name,
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **Bench(size, work, log).run_all(),
    }
    results["scaling_slopes"] = scaling_slopes(results["scaling"])
    results["targets"] = targets(results)
    return results, write_outputs(results, out)
