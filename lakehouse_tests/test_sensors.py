"""Landing sensors on a real Dagster instance and real landing files."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from lakehouse import tables
from lakehouse.defs.landing_sensors import landing_sensors
from lakehouse.defs.resources import LakeResource, LandingWatchResource
from lakehouse.landing.batches import APPEND, INGEST_TAG
from lakehouse.landing.manifest import load_manifest
from lakehouse.storage import LakeStore
from lakehouse_tests.conftest import BRONZE_ASSETS, SAMPLE, resources_for

SENSORS = {sensor.name: sensor for sensor in landing_sensors(BRONZE_ASSETS, 30)}
BRONZE = {asset.key.path[-1]: asset for asset in BRONZE_ASSETS}
DAYS = [SAMPLE.date(i).isoformat() for i in range(3)]


def age(path: Path, seconds: float) -> None:
    """Pretend a file was last written `seconds` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def age_tree(root: Path, seconds: float = 60) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            age(path, seconds)


@pytest.fixture
def landing(tmp_path: Path, sample_landing: Path) -> Path:
    """Three days of app events and orders, settled."""
    for source in ("app_events", "orders"):
        for day in DAYS:
            shutil.copytree(sample_landing / source / day, tmp_path / "landing" / source / day)
    age_tree(tmp_path / "landing")
    return tmp_path


def tick(
    root: Path,
    instance: dg.DagsterInstance,
    source: str,
    settle: float = 10,
    max_files: int = 2_000,
) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance,
        resources={
            "lake": LakeResource(data_dir=str(root)),
            "landing_watch": LandingWatchResource(
                settle_seconds=settle, max_files_hashed=max_files
            ),
        },
    )
    return SENSORS[f"landing_{source}"](context)


def requested(result: dg.SensorResult) -> list[str]:
    return sorted(request.partition_key for request in result.run_requests or [])


def test_new_files_request_their_days_once_and_an_unchanged_tick_requests_nothing(
    landing: Path,
) -> None:
    with dg.instance_for_test() as instance:
        first = tick(landing, instance, "app_events")
        assert requested(first) == DAYS
        keys = {r.run_key for r in first.run_requests}
        assert len(keys) == 3 and all(k.startswith("app_events:") for k in keys)
        assert all(r.asset_selection == [BRONZE["app_events"].key] for r in first.run_requests)
        manifest = load_manifest(LakeStore.local(landing / "lake"), "app_events")
        assert manifest.height == 3 * 24
        assert set(manifest["status"]) == {"requested"}
        assert manifest["content_hash"].str.len_chars().unique().to_list() == [64]
        second = tick(landing, instance, "app_events")
        assert requested(second) == []
        assert "no new or changed" in second.skip_reason.skip_message
        # The other source's sensor sees only its own folder.
        assert requested(tick(landing, instance, "orders")) == DAYS


def test_a_retried_tick_derives_the_same_run_keys(landing: Path, tmp_path: Path) -> None:
    """A tick that dies before saving its manifest is retried with identical run keys, which
    Dagster refuses to launch twice."""
    with dg.instance_for_test() as instance:
        first = tick(landing, instance, "orders")
        shutil.rmtree(landing / "lake" / "state")
        again = tick(landing, instance, "orders")
    assert {r.run_key for r in first.run_requests} == {r.run_key for r in again.run_requests}


def test_a_modified_file_requests_its_day_again(landing: Path) -> None:
    with dg.instance_for_test() as instance:
        first = tick(landing, instance, "orders")
        target = landing / "landing" / "orders" / DAYS[1] / "orders-2.csv"
        target.write_text(target.read_text() + target.read_text().splitlines()[1] + "\n")
        age(target, 60)
        again = tick(landing, instance, "orders")
        assert requested(again) == [DAYS[1]]
        old = {r.partition_key: r.run_key for r in first.run_requests}[DAYS[1]]
        assert again.run_requests[0].run_key != old
        # Touching a file without changing it requests nothing.
        age(target, 30)
        assert requested(tick(landing, instance, "orders")) == []


def test_a_file_seen_while_settling_is_taken_once_it_has_settled(landing: Path) -> None:
    """Seen too fresh, then left alone: the next tick after the settle delay takes it (it
    stayed `settling` for good before, as nothing about it changed)."""
    with dg.instance_for_test() as instance:
        tick(landing, instance, "orders")
        new_day = SAMPLE.date(3).isoformat()
        folder = landing / "landing" / "orders" / new_day
        folder.mkdir(parents=True)
        (folder / "orders-1.csv").write_text(
            "order_id,customer_id,product_id,quantity,unit_price,currency,status,order_ts,"
            "updated_at\nO1,C0000001,P00001,1,2.50,USD,paid,2026-11-04T10:00:00Z,"
            "2026-11-04T10:00:00Z\n"
        )
        assert requested(tick(landing, instance, "orders", settle=10)) == []
        # Time passes and the file is not touched: a delay of 0 finds it settled now.
        assert requested(tick(landing, instance, "orders", settle=0)) == [new_day]


def test_a_file_being_written_waits_for_the_settle_delay(landing: Path) -> None:
    with dg.instance_for_test() as instance:
        tick(landing, instance, "orders")
        new_day = SAMPLE.date(3).isoformat()
        folder = landing / "landing" / "orders" / new_day
        folder.mkdir(parents=True)
        growing = folder / "orders-1.csv"
        growing.write_text("order_id,customer_id,product_id,quantity,unit_price,currency,")
        assert requested(tick(landing, instance, "orders", settle=10)) == []
        manifest = load_manifest(LakeStore.local(landing / "lake"), "orders")
        row = manifest.filter(pl.col("path").str.ends_with(f"{new_day}/orders-1.csv"))
        assert row["status"].to_list() == ["settling"] and row["content_hash"].is_null().all()
        growing.write_text(
            "order_id,customer_id,product_id,quantity,unit_price,currency,status,order_ts,"
            "updated_at\nO1,C0000001,P00001,1,2.50,USD,paid,2026-11-04T10:00:00Z,"
            "2026-11-04T10:00:00Z\n"
        )
        assert requested(tick(landing, instance, "orders", settle=10)) == []
        age(growing, 11)
        assert requested(tick(landing, instance, "orders", settle=10)) == [new_day]


def test_a_corrupt_file_is_marked_failed_and_does_not_block_other_days(landing: Path) -> None:
    broken = landing / "landing" / "app_events" / DAYS[0] / "events-03.jsonl.gz"
    broken.write_bytes(broken.read_bytes()[:200])
    age(broken, 60)
    with dg.instance_for_test() as instance:
        result = tick(landing, instance, "app_events")
        # Its day's other files are appended meanwhile; the broken one is not among them.
        assert requested(result) == DAYS
        first_day = next(r for r in result.run_requests if r.partition_key == DAYS[0])
        assert first_day.tags[INGEST_TAG] == APPEND and first_day.tags["lakehouse/files"] == "23"
        manifest = load_manifest(LakeStore.local(landing / "lake"), "app_events")
        row = manifest.filter(pl.col("path").str.ends_with(f"{DAYS[0]}/events-03.jsonl.gz"))
        assert row["status"].item() == "failed"
        assert "truncated gzip" in row["error"].item()
        # Fixed file: the day goes through.
        broken.write_bytes(gzip.compress(json.dumps({"event_id": "x"}).encode() + b"\n"))
        age(broken, 60)
        assert requested(tick(landing, instance, "app_events")) == [DAYS[0]]


def test_finished_runs_mark_files_ingested_or_failed(landing: Path) -> None:
    bad = landing / "landing" / "orders" / DAYS[2] / "orders-1.csv"
    bad.write_text("order_id,customer_id\nO1,C1\n")  # readable, but breaks the contract
    age(bad, 60)
    with dg.instance_for_test() as instance:
        result = tick(landing, instance, "orders")
        for request in result.run_requests:
            dg.materialize(
                [BRONZE["orders"]],
                partition_key=request.partition_key,
                tags=request.tags | {"dagster/run_key": request.run_key},
                resources=resources_for(landing),
                instance=instance,
                raise_on_error=False,
            )
        tick(landing, instance, "orders")
        manifest = load_manifest(LakeStore.local(landing / "lake"), "orders")
    status = dict(
        manifest.group_by("arrival_date").agg(pl.col("status").unique().sort()).iter_rows()
    )
    assert status == {DAYS[0]: ["ingested"], DAYS[1]: ["ingested"], DAYS[2]: ["failed"]}
    errors = manifest.filter(pl.col("status") == "failed")["error"].unique().to_list()
    assert len(errors) == 1 and "the header lacks required columns" in errors[0]
    assert manifest.filter(pl.col("status") == "ingested")["run_id"].null_count() == 0


def test_one_tick_hashes_a_bounded_number_of_files(landing: Path) -> None:
    with dg.instance_for_test() as instance:
        first = tick(landing, instance, "app_events", max_files=30)
        manifest = load_manifest(LakeStore.local(landing / "lake"), "app_events")
        assert manifest.height == 30
        # The first day's 24 files, and the 6 of the second it hashed: those are appended, the
        # second day's others wait for the next ticks.
        assert requested(first) == DAYS[:2]
        second_day = next(r for r in first.run_requests if r.partition_key == DAYS[1])
        assert second_day.tags[INGEST_TAG] == APPEND and second_day.tags["lakehouse/files"] == "6"
        tick(landing, instance, "app_events", max_files=30)
        third = tick(landing, instance, "app_events", max_files=30)
        assert requested(third) == [DAYS[2]]


def test_state_reports_watermark_history_and_failures(landing: Path) -> None:
    bad = landing / "landing" / "orders" / DAYS[2] / "orders-1.csv"
    bad.write_text("order_id,customer_id\nO1,C1\n")
    age(bad, 60)
    with dg.instance_for_test() as instance:
        for request in tick(landing, instance, "orders").run_requests:
            dg.materialize(
                [BRONZE["orders"]],
                partition_key=request.partition_key,
                tags={"dagster/run_key": request.run_key},
                resources=resources_for(landing),
                instance=instance,
                raise_on_error=False,
            )
        tick(landing, instance, "orders")
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "lakehouse"), "state", "--json"],
        env={**os.environ, "LAKEHOUSE_DATA_DIR": str(landing)},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    orders = next(s for s in json.loads(completed.stdout) if s["source"] == "orders")
    assert orders["watermark"] == DAYS[1]
    assert orders["files"] == {"failed": 2, "ingested": 4}
    assert orders["bronze_partitions"] == 2 and orders["bronze_watermark"] == DAYS[1]
    assert orders["bronze_files"] == 4 and orders["last_ingested_at"] is not None
    bronze_rows = (
        LakeStore.local(landing / "lake")
        .scan(next(spec for spec in tables.BRONZE_TABLES if spec.name == "orders"))
        .select(pl.len())
        .collect()
        .item()
    )
    assert orders["bronze_rows"] == bronze_rows > 0
    assert orders["last_file"].startswith(f"orders/{DAYS[1]}/")
    # Files were aged a minute before the sensor saw them: ingested about that long after.
    assert orders["newest_file"].startswith("orders/")
    assert 55 <= orders["newest_file_lag_seconds"] < 600 and orders["files_waiting"] == 0
    assert {f["path"] for f in orders["failed_files"]} == {
        f"orders/{DAYS[2]}/orders-1.csv",
        f"orders/{DAYS[2]}/orders-2.csv",
    }
    events = next(s for s in json.loads(completed.stdout) if s["source"] == "app_events")
    assert events["watermark"] is None and events["files"] == {}
    assert events["newest_file"] is None and events["newest_file_lag_seconds"] is None
    assert events["bronze_rows"] == 0 and events["bronze_watermark"] is None


def test_days_a_bronze_run_ingested_are_not_requested_but_new_and_changed_files_are(
    landing: Path, sample_landing: Path
) -> None:
    """One record of what was ingested: a bronze run started by `lakehouse build`, the
    dagster CLI or the UI records its files in the manifest the sensors read."""
    new_day = SAMPLE.date(3).isoformat()
    with dg.instance_for_test() as instance:
        first, last = DAYS[0], DAYS[-1]
        built = dg.materialize(
            [BRONZE["app_events"], BRONZE["orders"]],
            resources=resources_for(landing),
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": first,
                "dagster/asset_partition_range_end": last,
            },
        )
        assert built.success
        manifest = load_manifest(LakeStore.local(landing / "lake"), "app_events")
        assert manifest.height == 3 * 24 and set(manifest["status"]) == {"ingested"}
        assert set(manifest["run_id"]) == {built.run_id}
        for _ in range(2):
            assert requested(tick(landing, instance, "app_events")) == []
            assert requested(tick(landing, instance, "orders")) == []

        # Touching a file without changing it requests nothing; a new day and a changed file
        # request exactly their days.
        age(next((landing / "landing" / "orders" / DAYS[0]).iterdir()), 30)
        assert requested(tick(landing, instance, "orders")) == []
        events = landing / "landing" / "app_events"
        shutil.copytree(sample_landing / "app_events" / new_day, events / new_day)
        changed = events / DAYS[1] / "events-05.jsonl.gz"
        changed.write_bytes(gzip.compress(gzip.decompress(changed.read_bytes())[:-200]))
        age_tree(landing / "landing")
        assert requested(tick(landing, instance, "app_events")) == [DAYS[1], new_day]
