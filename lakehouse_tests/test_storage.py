"""The store: atomic partition replace, pruning, validation, and leftovers of killed writers."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import duckdb
import polars as pl
import pytest

from lakehouse.storage import InvalidPartitionKey, LakeStore, SchemaMismatch, TableSpec
from lakehouse.storage.paths import HIVE_NULL_FOLDER
from lakehouse.storage.sorting import stage_sorted
from lakehouse.storage.store import HOST, STAGING_DIR, STALE_STAGING_SECONDS, arrow_schema
from lakehouse.transforms.rules import KeepFirst
from lakehouse_tests.servers import project_env

SPEC = TableSpec(
    layer="silver",
    name="things",
    schema={"id": pl.Int64(), "version": pl.Int64(), "payload": pl.String()},
    partition_column="event_date",
)
UNPARTITIONED = TableSpec(layer="gold", name="dim", schema={"id": pl.Int64()})


def frame(version: int, rows: int) -> pl.DataFrame:
    return pl.DataFrame(
        {"id": range(rows), "version": [version] * rows, "payload": [f"v{version}"] * rows}
    )


@pytest.fixture
def store(tmp_path: Path) -> LakeStore:
    return LakeStore.local(tmp_path / "lake")


def test_publish_writes_a_hive_partition_readable_by_duckdb_and_polars(store: LakeStore) -> None:
    result = store.publish(SPEC, "2026-11-01", frame(1, 10))
    assert result.rows == 10 and result.files == 1 and result.bytes > 0
    folder = Path(result.path)
    assert folder.name == "event_date=2026-11-01"
    [file] = folder.iterdir()
    assert file.name.startswith("part-") and file.suffix == ".parquet"
    root = Path(store.table_dir(SPEC))
    count, day = duckdb.sql(
        "SELECT count(*), any_value(event_date)::VARCHAR "
        "FROM read_parquet(?, hive_partitioning = true)",
        params=[str(root / "**" / "*.parquet")],
    ).fetchall()[0]
    assert (count, day) == (10, "2026-11-01")
    scanned = pl.scan_parquet(root, hive_partitioning=True).collect()
    assert scanned.schema["event_date"] == pl.Date()


def test_republishing_replaces_exactly_that_partition(store: LakeStore) -> None:
    store.publish(SPEC, "2026-11-01", frame(1, 10))
    store.publish(SPEC, "2026-11-02", frame(1, 7))
    store.publish(SPEC, "2026-11-01", frame(2, 3))
    first = store.scan(SPEC, ["2026-11-01"]).collect()
    assert first["version"].to_list() == [2, 2, 2]
    assert len(store.files(SPEC, ["2026-11-01"])) == 1
    assert store.scan(SPEC, ["2026-11-02"]).collect()["version"].unique().to_list() == [1]
    assert not any(Path(store.fs.path(STAGING_DIR)).rglob("*.parquet"))


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
    assert not list(Path(store.fs.path(STAGING_DIR)).rglob("*.parquet"))


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
            [sys.executable, "-c", WRITER, lake_url, str(len(seen) * 1000)],
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


def test_a_writer_killed_while_publishing_leaves_a_whole_partition(store: LakeStore) -> None:
    lake = store.fs.root
    kill_writers(store, lake, (0.3, 0.7, 1.1, 1.6, 2.2))
    # The next write removes what the killed writers left in staging.
    store.publish(SPEC, "2026-11-02", frame(1, 1))
    assert not any(Path(lake, STAGING_DIR).rglob("*.parquet"))
    _assert_whole(store)


def test_staging_of_other_hosts_is_removed_only_once_stale(store: LakeStore) -> None:
    """Process ids mean something only on their own host: pods sharing a scratch volume must
    not take each other's live folders for a dead writer's."""
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], check=True, capture_output=True
    )
    dead = int(finished.stdout)
    root = Path(store.fs.root, STAGING_DIR, *SPEC.path)

    def holder(owner: str, age: float = 0.0) -> Path:
        folder = root / f"2026-11-01.{owner}.{uuid.uuid4().hex}"
        folder.mkdir(parents=True)
        (folder / "part.parquet").write_bytes(b"half")
        stamp = time.time() - age
        os.utime(folder / "part.parquet", (stamp, stamp))
        return folder

    ours_dead = holder(f"{dead}@{HOST}")
    theirs_fresh = holder(f"{dead}@other-pod")
    theirs_stale = holder(f"{dead}@other-pod", age=STALE_STAGING_SECONDS + 60)
    store.publish(SPEC, "2026-11-02", frame(1, 1))
    assert not ours_dead.exists() and not theirs_stale.exists()
    assert theirs_fresh.exists(), "another host's live writer lost its staging folder"
    with store.scratch(SPEC, "2026-11-01") as folder:
        assert f".{os.getpid()}@{HOST}." in folder


@pytest.mark.parametrize(
    "key", ["../x", "/abs", "a=b", "", "2026-13-01", "2026-1-1", "2026-11-01/..", None, 20261101]
)
def test_bad_partition_keys_are_refused_before_touching_disk(store: LakeStore, key: object) -> None:
    with pytest.raises(InvalidPartitionKey):
        store.publish(SPEC, key, frame(1, 1))  # type: ignore[arg-type]
    assert not Path(store.fs.root).exists() or not any(Path(store.fs.root).rglob("*.parquet"))


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
    assert not list(Path(store.fs.root).rglob(f"*{HIVE_NULL_FOLDER}*"))
    assert not Path(store.table_dir(SPEC)).exists()


def test_frames_must_match_the_table_schema(store: LakeStore) -> None:
    with pytest.raises(SchemaMismatch, match="missing columns: \\['payload'\\]"):
        store.publish(SPEC, "2026-11-01", frame(1, 2).drop("payload"))
    with pytest.raises(SchemaMismatch, match="unexpected columns: \\['extra'\\]"):
        store.publish(SPEC, "2026-11-01", frame(1, 2).with_columns(extra=pl.lit(1)))


def test_scans_open_only_the_requested_partitions(store: LakeStore) -> None:
    for day, version in (("2026-11-01", 1), ("2026-11-02", 2), ("2026-11-03", 3)):
        store.publish(SPEC, day, frame(version, 10))
    [broken] = store.files(SPEC, ["2026-11-02"])
    Path(broken).write_bytes(b"not parquet at all")
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
        store.scratch(EVENTS, "2026-11-01") as folder,
    ):
        rows_file = f"{folder}/rows.parquet"
        with store.parquet_writer(rows_file, arrow_schema(EVENTS.polars_schema)) as writer:
            writer.write_table(data.to_arrow())
        result = stage_sorted(store, con, EVENTS, "2026-11-01", rows_file, keep_first)
    assert (result.rows_in, result.duplicates, result.staged.rows) == (rows, 80_000, 720_000)
    assert store.files(EVENTS) == [], "staged, not yet visible"
    store.commit(result.staged)
    published = store.scan(EVENTS, ["2026-11-01"]).drop("event_date").collect()
    assert published.equals(expected)
    assert not list(Path(store.fs.root).glob("_staging/silver/events/scratch-*")), "scratch kept"
