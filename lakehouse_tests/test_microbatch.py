"""Micro-batches: today's landing files appended to bronze as they land, exactly once."""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from lakehouse import tables
from lakehouse.landing.batches import APPEND, INGEST_TAG, next_batch
from lakehouse.landing.contract import SOURCES
from lakehouse.landing.ingest import batch_app_id, ingest_day
from lakehouse.landing.manifest import INGESTED, load_manifest
from lakehouse.storage import LakeFileSystem, LakeStore
from lakehouse_tests.conftest import DAILY, SAMPLE, resources_for
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
