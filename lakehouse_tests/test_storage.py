"""The store on Delta Lake, on a local folder and on moto's S3 server alike: partition replace
in one commit, versions, schema evolution, pruning, validation, killed writers."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import posixpath
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest import mock

import duckdb
import polars as pl
import pytest
from deltalake import DeltaTable

from lakehouse.scratch import (
    HOST,
    STAGING_DIR,
    STALE_STAGING_SECONDS,
    scratch_folder,
    scratch_writer,
)
from lakehouse.staging import stage_sorted
from lakehouse.storage import InvalidPartitionKey, LakeStore, SchemaMismatch, parquet_source
from lakehouse.storage.delta import NotADeltaTable, SchemaChangeRefused
from lakehouse.storage.parquet import arrow_schema
from lakehouse.storage.paths import HIVE_NULL_FOLDER
from lakehouse.table_spec import TableSpec
from lakehouse.transforms.rules import KeepFirst
from lakehouse_tests.servers import moto_s3, project_env

SPEC = TableSpec(
    layer="silver",
    name="things",
    schema={"id": pl.Int64(), "version": pl.Int64(), "payload": pl.String()},
    partition_column="event_date",
    retention_days=2 * 365,
)
UNPARTITIONED = TableSpec(layer="gold", name="dim", schema={"id": pl.Int64()})


def frame(version: int, rows: int) -> pl.DataFrame:
    return pl.DataFrame(
        {"id": range(rows), "version": [version] * rows, "payload": [f"v{version}"] * rows}
    )


@pytest.fixture(scope="module")
def s3_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """moto's S3 server for this module, its variables set while the module runs."""
    with moto_s3(tmp_path_factory.mktemp("moto")) as env, mock.patch.dict(os.environ, env):
        yield env


@pytest.fixture(params=["local", "s3"])
def lake_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs on a local folder and on a fresh prefix of moto's S3 server."""
    if request.param == "s3":
        request.getfixturevalue("s3_env")
        return f"s3://lake/{uuid.uuid4().hex[:8]}"
    return str(tmp_path / "lake")


@pytest.fixture
def store(lake_url: str, tmp_path: Path) -> LakeStore:
    """Scratch in the test's own folder (an S3 lake's default is the shared temp dir)."""
    return LakeStore.from_url(lake_url, scratch_dir=tmp_path / "scratch")


def parquet_files(store: LakeStore, spec: TableSpec = SPEC) -> list[str]:
    """Every data file under the table's folder, live or not (the log's checkpoints aside)."""
    return sorted(
        e.path
        for e in store.fs.list_tree(store.table_dir(spec))
        if e.path.endswith(".parquet") and "/_delta_log/" not in e.path
    )


def test_publish_writes_a_delta_table_of_hive_partitions_any_reader_opens(
    store: LakeStore,
) -> None:
    store.run_id = "run-1234"
    result = store.publish(SPEC, "2026-11-01", frame(1, 10))
    assert result.rows == 10 and result.files == 1 and result.bytes > 0
    assert result.path.endswith("/silver/things/event_date=2026-11-01")
    [file] = store.files(SPEC)
    assert posixpath.dirname(file) == result.path
    assert posixpath.basename(file).startswith("part-") and file.endswith(".parquet")
    uri, options = store.table_uri(SPEC), store.delta_options()
    table = DeltaTable(uri, storage_options=options)
    assert table.metadata().partition_columns == ["event_date"]
    assert pl.scan_delta(uri, storage_options=options).collect().height == 10
    scanned = store.scan(SPEC).collect()
    assert scanned.schema["event_date"] == pl.Date() and scanned.height == 10
    with duckdb.connect() as con:
        store.prepare_duckdb(con)
        source = parquet_source(store, store.files(SPEC))
        assert con.execute(f"SELECT count(*) FROM {source}").fetchone() == (10,)
    [latest, *_] = store.history(SPEC)
    assert latest["dagster_run_id"] == "run-1234"
    assert latest["lakehouse.operation"] == "publish"


def test_republishing_replaces_exactly_that_partition(store: LakeStore) -> None:
    store.publish(SPEC, "2026-11-01", frame(1, 10))
    store.publish(SPEC, "2026-11-02", frame(1, 7))
    replaced = store.publish(SPEC, "2026-11-01", frame(2, 3))
    first = store.scan(SPEC, ["2026-11-01"]).collect()
    assert first["version"].to_list() == [2, 2, 2]
    assert len(store.files(SPEC, ["2026-11-01"])) == 1
    assert store.scan(SPEC, ["2026-11-02"]).collect()["version"].unique().to_list() == [1]
    # The previous version still reads back until vacuum.
    before = store.scan(SPEC, ["2026-11-01"], version=replaced.version - 1).collect()
    assert before["version"].unique().to_list() == [1] and before.height == 10


def test_same_data_twice_gives_the_same_rows(store: LakeStore) -> None:
    store.publish(SPEC, "2026-11-01", frame(1, 50))
    before = store.scan(SPEC).collect()
    store.publish(SPEC, "2026-11-01", frame(1, 50))
    after = store.scan(SPEC).collect()
    assert before.equals(after)


def test_an_empty_partition_replaces_old_rows(store: LakeStore) -> None:
    store.publish(SPEC, "2026-11-01", frame(1, 5))
    store.publish(SPEC, "2026-11-01", frame(1, 0))
    assert store.scan(SPEC, ["2026-11-01"]).collect().height == 0
    assert store.partition_keys(SPEC) == ["2026-11-01"]


def test_a_write_that_fails_midway_keeps_the_previous_partition(store: LakeStore) -> None:
    store.publish(SPEC, "2026-11-01", frame(1, 100))

    def failing_stream():
        yield frame(2, 60)
        raise RuntimeError("source went away")

    with pytest.raises(RuntimeError, match="source went away"):
        store.publish(SPEC, "2026-11-01", failing_stream())
    kept = store.scan(SPEC, ["2026-11-01"]).collect()
    assert kept.height == 100 and kept["version"].unique().to_list() == [1]
    assert parquet_files(store) == store.files(SPEC), "the failed write's files were left"


def test_a_failed_audit_discards_the_staged_files_and_keeps_the_version(
    store: LakeStore,
) -> None:
    store.publish(SPEC, "2026-11-01", frame(1, 4))
    version = store.delta_table(SPEC).version()
    staged = store.stage(SPEC, "2026-11-01", frame(2, 9))
    assert store.scan_staged(staged).collect().height == 9
    assert store.scan(SPEC).collect()["version"].unique().to_list() == [1], "visible early"
    store.discard(staged)
    assert store.delta_table(SPEC).version() == version
    assert parquet_files(store) == store.files(SPEC)


def test_a_range_commits_in_one_version(store: LakeStore) -> None:
    store.publish(SPEC, "2026-11-01", frame(1, 2))
    staged = [store.stage(SPEC, day, frame(2, 3)) for day in ("2026-11-01", "2026-11-02")]
    published = store.commit_all(staged)
    assert {part.version for part in published} == {store.delta_table(SPEC).version()}
    assert store.scan(SPEC).collect()["version"].to_list() == [2] * 6


WRITER = textwrap.dedent(
    """
    import sys
    from lakehouse.storage import LakeStore
    from lakehouse_tests.test_storage import SPEC, frame
    store = LakeStore.from_url(sys.argv[1])
    version = int(sys.argv[2])
    print("ready", flush=True)
    while True:
        version += 1
        store.publish(SPEC, "2026-11-01", frame(version, 150_000 + version))
    """
)


def _assert_whole(store: LakeStore) -> int:
    data = store.scan(SPEC, ["2026-11-01"]).collect()
    versions = data["version"].unique().to_list()
    assert len(versions) == 1, f"a mix of versions {versions}"
    assert data.height == (150_000 + versions[0] if versions[0] > 1 else 1000)
    assert data["id"].n_unique() == data.height
    return versions[0]


def kill_writers(store: LakeStore, lake_url: str, delays: tuple[float, ...]) -> set[int]:
    """Start a writer that republishes 2026-11-01 in a loop and SIGKILL it after each delay;
    after each kill the partition must be whole. Returns the versions seen (needs more than
    one: a writer that never published proves nothing)."""
    store.publish(SPEC, "2026-11-01", frame(1, 1000))
    env = project_env()
    seen = set()
    for delay in delays:
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, lake_url, str((len(seen) + 1) * 1000)],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert writer.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        seen.add(_assert_whole(store))
    assert len(seen) > 1, "the writer never published: kill timing is off"
    return seen


def test_a_writer_killed_while_publishing_leaves_a_whole_partition(
    store: LakeStore, lake_url: str
) -> None:
    kill_writers(store, lake_url, (0.5, 1.0, 1.6, 2.2, 3.0))
    _assert_whole(store)
    live = store.files(SPEC)
    # What killed writers left is unreferenced litter; a full vacuum past the grace period
    # deletes it and every replaced file, never a live one.
    removed = store.vacuum(SPEC, retention_hours=0, dry_run=False)
    assert removed and not set(removed) & set(live)
    assert parquet_files(store) == live
    _assert_whole(store)


def test_writers_of_different_partitions_and_appenders_all_land(lake_url: str) -> None:
    LakeStore.from_url(lake_url).publish(SPEC, "2026-11-01", frame(0, 1))

    def publish_days(writer: int) -> None:
        store = LakeStore.from_url(lake_url)
        for version in range(1, 5):
            store.publish(SPEC, f"2026-11-0{writer + 2}", frame(version, 10 + writer))
            store.append(SPEC, "2026-11-01", frame(version, 1))

    with ThreadPoolExecutor(max_workers=3) as pool:
        failures = [f.exception() for f in [pool.submit(publish_days, n) for n in range(3)]]
    assert failures == [None, None, None]
    store = LakeStore.from_url(lake_url)
    counts = dict(
        store.scan(SPEC).group_by("event_date").len().sort("event_date").collect().iter_rows()
    )
    assert list(counts.values()) == [1 + 3 * 4, 10, 11, 12]
    assert store.scan(SPEC, ["2026-11-02"]).collect()["version"].unique().to_list() == [4]


def test_the_scratch_of_a_killed_step_is_removed_by_the_next_scratch(store: LakeStore) -> None:
    """Scratch lives on a local disk (under the lake when it is local); the table's next step
    that needs scratch space deletes a killed step's folder."""
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            KILLED_IN_SCRATCH,
            store.fs.uri(store.fs.root),
            store.scratch_fs.root,
        ],
        env=project_env(),
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL
    left = list(Path(store.scratch_fs.root).rglob("rows.parquet"))
    assert len(left) == 1, left
    with scratch_folder(store, SPEC, "2026-11-01") as folder:
        assert not left[0].parent.exists(), "the killed step's scratch folder is still there"
        assert Path(folder).is_dir()
    assert not Path(folder).exists()


KILLED_IN_SCRATCH = """
import os, signal, sys
from lakehouse.scratch import scratch_folder
from lakehouse.storage import LakeStore
from lakehouse_tests.test_storage import SPEC
store = LakeStore.from_url(sys.argv[1], scratch_dir=sys.argv[2])
with scratch_folder(store, SPEC, "2026-11-01") as folder:
    with open(os.path.join(folder, "rows.parquet"), "wb") as rows:
        rows.write(b"half a sort")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_scratch_of_other_hosts_is_removed_only_once_stale(store: LakeStore) -> None:
    """Process ids mean something only on their own host: pods sharing a scratch volume must
    not take each other's live folders for a dead writer's."""
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], check=True, capture_output=True
    )
    dead = int(finished.stdout)
    root = Path(store.scratch_fs.root, STAGING_DIR, *SPEC.path)

    def holder(owner: str, age: float = 0.0) -> Path:
        folder = root / f"scratch-2026-11-01.{owner}.{uuid.uuid4().hex}"
        folder.mkdir(parents=True)
        (folder / "part.parquet").write_bytes(b"half")
        stamp = time.time() - age
        os.utime(folder / "part.parquet", (stamp, stamp))
        return folder

    ours_dead = holder(f"{dead}@{HOST}")
    theirs_fresh = holder(f"{dead}@other-pod")
    theirs_stale = holder(f"{dead}@other-pod", age=STALE_STAGING_SECONDS + 60)
    with scratch_folder(store, SPEC, "2026-11-01") as folder:
        assert f".{os.getpid()}@{HOST}." in folder
        assert not ours_dead.exists() and not theirs_stale.exists()
        assert theirs_fresh.exists(), "another host's live writer lost its scratch folder"


def test_versions_read_the_past_and_restore_rolls_back(store: LakeStore) -> None:
    first = store.publish(SPEC, "2026-11-01", frame(1, 4))
    # `as_of` goes by the commit files' modification times: whole seconds on S3.
    time.sleep(1.1)
    between = dt.datetime.now(dt.UTC)
    time.sleep(1.1)
    store.publish(SPEC, "2026-11-01", frame(2, 2))
    assert store.scan(SPEC, version=first.version).collect()["version"].to_list() == [1] * 4
    assert store.scan(SPEC, as_of=between).collect()["version"].to_list() == [1] * 4
    store.restore(SPEC, first.version)
    assert store.scan(SPEC).collect()["version"].to_list() == [1] * 4
    operations = [entry["operation"] for entry in store.history(SPEC)]
    assert operations[0] == "RESTORE" and operations.count("WRITE") == 2


def test_a_retired_partition_leaves_the_table_and_stays_in_its_history(
    store: LakeStore,
) -> None:
    store.publish(SPEC, "2026-11-01", frame(1, 3))
    kept = store.publish(SPEC, "2026-11-02", frame(1, 4))
    assert store.retire(SPEC, "2026-11-01") == store.partition_dir(SPEC, "2026-11-01")
    assert store.partition_keys(SPEC) == ["2026-11-02"]
    assert store.scan(SPEC).collect().height == 4
    assert store.scan(SPEC, version=kept.version).collect().height == 7
    assert store.retire(SPEC, "2026-11-01") is None


def test_a_new_nullable_column_reads_null_in_old_partitions(store: LakeStore) -> None:
    store.publish(SPEC, "2026-11-01", frame(1, 3))
    wider = dataclasses.replace(SPEC, schema={**SPEC.schema, "note": pl.String()})
    LakeStore.from_url(store.fs.uri(store.fs.root)).publish(
        wider, "2026-11-02", frame(2, 2).with_columns(note=pl.lit("new"))
    )
    reread = LakeStore.from_url(store.fs.uri(store.fs.root))
    data = reread.scan(wider).collect().sort("event_date")
    assert data["note"].to_list() == [None, None, None, "new", "new"]
    delta_rows = pl.scan_delta(reread.table_uri(wider), storage_options=reread.delta_options())
    assert delta_rows.collect()["note"].null_count() == 3
    # Old partitions were not rewritten.
    assert len(reread.files(wider, ["2026-11-01"])) == 1


@pytest.mark.parametrize(
    ("change", "column"),
    [
        ({"version": pl.Float64()}, "'version'"),
        ({"id": pl.Int64(), "version": pl.Int64()}, "'payload'"),
    ],
)
def test_a_changed_or_dropped_column_is_refused_naming_it(
    store: LakeStore, change: dict, column: str
) -> None:
    store.publish(SPEC, "2026-11-01", frame(1, 3))
    schema = {**SPEC.schema, **change} if len(change) == 1 else change
    changed = dataclasses.replace(SPEC, schema=schema)
    reread = LakeStore.from_url(store.fs.uri(store.fs.root))
    with pytest.raises(SchemaChangeRefused, match=f"silver.things: column.*{column}"):
        reread.publish(changed, "2026-11-02", pl.DataFrame(schema=changed.polars_schema))
    assert reread.scan(SPEC).collect().height == 3


def test_a_lake_folder_of_an_earlier_version_is_named_with_the_fix(tmp_path: Path) -> None:
    folder = tmp_path / "lake" / "silver" / "things" / "event_date=2026-11-01"
    folder.mkdir(parents=True)
    frame(1, 2).write_parquet(folder / "part-0.parquet")
    store = LakeStore.local(tmp_path / "lake")
    with pytest.raises(NotADeltaTable, match="lakehouse build --full"):
        store.scan(SPEC)


@pytest.mark.parametrize(
    "key", ["../x", "/abs", "a=b", "", "2026-13-01", "2026-1-1", "2026-11-01/..", None, 20261101]
)
def test_bad_partition_keys_are_refused_before_touching_disk(store: LakeStore, key: object) -> None:
    with pytest.raises(InvalidPartitionKey):
        store.publish(SPEC, key, frame(1, 1))  # type: ignore[arg-type]
    assert not parquet_files(store)


def test_bad_table_names_are_refused() -> None:
    for name in ("../etc", "Things", "a/b", ""):
        with pytest.raises(ValueError, match="invalid"):
            TableSpec(layer="silver", name=name, schema={"id": pl.Int64()})


def test_null_or_foreign_partition_values_never_reach_a_folder(store: LakeStore) -> None:
    rows = frame(1, 3).with_columns(event_date=pl.Series([None, None, None], dtype=pl.Date))
    with pytest.raises(InvalidPartitionKey, match="NULL"):
        store.publish(SPEC, "2026-11-01", rows)
    other = frame(1, 3).with_columns(event_date=pl.lit("2026-11-02").str.to_date())
    with pytest.raises(InvalidPartitionKey):
        store.publish(SPEC, "2026-11-01", other)
    assert not parquet_files(store) and not store.files(SPEC)
    assert not [path for path in parquet_files(store) if HIVE_NULL_FOLDER in path]


def test_frames_must_match_the_table_schema(store: LakeStore) -> None:
    with pytest.raises(SchemaMismatch, match="missing columns: \\['payload'\\]"):
        store.publish(SPEC, "2026-11-01", frame(1, 2).drop("payload"))
    with pytest.raises(SchemaMismatch, match="unexpected columns: \\['extra'\\]"):
        store.publish(SPEC, "2026-11-01", frame(1, 2).with_columns(extra=pl.lit(1)))


def test_scans_open_only_the_requested_partitions(store: LakeStore) -> None:
    for day, version in (("2026-11-01", 1), ("2026-11-02", 2), ("2026-11-03", 3)):
        store.publish(SPEC, day, frame(version, 10))
    [broken] = store.files(SPEC, ["2026-11-02"])
    with store.fs.open_output(broken) as out:
        out.write(b"not parquet at all")
    pruned = store.scan(SPEC, ["2026-11-01", "2026-11-03"]).collect()
    assert sorted(pruned["version"].unique().to_list()) == [1, 3]
    assert store.scan(SPEC, ["2026-11-04"]).collect().height == 0
    with pytest.raises(Exception):  # noqa: B017 - whatever Polars raises for a corrupt file
        store.scan(SPEC, ["2026-11-02"]).collect()


def test_unpartitioned_tables_replace_the_whole_table(store: LakeStore) -> None:
    store.publish(UNPARTITIONED, None, pl.DataFrame({"id": [1, 2, 3]}))
    store.publish(UNPARTITIONED, None, pl.DataFrame({"id": [4]}))
    assert store.scan(UNPARTITIONED).collect()["id"].to_list() == [4]
    with pytest.raises(InvalidPartitionKey):
        store.publish(UNPARTITIONED, "2026-11-01", pl.DataFrame({"id": [1]}))


def test_large_partitions_are_split_into_files(tmp_path: Path) -> None:
    store = LakeStore.local(tmp_path / "lake")
    store.max_file_rows = 50_000
    result = store.publish(SPEC, "2026-11-01", frame(1, 200_000).lazy())
    assert result.files >= 2
    assert store.scan(SPEC).select(pl.len()).collect().item() == 200_000


EVENTS = TableSpec(
    layer="silver",
    name="events",
    schema={
        "event_id": pl.String(),
        "event_ts": pl.Datetime("us", "UTC"),
        "arrival": pl.Date(),
        "line": pl.Int64(),
        "payload": pl.String(),
    },
    partition_column="event_date",
    sort_by=("event_ts",),
)


def test_stage_sorted_deduplicates_and_orders_beyond_duckdb_memory_limit(store) -> None:
    """A partition several times DuckDB's memory limit is deduplicated (first arrival wins) and
    sorted exactly as Polars would in memory, and stays invisible until committed."""
    rows = 800_000
    index = pl.int_range(0, rows)
    ids = index % 720_000  # 80,000 ids arrive twice
    data = (
        pl.select(
            event_id=ids.cast(pl.String).str.zfill(8),
            event_ts=pl.lit(dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
            + pl.duration(milliseconds=(ids * 7919) % 86_400_000),
            arrival=pl.lit(dt.date(2026, 11, 1)) + pl.duration(days=index // 720_000),
            line=index,
            payload=pl.lit("x" * 120) + index.cast(pl.String),
        )
        .cast({"arrival": pl.Date()})
        .sample(fraction=1.0, shuffle=True, seed=3)
    )
    assert data.estimated_size() > 110 * 2**20
    expected = (
        data.sort("event_id", "arrival", "line")
        .unique("event_id", keep="first", maintain_order=True)
        .sort("event_ts", "event_id")
    )
    keep_first = KeepFirst("event_id", ("arrival", "line"))
    with (
        duckdb.connect(config={"memory_limit": "100MB", "threads": 2}) as con,
        scratch_folder(store, EVENTS, "2026-11-01") as folder,
    ):
        rows_file = f"{folder}/rows.parquet"
        with scratch_writer(store, rows_file, arrow_schema(EVENTS.polars_schema)) as writer:
            writer.write_table(data.to_arrow())
        result = stage_sorted(store, con, EVENTS, "2026-11-01", rows_file, keep_first)
    assert (result.rows_in, result.duplicates, result.staged.rows) == (rows, 80_000, 720_000)
    assert store.files(EVENTS) == [], "staged, not yet visible"
    store.commit(result.staged)
    published = store.scan(EVENTS, ["2026-11-01"]).drop("event_date").collect()
    assert published.equals(expected)
    assert not list(Path(store.scratch_fs.root).glob("_staging/silver/events/scratch-*"))
