"""8. Freshness: today's files landing one after another under `lakehouse build --watch`.

A file of events stamped now lands every `spacing_s` seconds (written under a dot name, then
renamed, as an uploader does); the watcher runs a round every `interval_s` seconds with the
sensors' settle delay. Measured: for each file, the seconds from its landing to its events being
counted in silver and in `gold.event_metrics_hourly`; for each round, its cost, from the
watcher's log. A round's cost must not grow with the day: bronze appends only the new files.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from lakehouse import settings, tables
from lakehouse.landing.contract import EVENT_TYPES
from lakehouse.storage import LakeStore

ROUND_LINE = re.compile(r"round: (\d+) bronze runs, ([0-9.]+) s")
#: The watcher's progress line of a bronze app_events step: the micro-batch's own cost.
BRONZE_LINE = re.compile(r"bronze/app_events +done .* ([0-9.]+) s$", re.MULTILINE)


@dataclass(frozen=True)
class FreshnessRun:
    files: int
    spacing_s: float
    interval_s: float
    settle_s: float
    events_per_file: int


def write_events_file(folder: Path, number: int, events: int, now: dt.datetime) -> None:
    """`events` valid, distinct events stamped within the last minute (of today), landed
    atomically."""
    midnight = dt.datetime.combine(now.date(), dt.time(), tzinfo=dt.UTC)
    lines = [
        json.dumps(
            {
                "event_id": f"f{number:04d}-{index:06d}",
                "user_id": f"C{(number * 7919 + index) % 5000:07d}",
                "event_type": EVENT_TYPES[index % len(EVENT_TYPES)],
                "event_ts": max(now - dt.timedelta(seconds=index % 60), midnight).isoformat(),
                "device": ("ios", "android", "web")[index % 3],
                "app_version": "3.3.0",
                "latency_ms": 20 + index % 400,
            }
        )
        for index in range(events)
    ]
    folder.mkdir(parents=True, exist_ok=True)
    hidden = folder / f".events-{number:04d}.jsonl.gz"
    hidden.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
    os.replace(hidden, folder / f"events-{number:04d}.jsonl.gz")


def _counts(store: LakeStore, day: dt.date) -> tuple[int, int]:
    """Today's events in silver and in the hourly gold metrics (0 while not written)."""
    try:
        silver = store.scan(tables.SILVER_APP_EVENTS, [day.isoformat()]).select(pl.len())
        gold = store.scan(tables.GOLD_EVENT_METRICS_HOURLY, [day.isoformat()])
        return (
            int(silver.collect().item()),
            int(gold.select(pl.col("events").sum()).collect().item() or 0),
        )
    except (FileNotFoundError, OSError):
        return 0, 0


def _percentile(values: list[float], percent: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def run_freshness(root: Path, env: dict[str, str], plan: FreshnessRun) -> dict:
    today = dt.datetime.now(dt.UTC).date()
    folder = root / "landing" / "app_events" / today.isoformat()
    log = root / "watch.log"
    watcher = subprocess.Popen(
        [str(Path(sys.executable).with_name("lakehouse")), "build", "--watch"]
        + ["--interval", f"{plan.interval_s:g}"],
        env={**os.environ, **env, settings.SETTLE_SECONDS_ENV: f"{plan.settle_s:g}"},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    store = LakeStore.local(settings.DataLayout(root).lake)
    # Files land once the watcher is in its rounds (its first build has nothing to do).
    ready = time.monotonic() + 300
    while "watching " not in log.read_text():
        if watcher.poll() is not None or time.monotonic() > ready:
            raise RuntimeError(f"the watcher did not start\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    landed: list[float] = []
    to_silver: dict[int, float] = {}
    to_gold: dict[int, float] = {}
    deadline = time.monotonic() + plan.files * plan.spacing_s + 10 * plan.interval_s + 300
    try:
        while len(to_gold) < plan.files:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"freshness: files not in gold in time\n{log.read_text()[-3000:]}"
                )
            if watcher.poll() is not None:
                raise RuntimeError(f"the watcher exited\n{log.read_text()[-3000:]}")
            now = time.monotonic()
            if len(landed) < plan.files and (not landed or now - landed[-1] >= plan.spacing_s):
                write_events_file(
                    folder, len(landed), plan.events_per_file, dt.datetime.now(dt.UTC)
                )
                landed.append(time.monotonic())
            silver, gold = _counts(store, today)
            seen = time.monotonic()
            for number, at in enumerate(landed):
                needed = (number + 1) * plan.events_per_file
                if number not in to_silver and silver >= needed:
                    to_silver[number] = seen - at
                if number not in to_gold and gold >= needed:
                    to_gold[number] = seen - at
            time.sleep(0.25)
        # The round that brought the last file to gold reports its cost once it has finished.
        settle = time.monotonic() + plan.interval_s + 120
        while time.monotonic() < settle:
            text = log.read_text()
            if len(ROUND_LINE.findall(text)) >= text.count("silver and gold for "):
                break
            time.sleep(0.2)
    finally:
        watcher.send_signal(signal.SIGINT)
        try:
            watcher.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(watcher.pid, signal.SIGKILL)
            watcher.wait()
    text = log.read_text()
    rounds = [float(match[2]) for match in ROUND_LINE.finditer(text)]
    batches = [float(match[1]) for match in BRONZE_LINE.finditer(text)]
    silver_s, gold_s = list(to_silver.values()), list(to_gold.values())
    return {
        **plan.__dict__,
        "latency_to_silver_p50_s": _percentile(silver_s, 50),
        "latency_to_silver_p95_s": _percentile(silver_s, 95),
        "latency_to_gold_p50_s": _percentile(gold_s, 50),
        "latency_to_gold_p95_s": _percentile(gold_s, 95),
        "round_seconds": rounds,
        # The cost of a round late in the day against one early on: flat is 1.
        "round_cost_growth": _growth(rounds),
        "bronze_batch_seconds": batches,
        "bronze_batch_cost_growth": _growth(batches),
    }


def _growth(costs: list[float]) -> float:
    """Median of the last third over median of the first third (0 without costs)."""
    if not costs:
        return 0.0
    third = max(1, len(costs) // 3)
    return statistics.median(costs[-third:]) / statistics.median(costs[:third])
