"""Maintenance: compaction with a concurrent reader, clustering, retention, vacuum, dry runs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from lakehouse import tables
from lakehouse.bench.workloads import write_tiny_orders
from lakehouse.defs.maintenance import forget_in
from lakehouse.maintenance import compaction
from lakehouse.maintenance.run import maintain
from lakehouse.ml import registry
from lakehouse.partitions import day_range, range_tags
from lakehouse.scratch import HOST, STAGING_DIR
from lakehouse.storage import LakeStore
from lakehouse.table_spec import TableSpec
from lakehouse_tests.conftest import BRONZE_ASSETS, PARTITIONING, resources_for

FACTS = TableSpec(
    layer="gold",
    name="facts",
    schema={"sale_id": pl.Int64(), "customer_id": pl.String(), "amount": pl.Float64()},
    partition_column="sale_date",
    sort_by=("customer_id",),
)
DAY = "2026-11-02"
LATER = dt.date(2026, 12, 1)


def small_files(store: LakeStore, count: int, rows: int = 40) -> pl.DataFrame:
    parts = []
    for index in range(count):
        part = pl.DataFrame(
            {
                "sale_id": range(index * rows, (index + 1) * rows),
                "customer_id": [f"C{(index * 7 + i) % 97:03d}" for i in range(rows)],
                "amount": [float(i) for i in range(rows)],
            }
        )
        store.append(FACTS, DAY, part)
        parts.append(part)
    return pl.concat(parts)


def tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")}


def test_compaction_keeps_every_row_while_a_reader_reads(tmp_path: Path) -> None:
    store = LakeStore.local(tmp_path / "lake")
    written = small_files(store, 300)
    assert len(store.files(FACTS, [DAY])) == 300

    def live_checksum(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
        """Row count and an order-independent hash of the rows a reader of the current version
        sees (the files the log lists now)."""
        files = ", ".join(f"'{path}'" for path in store.files(FACTS, [DAY]))
        row_hash = "sum(hash(sale_id, customer_id, amount))::HUGEINT"
        query = f"SELECT count(*), {row_hash} FROM read_parquet([{files}])"
        rows, total = con.execute(query).fetchone()
        return int(rows), int(total)

    with duckdb.connect() as con:
        expected = live_checksum(con)
    assert expected[0] == written.height

    seen, failures, done = [], [], threading.Event()

    def read_continuously() -> None:
        with duckdb.connect() as reader:
            while not done.is_set():
                try:
                    seen.append(live_checksum(reader))
                except Exception as error:  # noqa: BLE001 - any failure is a finding
                    failures.append(repr(error))

    thread = threading.Thread(target=read_continuously)
    thread.start()
    try:
        actions = maintain(store, ["compact"], specs=[FACTS], today=LATER)
    finally:
        done.set()
        thread.join()
    assert [(a.operation, a.partition, a.files_before, a.files_after) for a in actions] == [
        ("compact", DAY, 300, 1)
    ]
    assert seen and all(result == expected for result in seen), "never missing or doubled rows"
    # A version's files stay until vacuum: a reader of the old version never fails.
    assert not failures, failures[:3]
    with duckdb.connect() as con:
        assert live_checksum(con) == expected
    assert len(store.files(FACTS, [DAY])) == 1
    history = store.scan(tables.MAINTENANCE_HISTORY).collect()
    assert history.select(
        "operation", "table", "partition", "files_before", "files_after"
    ).rows() == [("compact", "gold.facts", DAY, 300, 1)]
    # Compaction Z-ordered the partition: nothing left to do, a second run changes nothing.
    assert maintain(store, ["compact", "cluster"], specs=[FACTS], today=LATER) == []


def test_a_table_without_sort_keys_is_compacted_by_delta(tmp_path: Path) -> None:
    plain = dataclasses.replace(FACTS, name="plain_facts", sort_by=())
    store = LakeStore.local(tmp_path / "lake")
    for index in range(20):
        store.append(
            plain, DAY, pl.DataFrame({"sale_id": [index], "customer_id": ["C"], "amount": [1.0]})
        )
    before = store.scan(plain).collect().sort("sale_id")
    [action] = maintain(store, ["compact"], specs=[plain], today=LATER)
    assert (action.files_before, action.files_after, action.rows) == (20, 1, 20)
    assert store.scan(plain).collect().sort("sale_id").equals(before)
    [latest, *_] = store.history(plain)
    assert latest["operation"] == "OPTIMIZE"


def test_a_rewrite_loses_to_a_writer_that_changed_the_table_meanwhile(tmp_path: Path) -> None:
    store = LakeStore.local(tmp_path / "lake")
    small_files(store, 3)
    [candidate] = compaction.plan(store, [FACTS], "compact", target_bytes=2**30)
    store.publish(FACTS, DAY, pl.DataFrame({"sale_id": [1], "customer_id": ["Z"], "amount": [2.0]}))
    action = compaction.rewrite(store, candidate, "compact", 2**30)
    assert action.detail.startswith("skipped")
    assert store.scan(FACTS).collect()["customer_id"].to_list() == ["Z"], "the newer publish won"
    assert len(store.files(FACTS)) == 1


def test_clustering_z_orders_a_partition_grown_by_appends(tmp_path: Path) -> None:
    store = LakeStore.local(tmp_path / "lake")
    rows = pl.DataFrame(
        {
            "sale_id": range(5000),
            "customer_id": [f"C{(i * 7919) % 500:03d}" for i in range(5000)],
            "amount": [1.0] * 5000,
        }
    )
    # One publish writes a partition in its table's order: nothing to cluster.
    store.publish(FACTS, DAY, rows.sort("customer_id"))
    assert compaction.plan(store, [FACTS], "cluster") == []
    for part in rows.iter_slices(1000):  # appends, each in its own commit, out of order
        time.sleep(0.002)  # distinct commit times
        store.append(FACTS, "2026-11-03", part)
    [candidate] = compaction.plan(store, [FACTS], "cluster")
    assert candidate.reason == "5 of 5 files appended since it was last clustered by customer_id"
    dry = maintain(store, ["cluster"], specs=[FACTS], today=LATER, dry_run=True)
    assert [action.operation for action in dry] == ["cluster"]
    maintain(store, ["cluster"], specs=[FACTS], today=LATER)
    clustered = store.scan(FACTS, ["2026-11-03"]).collect()
    assert clustered["customer_id"].is_sorted()  # Z-order on one key is a sort
    assert clustered.height == 5000 and set(clustered["sale_id"]) == set(range(5000))
    [latest, *_] = store.history(FACTS)
    assert (latest["operation"], latest["lakehouse.operation"]) == ("OPTIMIZE", "cluster")
    assert compaction.plan(store, [FACTS], "cluster") == []
    # A later append makes it a candidate again.
    time.sleep(0.002)
    store.append(FACTS, "2026-11-03", rows.head(3).with_columns(sale_id=pl.col("sale_id") + 9000))
    [again] = compaction.plan(store, [FACTS], "cluster")
    assert again.reason == "1 of 2 files appended since it was last clustered by customer_id"


def test_retention_removes_exactly_the_expired_partitions_and_dagster_forgets_them(
    tmp_path: Path,
) -> None:
    first = PARTITIONING.first_day
    days = day_range(first.isoformat(), (first + dt.timedelta(days=4)).isoformat())
    write_tiny_orders(tmp_path / "landing", days)
    orders = next(a for a in BRONZE_ASSETS if a.key == dg.AssetKey(["bronze", "orders"]))
    store = LakeStore.local(tmp_path / "lake")
    today = first + dt.timedelta(days=90 + 3)  # bronze keeps 90 days: the first 3 expire
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [orders],
            resources=resources_for(tmp_path),
            instance=instance,
            tags=range_tags(days[0], days[-1]),
        )
        assert result.success
        before = tree(tmp_path / "lake" / "bronze")
        planned = maintain(store, ["retention"], today=today, dry_run=True)
        assert tree(tmp_path / "lake" / "bronze") == before, "a dry run changes nothing"
        done = maintain(store, ["retention"], today=today, forget=forget_in(instance))
        expired = {(a.table, a.partition) for a in done if a.table == "bronze.orders"}
        assert expired == {("bronze.orders", day) for day in days[:3]}
        assert {(a.table, a.partition) for a in planned} == {(a.table, a.partition) for a in done}
        assert store.partition_keys(tables.BRONZE_ORDERS) == days[3:]
        materialized = instance.get_materialized_partitions(dg.AssetKey(["bronze", "orders"]))
        assert materialized == set(days[3:])
    history = store.scan(tables.MAINTENANCE_HISTORY).collect()
    assert set(history.filter(pl.col("table") == "bronze.orders")["partition"]) == set(days[:3])


def test_vacuum_deletes_old_leftovers_only_and_never_a_live_file(tmp_path: Path) -> None:
    store = LakeStore.local(tmp_path / "lake")
    small_files(store, 3)
    replaced = store.history(FACTS)[0]["version"]
    store.publish(FACTS, DAY, pl.DataFrame({"sale_id": [9], "customer_id": ["C"], "amount": [1.0]}))
    live = set(store.files(FACTS))
    old = time.time() - 8 * 86400
    lake = tmp_path / "lake"
    dead_writer = Path(store.partition_dir(FACTS, DAY)) / f"part-{'d' * 32}.parquet"
    dead_writer.write_bytes(b"written, never committed")
    scratch = lake / STAGING_DIR / "gold" / "facts"
    dead_step = scratch / f"scratch-2026-11-03.999999@{HOST}.{'a' * 32}"
    dead_step.mkdir(parents=True)
    (dead_step / "rows.parquet").write_bytes(b"half a sort")
    fresh = scratch / f"scratch-2026-11-04.999998@{HOST}.{'b' * 32}"
    fresh.mkdir(parents=True)
    (fresh / "rows.parquet").write_bytes(b"a step at work")
    empty = Path(store.table_dir(FACTS)) / "sale_date=2026-11-09"
    empty.mkdir()
    for path in [dead_writer, dead_step / "rows.parquet", dead_step, empty]:
        os.utime(path, (old, old))
    before = tree(lake)
    planned = maintain(store, ["vacuum"], specs=[FACTS], dry_run=True)
    assert tree(lake) == before, "a dry run changes nothing"
    done = maintain(store, ["vacuum"], specs=[FACTS])
    assert sorted(a.table for a in planned) == sorted(a.table for a in done)
    assert len(done) == 3, [a.describe() for a in done]
    assert not dead_writer.exists() and not dead_step.exists() and not empty.exists()
    assert fresh.exists(), "within the grace period"
    # The files the last publish replaced are within the grace period: the old version reads.
    assert store.scan(FACTS, version=replaced).collect().height == 3 * 40
    assert set(store.files(FACTS)) == live
    maintain(store, ["vacuum"], specs=[FACTS], grace=dt.timedelta(0))
    parquet = {str(p) for p in (lake / "gold").rglob("*.parquet") if "_delta_log" not in p.parts}
    assert parquet == live, "past the grace period only live files stay"


def test_vacuum_deletes_models_never_promoted_past_grace_and_keeps_promoted_ones(
    tmp_path: Path,
) -> None:
    store = LakeStore.local(tmp_path / "lake")
    models = tmp_path / "lake" / "ml" / "sentiment_model"
    old = time.time() - 8 * 86400
    for version, promoted in (("v-promoted", True), ("v-failed", False), ("v-recent", False)):
        registry.record(store, {"model_version": version, "promoted": promoted})
    for version in ("v-promoted", "v-failed", "v-recent", "v-unrecorded"):
        (models / version).mkdir(parents=True)
        (models / version / "model.json").write_text("{}")
        if version != "v-recent":
            os.utime(models / version / "model.json", (old, old))
    planned = maintain(store, ["vacuum"], specs=[], dry_run=True)
    assert len(list(models.iterdir())) == 4, "a dry run changes nothing"
    done = maintain(store, ["vacuum"], specs=[])
    assert sorted(a.table for a in planned) == sorted(a.table for a in done)
    assert sorted(a.table for a in done) == [
        "ml/sentiment_model/v-failed",
        "ml/sentiment_model/v-unrecorded",
    ]
    assert sorted(p.name for p in models.iterdir()) == ["v-promoted", "v-recent"]


def test_the_maintenance_job_and_command_dry_run_change_nothing(tmp_path: Path) -> None:
    from lakehouse.defs.maintenance import maintenance_job
    from lakehouse_tests.test_cli import run

    store = LakeStore.local(tmp_path / "lake")
    small_files(store, 5)
    sales = tables.GOLD_FACT_SALES
    store.publish(sales, DAY, pl.DataFrame(schema=sales.polars_schema))
    stray = Path(store.partition_dir(sales, DAY)) / "notes.txt"
    stray.write_text("old")
    old = time.time() - 8 * 86400
    os.utime(stray, (old, old))
    before = tree(tmp_path / "lake")
    with dg.instance_for_test() as instance:
        result = maintenance_job.execute_in_process(
            instance=instance,
            resources=resources_for(tmp_path),
            run_config={"ops": {"maintain_lake": {"config": {"dry_run": True}}}},
        )
    assert result.success
    (step,) = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = step.event_specific_data.metadata
    assert metadata["dry_run"].value is True and metadata["vacuum"].value == 1
    assert tree(tmp_path / "lake") == before
    listed = run(["maintain", "vacuum", "--dry-run"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "would vacuum" in listed.stdout and "notes.txt" in listed.stdout
    assert tree(tmp_path / "lake") == before
    done = run(["maintain", "vacuum"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert not stray.exists()
    bad = run(["maintain", "shrink"], tmp_path)
    assert bad.returncode == 2 and "unknown operation" in bad.stderr
