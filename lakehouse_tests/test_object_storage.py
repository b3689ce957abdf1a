"""The store on S3: the manifest commit protocol against a real S3 API (moto's server).

Every test gets its own prefix in one bucket of one moto server started for this module.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest import mock

import dagster as dg
import duckdb
import polars as pl
import pyarrow.fs as pafs
import pytest

from lakehouse import settings, tables
from lakehouse.catalog import build_catalog
from lakehouse.defs.resources import LakeResource, duckdb_resource
from lakehouse.lake import Lake
from lakehouse.maintenance import cleanup
from lakehouse.maintenance.run import maintain
from lakehouse.partitions import range_tags
from lakehouse.storage import LakeFileSystem, LakeStore
from lakehouse.storage.duckdb_access import PositionalReader
from lakehouse.storage.manifest import MANIFEST_NAME, ConcurrentCommitError
from lakehouse.storage.sorting import parquet_source
from lakehouse_tests.conftest import (
    ALL_ASSETS,
    FIRST_DAY,
    LAST_DAY,
    SAMPLE,
    copy_landing,
    table_contents,
    written_tables,
)
from lakehouse_tests.servers import moto_s3, project_env
from lakehouse_tests.test_storage import SPEC, UNPARTITIONED, frame, kill_writers

DAY = "2026-11-01"


@pytest.fixture(scope="module")
def s3_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with moto_s3(tmp_path_factory.mktemp("moto")) as env, mock.patch.dict(os.environ, env):
        yield env


@pytest.fixture
def lake_url(s3_env: dict[str, str]) -> str:
    return f"s3://lake/{uuid.uuid4().hex[:8]}"


@pytest.fixture
def store(lake_url: str) -> LakeStore:
    return LakeStore(LakeFileSystem.from_url(lake_url))


def parquet_files(store: LakeStore, spec=SPEC) -> list[str]:
    return [
        e.path for e in store.fs.list_tree(store.table_dir(spec)) if e.path.endswith(".parquet")
    ]


def test_publish_commits_through_a_manifest_and_scans_read_only_it(store: LakeStore) -> None:
    result = store.publish(SPEC, DAY, frame(1, 10))
    assert result.rows == 10 and result.files == 1
    assert store.partition_keys(SPEC) == [DAY]
    manifest, etag = store.read_manifest(store.partition_dir(SPEC, DAY))
    assert manifest is not None and etag and manifest.rows == 10
    store.publish(SPEC, DAY, frame(2, 3))
    data = store.scan(SPEC, [DAY]).collect()
    assert data["version"].to_list() == [2, 2, 2]
    assert data.schema["event_date"] == pl.Date()
    # The replaced file stays (readers of the old version keep working) until vacuum.
    assert len(parquet_files(store)) == 2 and len(store.files(SPEC, [DAY])) == 1


def test_a_reader_of_the_old_version_keeps_reading_it_after_a_commit(store: LakeStore) -> None:
    store.publish(SPEC, DAY, frame(1, 100))
    pinned = store.scan(SPEC, [DAY])  # the file list is resolved now, from the manifest
    store.publish(SPEC, DAY, frame(2, 5))
    assert pinned.collect()["version"].unique().to_list() == [1]
    assert store.scan(SPEC, [DAY]).collect().height == 5


def test_a_write_that_fails_midway_keeps_the_previous_partition(store: LakeStore) -> None:
    store.publish(SPEC, DAY, frame(1, 100))

    def failing_stream():
        yield frame(2, 60)
        raise RuntimeError("source went away")

    with pytest.raises(RuntimeError, match="source went away"):
        store.publish(SPEC, DAY, failing_stream())
    assert store.scan(SPEC, [DAY]).collect()["version"].unique().to_list() == [1]
    assert len(parquet_files(store)) == 1, "the failed write's files were not removed"


def failures_in_threads(target: Callable[[int], None], count: int) -> list[BaseException]:
    """Run `target(0)` ... `target(count - 1)` in threads side by side; what they raised."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(target, n) for n in range(count)]
    return [future.exception() for future in futures if future.exception() is not None]


def test_concurrent_appends_never_lose_one_another(store: LakeStore) -> None:
    def append_many(version: int) -> None:
        for _ in range(6):
            store.append(SPEC, DAY, frame(version, 1))

    errors = failures_in_threads(append_many, 4)
    assert not errors, errors
    data = store.scan(SPEC, [DAY]).collect()
    assert sorted(data["version"].value_counts()["count"].to_list()) == [6, 6, 6, 6]


def test_a_stale_manifest_version_is_refused(store: LakeStore) -> None:
    store.publish(SPEC, DAY, frame(1, 1))
    path = f"{store.partition_dir(SPEC, DAY)}/{MANIFEST_NAME}"
    data, etag = store.fs.read_versioned(path)
    store.publish(SPEC, DAY, frame(2, 2))
    assert store.fs.write_if(path, data, etag) is False
    assert store.fs.write_if(path, data, None) is False  # "create" on an existing manifest
    assert store.scan(SPEC, [DAY]).collect().height == 2


def test_commits_give_up_after_losing_every_race(
    store: LakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.publish(SPEC, DAY, frame(1, 1))
    monkeypatch.setattr(store.fs, "write_if", lambda *args: False)
    with pytest.raises(ConcurrentCommitError, match="lost to other writers"):
        store.publish(SPEC, DAY, frame(2, 2))
    monkeypatch.undo()
    assert store.scan(SPEC, [DAY]).collect().height == 1
    assert len(parquet_files(store)) == 1


def test_retired_partitions_leave_the_table(store: LakeStore) -> None:
    store.publish(SPEC, DAY, frame(1, 3))
    store.publish(SPEC, "2026-11-02", frame(1, 4))
    assert store.retire(SPEC, DAY) is not None
    assert store.partition_keys(SPEC) == ["2026-11-02"]
    assert store.scan(SPEC).collect().height == 4
    assert store.retire(SPEC, DAY) is None


def test_unpartitioned_tables_are_replaced_whole(store: LakeStore) -> None:
    store.publish(UNPARTITIONED, None, pl.DataFrame({"id": [1, 2, 3]}))
    store.publish(UNPARTITIONED, None, pl.DataFrame({"id": [9]}))
    assert store.scan(UNPARTITIONED).collect()["id"].to_list() == [9]


def test_a_writer_killed_while_publishing_leaves_a_whole_partition(
    store: LakeStore, lake_url: str
) -> None:
    kill_writers(store, lake_url, (0.5, 1.0, 1.5, 2.2, 3.0))
    # What killed writers left is unnamed litter: more files than the manifest names.
    assert len(parquet_files(store)) >= len(store.files(SPEC, [DAY])) == 1


KILLED_IN_SCRATCH = """
import os, signal, sys
from lakehouse.storage import LakeStore
from lakehouse_tests.test_storage import SPEC
store = LakeStore.from_url(sys.argv[1], scratch_dir=sys.argv[2])
with store.scratch(SPEC, "2026-11-01") as folder:
    with open(os.path.join(folder, "rows.parquet"), "wb") as rows:
        rows.write(b"half a sort")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_local_scratch_of_a_killed_step_is_removed_by_the_next_write(
    lake_url: str, tmp_path: Path
) -> None:
    scratch = tmp_path / "scratch"
    env = project_env()
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_IN_SCRATCH, lake_url, str(scratch)], env=env, check=False
    )
    assert killed.returncode == -signal.SIGKILL
    left = list(scratch.rglob("rows.parquet"))
    assert len(left) == 1, left
    store = LakeStore.from_url(lake_url, scratch_dir=scratch)
    store.publish(SPEC, DAY, frame(1, 3))
    assert not left[0].parent.exists(), "the killed step's scratch folder is still there"
    assert store.scan(SPEC, [DAY]).collect().height == 3


def test_the_whole_graph_catalog_and_notebook_api_run_on_object_storage(
    s3_env: dict[str, str], built_lake, sample_landing: Path, tmp_path: Path
) -> None:
    """The same assets as the in-process build, with the lake on S3: the same tables."""
    root = copy_landing(sample_landing, tmp_path)
    url = f"s3://lake/graph-{uuid.uuid4().hex[:8]}"
    resources = {
        "lake": LakeResource(data_dir=str(root), lake_url=url),
        "duckdb": duckdb_resource("1GB", 2),
    }
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            ALL_ASSETS, resources=resources, instance=instance, tags=range_tags(FIRST_DAY, LAST_DAY)
        )
    assert result.success
    assert not (root / "lake").exists(), "something was written to the local lake"
    store = LakeStore.from_url(url)
    names = written_tables(store)
    assert {".".join(a.key.path) for a in ALL_ASSETS} <= names
    days = [SAMPLE.date(i).isoformat() for i in range(SAMPLE.days)]
    expected = table_contents(built_lake.store, names, days)
    for name, contents in table_contents(store, names, days).items():
        assert contents.equals(expected[name]), name

    with mock.patch.dict(os.environ, {settings.LAKE_URL_ENV: url}):
        layout = settings.DataLayout(root)
        build = build_catalog(settings.lake_store(layout), layout.catalog_dir)
        assert build.path == root / "catalog.duckdb"
        lake = Lake(root)
        sales = lake.sql("SELECT count(*) AS n FROM gold.fact_sales")
        local = built_lake.store.scan(tables.GOLD_FACT_SALES).collect()
        assert sales["n"].item() == local.height > 0
        one_day = lake.scan("gold.fact_sales", FIRST_DAY, FIRST_DAY).collect()
        first_day = local.filter(pl.col("order_date") == dt.date.fromisoformat(FIRST_DAY))
        assert one_day.height == first_day.height > 0


def test_maintenance_compacts_retires_and_vacuums_on_object_storage(store: LakeStore) -> None:
    for version in range(30):
        store.append(SPEC, DAY, frame(version, 10))
    store.publish(SPEC, "2026-10-01", frame(0, 5))
    orphan = f"{store.partition_dir(SPEC, DAY)}/part-{uuid.uuid4().hex}.parquet"
    with store.fs.open_output(orphan) as out:  # what a killed writer leaves
        out.write(b"PAR1 partial")
    before = store.scan(SPEC, [DAY]).collect().sort(["version", "id"])
    with duckdb.connect() as con:
        actions = maintain(
            store, con, ["retention", "compact"], specs=[SPEC], today=dt.date(2028, 10, 15)
        )
        assert {a.operation for a in actions} == {"retention", "compact"}
        assert store.partition_keys(SPEC) == [DAY]  # silver keeps 2 years: 2026-10-01 expired
        assert len(store.files(SPEC, [DAY])) == 1
        assert store.scan(SPEC, [DAY]).collect().sort(["version", "id"]).equals(before)
        # Within the grace period vacuum deletes nothing a reader could still be reading...
        assert not cleanup.plan_vacuum(store, [SPEC])
        # ...after it, the 30 replaced files, the retired partition's and the orphan go.
        leftovers = cleanup.plan_vacuum(store, [SPEC], grace=dt.timedelta(0))
        assert orphan in {item.path for item in leftovers}
        assert len(leftovers) == 30 + 1 + 1
        for item in leftovers:
            cleanup.remove(store, item)
    assert parquet_files(store) == store.files(SPEC, [DAY])
    manifest, _ = store.read_manifest(store.partition_dir(SPEC, DAY))
    assert manifest.retired == ()
    assert store.scan(SPEC, [DAY]).collect().sort(["version", "id"]).equals(before)


def test_threads_sharing_a_lake_file_each_read_their_own_range(tmp_path: Path) -> None:
    """DuckDB reads a range as seek-then-read on one shared handle from several threads."""
    data = bytes(range(256)) * 4096
    path = tmp_path / "blob"
    path.write_bytes(data)
    reader = PositionalReader(pafs.LocalFileSystem().open_input_file(str(path)))
    start = threading.Barrier(8)
    wrong: list[tuple[int, int]] = []

    def read_ranges(thread: int) -> None:
        start.wait()
        for i in range(500):
            offset = (thread * 7919 + i * 104_729) % (len(data) - 100)
            reader.seek(offset)
            time.sleep(0)  # let the other threads seek in between
            if reader.read(100) != data[offset : offset + 100]:
                wrong.append((thread, offset))

    errors = failures_in_threads(read_ranges, 8)  # a thread's failure must fail the test
    assert not errors and not wrong, (errors, wrong[:5])
    reader.seek(-10, io.SEEK_END)
    assert reader.read() == data[-10:] and reader.tell() == len(data)


def test_duckdb_reads_a_freshly_written_lake_file_exactly(store: LakeStore) -> None:
    store.publish(SPEC, DAY, frame(1, 300_000))
    [path] = store.files(SPEC, [DAY])
    expected = store.scan(SPEC, [DAY]).select(pl.col("id").sum(), pl.len()).collect().row(0)
    for _ in range(5):
        with duckdb.connect(config={"threads": 4}) as con:
            store.prepare_duckdb(con)
            source = parquet_source(store, [path])
            assert con.sql(f"SELECT sum(id), count(*) FROM {source}").fetchall()[0] == expected
