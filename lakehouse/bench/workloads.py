"""Measurements that run inside a child process of the bench driver.

`python -m lakehouse.bench.workloads NAME ARGS...` reads the data root, Dagster home and first
partition from the environment the driver sets (the partitions definition is built from it when
the definitions are imported), then reports its own figures as one JSON line.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import duckdb

from lakehouse import settings, tables
from lakehouse.bench.probe import report_result
from lakehouse.bench.queries import time_queries
from lakehouse.partitions import day_range, range_tags
from lakehouse.storage import LakeFileSystem, LakeStore

ORDERS_HEADER = (
    "order_id,customer_id,product_id,quantity,unit_price,currency,status,order_ts,updated_at"
)


def _bronze_asset(table: str) -> dg.AssetsDefinition:
    from lakehouse.defs.bronze import bronze_assets
    from lakehouse.partitions import Partitioning

    assets = bronze_assets(Partitioning.from_settings(settings.CodeSettings.from_env()))
    return next(asset for asset in assets if asset.key.path[-1] == table)


def _materialize(asset: dg.AssetsDefinition, first: str, last: str) -> float:
    """One in-process run of `asset` over [first, last] against the persistent instance."""
    from lakehouse.defs.resources import build_resources

    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize(
            [asset],
            instance=instance,
            resources=build_resources(),
            tags=range_tags(first, last),
        )
    if not result.success:
        raise RuntimeError(f"materializing {asset.key.to_user_string()} failed")
    return time.perf_counter() - started


def bronze_events(first: str, last: str) -> dict:
    """bronze/app_events over the range through in-process `materialize`."""
    seconds = _materialize(_bronze_asset(tables.BRONZE_APP_EVENTS.name), first, last)
    store = LakeStore.local(settings.DataLayout(settings.data_dir()).lake)
    rows = store.scan(tables.BRONZE_APP_EVENTS).select("event_id").collect().height
    quarantined = store.scan(tables.BRONZE_QUARANTINE["app_events"]).collect().height
    return {"seconds": seconds, "rows": rows, "quarantined": quarantined}


def write_tiny_orders(landing: Path, days: list[str]) -> None:
    """One order a day: the partitions cost nothing but the framework's own work."""
    for day in days:
        folder = landing / "orders" / day
        folder.mkdir(parents=True, exist_ok=True)
        ts = f"{day}T12:00:00Z"
        (folder / "orders-1.csv").write_text(
            f"{ORDERS_HEADER}\nO{day.replace('-', '')},C1,P1,2,9.50,USD,paid,{ts},{ts}\n"
        )


def backfill_overhead(first: str, last: str, single_runs: int) -> dict:
    """Framework cost per partition of bronze/orders in one run over [first, last].

    T(1) is the median of `single_runs` one-partition runs after a warm-up run, T(N) one run
    of all N partitions, and the work per partition is `ingest_day` itself called outside
    Dagster; the overhead is (T(N) - T(1)) / (N - 1) minus that work.
    """
    from lakehouse.landing.contract import ORDERS
    from lakehouse.landing.ingest import ingest_day

    asset = _bronze_asset(tables.BRONZE_ORDERS.name)
    days = day_range(first, last)
    _materialize(asset, days[-1], days[-1])  # warm-up: imports, instance tables, caches
    one = statistics.median(_materialize(asset, days[i], days[i]) for i in range(single_runs))
    all_days = _materialize(asset, first, last)

    layout = settings.DataLayout(settings.data_dir())
    store = LakeStore.local(layout.lake)
    landing = LakeFileSystem.local(str(layout.landing))
    with duckdb.connect(config={"threads": 2, "memory_limit": "1GB"}) as con:
        con.execute("SET TimeZone = 'UTC'")
        started = time.perf_counter()
        # As the asset does in a range run: one commit per table for the whole range.
        store.defer_commits()
        for day in days:
            ingest_day(
                landing=landing,
                store=store,
                contract=ORDERS,
                table=tables.BRONZE_ORDERS,
                quarantine=tables.BRONZE_QUARANTINE[tables.BRONZE_ORDERS.name],
                day=day,
                con=con,
                now=dt.datetime.now(dt.UTC),
            )
        store.commit_deferred()
        work = (time.perf_counter() - started) / len(days)
    per_partition = (all_days - one) / (len(days) - 1)
    return {
        "partitions": len(days),
        "one_partition_run_s": one,
        "single_run_s": all_days,
        "per_partition_ms": per_partition * 1000,
        "work_per_partition_ms": work * 1000,
        "overhead_per_partition_ms": (per_partition - work) * 1000,
    }


def queries(repetitions: str) -> dict:
    catalog_dir = settings.DataLayout(settings.data_dir()).catalog_dir
    return time_queries(catalog_dir, int(repetitions))


def write_event_files(landing: Path, count: int, first: dt.date) -> None:
    """`count` small, settled event files, 200 to a day."""
    line = json.dumps(
        {
            "event_id": "e1",
            "user_id": "C0000001",
            "event_type": "page_view",
            "event_ts": f"{first}T00:00:00Z",
            "device": "ios",
            "app_version": "3.3.0",
            "latency_ms": 20,
        }
    )
    payload = gzip.compress((line + "\n").encode(), mtime=0)
    settled = time.time() - 3600
    for number in range(count):
        folder = landing / "app_events" / (first + dt.timedelta(days=number // 200)).isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"events-{number:05d}.jsonl.gz"
        path.write_bytes(payload)
        os.utime(path, (settled, settled))


def sensor_ticks(files: str) -> dict:
    """The landing_app_events sensor over `files` settled files: the first tick, the ticks
    until every file is known, then steady ticks with nothing new."""
    from lakehouse.definitions import defs

    definitions = defs()
    sensor = definitions.get_sensor_def("landing_app_events")
    resources = definitions.resources

    def tick(instance: dg.DagsterInstance) -> tuple[float, dg.SensorResult]:
        context = dg.build_sensor_context(instance=instance, resources=resources)
        started = time.perf_counter()
        result = sensor(context)
        return time.perf_counter() - started, result

    with dg.DagsterInstance.get() as instance:
        first, result = tick(instance)
        catch_up = [first]
        while result.run_requests and len(catch_up) < 100:
            seconds, result = tick(instance)
            catch_up.append(seconds)
        steady = [tick(instance)[0] for _ in range(5)]
    return {
        "files": int(files),
        "first_tick_ms": first * 1000,
        "ticks_until_all_known": len(catch_up),
        "catch_up_ms": sum(catch_up) * 1000,
        "steady_tick_ms": statistics.median(steady) * 1000,
    }


WORKLOADS: dict[str, Callable[..., dict]] = {
    "bronze-events": bronze_events,
    "backfill-overhead": lambda first, last, runs: backfill_overhead(first, last, int(runs)),
    "queries": queries,
    "sensor-ticks": sensor_ticks,
}


def main(argv: list[str]) -> None:
    name, *args = argv
    report_result(WORKLOADS[name](*args))


if __name__ == "__main__":
    main(sys.argv[1:])
