"""The lake on S3 (moto's server): what other engines see, the whole graph, maintenance, and
DuckDB reading lake files through the lake's file system. The store's own suite runs on S3 too
(test_storage.py).

Every test gets its own prefix in one bucket of one moto server started for this module.
"""

from __future__ import annotations

import datetime as dt
import io
import os
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
from deltalake import DeltaTable

from lakehouse import settings, tables
from lakehouse.catalog import build_catalog
from lakehouse.defs.resources import LakeResource, duckdb_resource
from lakehouse.lake import Lake
from lakehouse.maintenance import cleanup
from lakehouse.maintenance.run import maintain
from lakehouse.partitions import range_tags
from lakehouse.storage import LakeStore, parquet_source
from lakehouse.storage.duckdb_access import PositionalReader
from lakehouse_tests.conftest import (
    ALL_ASSETS,
    FIRST_DAY,
    LAST_DAY,
    SAMPLE,
    copy_landing,
    table_contents,
    written_tables,
)
from lakehouse_tests.servers import moto_s3
from lakehouse_tests.test_storage import SPEC, frame, parquet_files

DAY = "2026-11-01"


@pytest.fixture(scope="module")
def s3_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with moto_s3(tmp_path_factory.mktemp("moto")) as env, mock.patch.dict(os.environ, env):
        yield env


@pytest.fixture
def lake_url(s3_env: dict[str, str]) -> str:
    return f"s3://lake/{uuid.uuid4().hex[:8]}"


@pytest.fixture
def store(lake_url: str, tmp_path: Path) -> LakeStore:
    return LakeStore.from_url(lake_url, scratch_dir=tmp_path / "scratch")


def failures_in_threads(target: Callable[[int], None], count: int) -> list[BaseException]:
    """Run `target(0)` ... `target(count - 1)` in threads side by side; what they raised."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(target, n) for n in range(count)]
    return [future.exception() for future in futures if future.exception() is not None]


def test_any_delta_reader_sees_exactly_the_live_version_on_s3(store: LakeStore) -> None:
    """What Spark, Trino or Polars pointed at the prefix read: the log's files, not a listing
    that holds replaced files and a killed writer's litter too."""
    store.publish(SPEC, DAY, frame(1, 10))
    pinned = store.scan(SPEC, [DAY])  # the file list is resolved now, from the log
    store.publish(SPEC, DAY, frame(2, 3))
    litter = f"{store.partition_dir(SPEC, DAY)}/part-{uuid.uuid4().hex}.parquet"
    frame(9, 99).write_parquet(f"s3://{litter}", storage_options=store.fs.storage_options())
    assert pinned.collect()["version"].unique().to_list() == [1]
    uri, options = store.table_uri(SPEC), store.delta_options()
    seen = pl.scan_delta(uri, storage_options=options).collect()
    assert seen["version"].to_list() == [2, 2, 2]
    assert DeltaTable(uri, storage_options=options).file_uris() == [
        store.fs.uri(path) for path in store.files(SPEC)
    ]
    listed = [
        e.path for e in store.fs.list_tree(store.table_dir(SPEC)) if "_delta_log" not in e.path
    ]
    assert len(listed) == 3, "the replaced file and the litter stay until vacuum"


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
    # Every asset's table (the sentiment model is files and a registry table, not a table).
    assert {".".join(a.key.path) for a in ALL_ASSETS} - {"ml.sentiment_model"} <= names
    assert store.files(tables.ML_SENTIMENT_MODELS), "the model registry is on S3 too"
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
    actions = maintain(store, ["retention", "compact"], specs=[SPEC], today=dt.date(2028, 10, 15))
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
    cleanup.vacuum(store, leftovers, grace=dt.timedelta(0))
    assert parquet_files(store) == store.files(SPEC, [DAY])
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
