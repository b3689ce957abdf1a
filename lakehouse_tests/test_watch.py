"""`lakehouse build --watch`: today's files reach bronze, silver and gold while the day runs."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import polars as pl

from lakehouse import tables
from lakehouse.settings import ensure_dagster_home
from lakehouse.storage import LakeStore
from lakehouse_tests.servers import stop_tree, wait_for

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
#: A file's rows must be in silver and gold this soon after it lands (rounds every second).
BOUND_SECONDS = 90


def test_watch_brings_each_file_of_today_to_gold_once_across_a_kill(tmp_path: Path) -> None:
    """Files of today land one after another under `lakehouse build --watch`: each one's lines
    are in bronze (or its quarantine) exactly once and its events in silver and gold within
    the bound; the watcher SIGKILLed in the middle of a round and started again loses and
    doubles nothing; Ctrl-C stops it."""
    today = dt.datetime.now(dt.UTC).date()
    day = today.isoformat()
    generated = tmp_path / "generated"
    subprocess.run(
        [LAKEHOUSE, "generate", "--start", day, "--days", "1", "--events-per-day", "3000"]
        + ["--landing", str(generated)],
        check=True,
        capture_output=True,
    )
    landing = tmp_path / "landing"
    for source in ("customers", "products", "orders"):
        shutil.copytree(generated / source / day, landing / source / day)
    events = sorted((generated / "app_events" / day).glob("*.jsonl.gz"))[:5]
    (landing / "app_events" / day).mkdir(parents=True)
    home = ensure_dagster_home(tmp_path / "dagster_home")
    env = {
        **os.environ,
        "LAKEHOUSE_DATA_DIR": str(tmp_path),
        "DAGSTER_HOME": str(home),
        "LAKEHOUSE_SETTLE_SECONDS": "0",
        "LAKEHOUSE_START_DATE": (today - dt.timedelta(days=3)).isoformat(),
    }
    store = LakeStore.local(tmp_path / "lake")
    log = tmp_path / "watch.log"

    def start() -> subprocess.Popen:
        return subprocess.Popen(
            [LAKEHOUSE, "build", "--watch", "--interval", "1"],
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def land(file: Path) -> None:
        shutil.copy(file, landing / "app_events" / day / file.name)

    def lines_of(file: Path) -> int:
        return len(gzip.decompress(file.read_bytes()).splitlines())

    def bronze_today() -> tuple[pl.DataFrame, pl.DataFrame]:
        on_day = pl.col("arrival_date") == today
        rows = store.scan(tables.BRONZE_APP_EVENTS).filter(on_day).collect()
        rejected = store.scan(tables.BRONZE_QUARANTINE["app_events"]).filter(on_day).collect()
        return rows, rejected

    def fresh(files: list[Path]) -> bool:
        """Every line of `files` in bronze once; their events in silver; gold in step."""
        try:
            rows, rejected = bronze_today()
            silver = store.scan(tables.SILVER_APP_EVENTS).collect()
            hourly = store.scan(tables.GOLD_EVENT_METRICS_HOURLY).collect()
        except FileNotFoundError:
            return False  # not written yet
        assert rows.select("_source_file", "_source_line").is_unique().all(), "no line twice"
        if rows.height + rejected.height != sum(lines_of(file) for file in files):
            return False
        # Every event of bronze is in silver or in silver's quarantine (with its reason).
        rejected_later = store.scan(tables.SILVER_APP_EVENTS_QUARANTINE).collect()
        known = pl.concat([silver["event_id"], rejected_later["event_id"]]).implode()
        silver_today = silver.filter(pl.col("event_date") == today)
        gold_today = hourly.filter(pl.col("event_date") == today)["events"].sum()
        in_silver = rows["event_id"].drop_nulls().is_in(known).all()
        return in_silver and gold_today == silver_today.height

    def hourly_today() -> dict[tuple, dict]:
        frame = store.scan(tables.GOLD_EVENT_METRICS_HOURLY).collect()
        return {
            (row["hour"], row["event_type"]): row
            for row in frame.filter(pl.col("event_date") == today).iter_rows(named=True)
        }

    def hours_in(file: Path) -> set[dt.datetime]:
        """The hours (UTC) of today that events of `file` fall in."""
        hours = set()
        for line in gzip.decompress(file.read_bytes()).splitlines():
            try:
                stamp = dt.datetime.fromisoformat(json.loads(line)["event_ts"]).astimezone(dt.UTC)
            except (ValueError, KeyError, TypeError):
                continue  # a malformed line: quarantined, in no hour
            hours.add(stamp.replace(minute=0, second=0, microsecond=0))
        return hours

    land(events[0])
    watchers = [start()]
    try:
        wait_for(lambda: fresh(events[:1]), 180, "the first file built", lambda: log.read_text())
        for index in (1, 2):
            before = hourly_today()
            land(events[index])
            wait_for(lambda i=index: fresh(events[: i + 1]), BOUND_SECONDS, f"file {index}")
            # Hours the new file has no events of keep their figures exactly.
            after, touched = hourly_today(), hours_in(events[index])
            kept = {key: row for key, row in before.items() if key[0] not in touched}
            assert kept and all(after[key] == row for key, row in kept.items())
        # Killed in the middle of a round (a run in progress), then started again.
        with dg.DagsterInstance.from_config(str(home)) as instance:
            land(events[3])
            deadline = time.monotonic() + 60
            while not instance.get_runs(
                filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
            ):
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.05)
        os.killpg(watchers[0].pid, signal.SIGKILL)
        watchers[0].wait()
        land(events[4])
        watchers.append(start())
        wait_for(lambda: fresh(events), 180, "every file after the kill", lambda: log.read_text())
        watchers[-1].send_signal(signal.SIGINT)
        assert watchers[-1].wait(timeout=60) == 130, log.read_text()[-3000:]
    finally:
        for watcher in watchers:
            stop_tree(watcher, signal.SIGKILL)
    text = log.read_text()
    assert "stopped by SIGINT" in text
    # A batch of today's events rebuilds today and the sessions that may run into it only.
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    narrow = (
        f"silver and gold for {yesterday}...{day}: gold/daily_summary, "
        "gold/event_metrics_hourly, gold/user_segments, silver/app_events, silver/sessions"
    )
    assert narrow in text, text[-3000:]


def test_a_rounds_downstream_run_covers_only_what_the_new_rows_can_change() -> None:
    """Appended events of today reach today's silver, the sessions that may continue into
    today (yesterday's), and their gold; not the rest of the late window, nor the orders side;
    a rewritten day reaches its whole late window; a dimension reaches no daily facts."""
    from lakehouse.definitions import build_definitions
    from lakehouse.settings import CodeSettings
    from lakehouse.watching import BronzeUpdate, downstream_reach

    today = dt.datetime.now(dt.UTC).date()

    def days(*offsets: int) -> set[str | None]:
        return {(today - dt.timedelta(days=offset)).isoformat() for offset in offsets}

    graph = build_definitions(
        CodeSettings(start_date=today - dt.timedelta(days=10))
    ).resolve_asset_graph()

    def reach(source: str, event_days: set[str] | None) -> dict[str, set[str | None]]:
        key = dg.AssetKey(["bronze", source])
        update = BronzeUpdate(
            key, today.isoformat(), None if event_days is None else frozenset(event_days)
        )
        return {k.to_user_string(): v for k, v in downstream_reach(graph, [update]).items()}

    assert reach("app_events", days(0)) == {
        "silver/app_events": days(0),
        "silver/sessions": days(1, 0),
        "gold/event_metrics_hourly": days(0),
        "gold/daily_summary": days(1, 0),
        "gold/user_segments": {None},
    }
    late = reach("app_events", days(0, 2))
    assert late["silver/app_events"] == days(0, 2)
    assert late["silver/sessions"] == days(3, 2, 1, 0)
    assert reach("app_events", None)["silver/app_events"] == days(3, 2, 1, 0)
    orders = reach("orders", days(0))
    assert orders["silver/orders"] == days(0) and orders["gold/fact_sales"] == days(0)
    assert "silver/app_events" not in orders
    # The model retrains on the schedule, not per batch: new reviews are scored by the
    # promoted one.
    assert reach("reviews", days(0)) == {
        "silver/reviews": days(0),
        "gold/review_sentiment": days(0),
        "gold/product_sentiment_daily": days(0),
        "gold/daily_summary": days(0),
    }
    assert reach("customers_cdc", None) == {
        "silver/customers": {None},
        "gold/dim_customer": {None},
    }
