"""Micro-batches: today's landing files appended to bronze as they land, exactly once."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from lakehouse import tables
from lakehouse.defs.automation import NEW_ROWS_TAG
from lakehouse.landing.batches import APPEND, INGEST_TAG, next_batch
from lakehouse.landing.contract import SOURCES
from lakehouse.landing.ingest import batch_app_id, ingest_day
from lakehouse.landing.manifest import INGESTED, load_manifest
from lakehouse.storage import LakeFileSystem, LakeStore
from lakehouse_tests.conftest import DAILY, SAMPLE, asset_named, resources_for, table_contents
from lakehouse_tests.test_sensors import BRONZE, age_tree, tick

EVENTS = SOURCES["app_events"]
TODAY = dt.datetime.now(dt.UTC).date().isoformat()


def lines_in(paths: list[Path]) -> int:
    return sum(len(gzip.decompress(path.read_bytes()).splitlines()) for path in paths)


def test_todays_files_are_appended_batch_by_batch_exactly_once(
    tmp_path: Path, sample_landing: Path
) -> None:
    """Each tick's new files of today are appended in one commit that keeps the files already
    there; a retried run, a run killed after planning and one killed after committing all end
    with every line in bronze or quarantine once; a changed file rewrites the day."""
    assert DAILY.has_partition_key(TODAY), "today is a partition"
    sample = sorted((sample_landing / "app_events" / SAMPLE.date(0).isoformat()).glob("*.gz"))
    today = tmp_path / "landing" / "app_events" / TODAY
    today.mkdir(parents=True)
    store = LakeStore.local(tmp_path / "lake")
    landing = LakeFileSystem.local(str(tmp_path / "landing"))
    app_id = batch_app_id("app_events", TODAY)

    def land(*files: Path) -> None:
        for file in files:
            shutil.copy(file, today / file.name)
        age_tree(tmp_path / "landing")

    def accounted() -> int:
        rows = (
            store.scan(tables.BRONZE_APP_EVENTS)
            .filter(pl.col("arrival_date") == dt.date.fromisoformat(TODAY))
            .collect()
        )
        rejected = (
            store.scan(tables.BRONZE_QUARANTINE["app_events"])
            .filter(pl.col("arrival_date") == dt.date.fromisoformat(TODAY))
            .collect()
        )
        assert rows.select("_source_file", "_source_line").is_unique().all(), "no row twice"
        return rows.height + rejected.height

    with dg.instance_for_test() as instance:

        def run_requested() -> dg.RunRequest:
            [request] = tick(tmp_path, instance, "app_events").run_requests
            assert request.partition_key == TODAY
            return request

        def materialize(tags: dict[str, str]) -> None:
            result = dg.materialize(
                [BRONZE["app_events"]],
                partition_key=TODAY,
                resources=resources_for(tmp_path),
                instance=instance,
                tags=tags,
            )
            assert result.success

        land(sample[0])
        first = run_requested()
        assert first.tags[INGEST_TAG] == APPEND
        materialize(first.tags)
        assert accounted() == lines_in(sample[:1])
        live = set(store.files(tables.BRONZE_APP_EVENTS, [TODAY]))

        land(sample[1], sample[2])
        second = run_requested()
        materialize(second.tags)
        assert accounted() == lines_in(sample[:3])
        after = set(store.files(tables.BRONZE_APP_EVENTS, [TODAY]))
        assert live < after and len(after - live) == 1, "one new file, the old ones kept"
        assert store.transaction_version(tables.BRONZE_APP_EVENTS, app_id) == 2

        # The same run again (a retry): nothing new, nothing doubled.
        materialize(second.tags)
        assert accounted() == lines_in(sample[:3])

        # Killed after planning batch 3: the next run replays exactly the planned files.
        land(sample[3])
        tick(tmp_path, instance, "app_events")  # a tick sees it settled
        now = dt.datetime.now(dt.UTC)
        planned = next_batch(
            store, landing, EVENTS, tables.BRONZE_APP_EVENTS, TODAY, run_id=None, now=now
        )
        assert planned is not None and planned.number == 3
        land(sample[4])  # lands meanwhile: a batch of its own
        materialize(run_requested().tags)
        assert accounted() == lines_in(sample[:5])
        assert store.transaction_version(tables.BRONZE_APP_EVENTS, app_id) == 4

        # Killed after committing batch 5, before the manifest said so: not appended again.
        land(sample[5])
        tick(tmp_path, instance, "app_events")
        batch = next_batch(
            store, landing, EVENTS, tables.BRONZE_APP_EVENTS, TODAY, run_id=None, now=now
        )
        assert batch is not None and batch.number == 5
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            ingest_day(
                landing=landing,
                store=store,
                contract=EVENTS,
                table=tables.BRONZE_APP_EVENTS,
                quarantine=tables.BRONZE_QUARANTINE["app_events"],
                day=TODAY,
                con=con,
                now=now,
                batch=batch,
            )
        materialize({INGEST_TAG: APPEND})
        assert accounted() == lines_in(sample[:6])
        manifest = load_manifest(store, "app_events").filter(pl.col("arrival_date") == TODAY)
        assert manifest.height == 6 and set(manifest["status"]) == {INGESTED}
        assert sorted(manifest["batch"].to_list()) == [1, 2, 2, 3, 4, 5]

        # A file already ingested changes: the day is rewritten whole, not appended to.
        shutil.copy(sample[6], today / sample[0].name)
        age_tree(tmp_path / "landing")
        rewrite = run_requested()
        assert INGEST_TAG not in rewrite.tags
        materialize(rewrite.tags)
        assert accounted() == lines_in(sample[1:7])


def _events(*events: tuple[str, str]) -> bytes:
    """JSON lines of (event_id, device) events stamped early today (`bad` devices are
    quarantined)."""
    stamp = dt.datetime.combine(dt.date.fromisoformat(TODAY), dt.time(0, 0, 1), dt.UTC)
    lines = [
        json.dumps(
            {
                "event_id": event_id,
                "user_id": "C0000001",
                "event_type": "page_view",
                "event_ts": stamp.isoformat(),
                "device": device,
                "app_version": "3.3.0",
                "latency_ms": 20,
            }
        )
        for event_id, device in events
    ]
    return gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)


def test_a_silver_day_takes_only_the_new_rows_and_equals_a_recomputation(tmp_path: Path) -> None:
    """A round that follows new bronze rows appends to today's silver only the events it lacks
    (with their rejects to quarantine), and the day equals one recomputed from all of bronze;
    where appending could not equal it (a copy of a kept event that arrived before it), the
    day is recomputed."""
    silver = asset_named("silver", "app_events")
    today = tmp_path / "landing" / "app_events" / TODAY
    today.mkdir(parents=True)

    def day(spec, root: Path = tmp_path) -> pl.DataFrame:
        store = LakeStore.local(root / "lake")
        return table_contents(store, {spec.qualified_name}, [TODAY])[spec.qualified_name]

    with dg.instance_for_test() as instance:

        def land(name: str, data: bytes) -> None:
            (today / name).write_bytes(data)
            age_tree(tmp_path / "landing")
            [request] = tick(tmp_path, instance, "app_events").run_requests
            assert dg.materialize(
                [BRONZE["app_events"]],
                partition_key=TODAY,
                resources=resources_for(tmp_path),
                instance=instance,
                tags=request.tags,
            ).success

        def follow(tags: dict[str, str], root: Path = tmp_path) -> int:
            result = dg.materialize(
                [silver], partition_key=TODAY, resources=resources_for(root), tags=tags
            )
            assert result.success
            [materialization] = result.asset_materializations_for_node(silver.node_def.name)
            return materialization.metadata.get(
                "partitions_appended_to", dg.IntMetadataValue(-1)
            ).value

        def equals_recomputed() -> None:
            twin = tmp_path / "twin"
            shutil.rmtree(twin, ignore_errors=True)
            shutil.copytree(tmp_path / "lake", twin / "lake")
            assert follow({}, twin) == -1
            for spec in (tables.SILVER_APP_EVENTS, tables.SILVER_APP_EVENTS_QUARANTINE):
                assert day(spec).equals(day(spec, twin)), spec.qualified_name

        land("events-0010.jsonl.gz", _events(("e1", "ios"), ("e2", "web"), ("e2", "web")))
        assert follow({NEW_ROWS_TAG: "true"}) == 0, "no watermark yet: computed whole"
        assert day(tables.SILVER_APP_EVENTS)["event_id"].to_list() == ["e1", "e2"]
        first_version = LakeStore.local(tmp_path / "lake").current_version(tables.SILVER_APP_EVENTS)

        # New events, a copy of a kept one arriving later, a copy within the batch, a bad row.
        batch = [("e3", "ios"), ("e1", "ios"), ("e4", "android"), ("e4", "android")]
        land("events-0020.jsonl.gz", _events(*batch, ("e5", "toaster")))
        assert follow({NEW_ROWS_TAG: "true"}) == 1, "appended to"
        assert sorted(day(tables.SILVER_APP_EVENTS)["event_id"]) == ["e1", "e2", "e3", "e4"]
        assert day(tables.SILVER_APP_EVENTS_QUARANTINE)["event_id"].to_list() == ["e5"]
        equals_recomputed()
        # Nothing new since: the day is computed whole, to the same rows.
        assert follow({NEW_ROWS_TAG: "true"}) == 0
        equals_recomputed()

        # A file landing late whose name sorts first holds a copy of e3: that copy arrived
        # first and must replace the kept one, which appending cannot do.
        land("events-0001.jsonl.gz", _events(("e3", "ios"), ("e6", "web")))
        assert follow({NEW_ROWS_TAG: "true"}) == 0, "recomputed"
        kept = day(tables.SILVER_APP_EVENTS).filter(pl.col("event_id") == "e3")
        assert kept["_source_file"].str.ends_with("events-0001.jsonl.gz").all()
        equals_recomputed()

        # Silver restored to its first version: its watermark goes back with its rows, so the
        # next round does not skip what bronze took since.
        LakeStore.local(tmp_path / "lake").restore(tables.SILVER_APP_EVENTS, first_version)
        assert day(tables.SILVER_APP_EVENTS)["event_id"].to_list() == ["e1", "e2"]
        land("events-0030.jsonl.gz", _events(("e7", "web")))
        follow({NEW_ROWS_TAG: "true"})
        assert sorted(day(tables.SILVER_APP_EVENTS)["event_id"]) == [
            f"e{n}" for n in (1, 2, 3, 4, 6, 7)
        ]
        equals_recomputed()
        land("events-0040.jsonl.gz", _events(("e8", "web")))
        assert follow({NEW_ROWS_TAG: "true"}) == 1
        equals_recomputed()
