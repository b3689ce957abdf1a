"""Landing files that break the contract: good rows go on, bad rows go to quarantine with a
reason, and a file that cannot be read fails the run with its name."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from lakehouse import partitions, tables
from lakehouse.landing.reader import LandingFileError
from lakehouse.money import MONEY
from lakehouse.storage import LakeStore
from lakehouse_tests.conftest import (
    BRONZE_ASSETS,
    FIRST_DAY,
    asset_named,
    range_tags,
    resources_for,
)

BRONZE_EVENTS = next(a for a in BRONZE_ASSETS if a.key.path == ["bronze", "app_events"])
BRONZE_ORDERS = next(a for a in BRONZE_ASSETS if a.key.path == ["bronze", "orders"])
SILVER_APP_EVENTS = asset_named("silver", "app_events")


def event(n: int, **changes) -> dict:
    record = {
        "event_id": f"e-{n}",
        "user_id": "C0000001",
        "event_type": "page_view",
        "event_ts": f"{FIRST_DAY}T10:{n:02d}:00+02:00",
        "device": "web",
        "app_version": "3.2.0",
        "latency_ms": 100 + n,
        "properties": {"page": "/x"},
    }
    record.update(changes)
    return record


def write_events(folder: Path) -> None:
    folder.mkdir(parents=True)
    lines = [
        json.dumps(event(1)).encode(),
        b'{"event_id": "e-2", "user_id": ',  # line 2: cut off
        json.dumps(event(3, latency_ms="slow")).encode(),  # line 3: wrong type
        b"",  # line 4: blank
        b"[1, 2, 3]",  # line 5: JSON but not an object
        json.dumps(event(6, user_id="C\u00e9")).encode()[:-3] + b'\xff\xfe"}',  # 6: bad UTF-8
        json.dumps(event(7, campaign="spring")).encode(),  # line 7: unexpected key, kept
        json.dumps(event(8, latency_ms=10**20)).encode(),  # line 8: out of BIGINT range
        json.dumps(event(9, event_ts="yesterday")).encode(),  # line 9: not a timestamp
        json.dumps(event(10, latency_ms=None, properties=None)).encode(),  # line 10: nulls ok
        json.dumps(event(11, event_type="teleport")).encode(),  # line 11: odd value
    ]
    (folder / "events-00.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (folder / "events-01.jsonl").write_bytes(b"")
    (folder / "events-02.jsonl.gz").write_bytes(gzip.compress(b"", mtime=0))
    (folder / "events-03.jsonl.gz").write_bytes(
        gzip.compress(json.dumps(event(12)).encode() + b"\n", mtime=0)
    )
    (folder / "README.txt").write_text("not a data file")


def materialize(assets, root: Path, instance: dg.DagsterInstance, **kwargs):
    return dg.materialize(
        assets,
        partition_key=FIRST_DAY,
        resources=resources_for(root),
        instance=instance,
        **kwargs,
    )


def test_bad_lines_are_quarantined_and_good_rows_reach_silver(tmp_path: Path) -> None:
    write_events(tmp_path / "landing" / "app_events" / FIRST_DAY)
    with dg.instance_for_test() as instance:
        result = materialize([BRONZE_EVENTS, SILVER_APP_EVENTS], tmp_path, instance)
    assert result.success
    store = LakeStore.local(tmp_path / "lake")
    bronze = store.scan(tables.BRONZE_APP_EVENTS).collect()
    assert sorted(bronze["event_id"]) == ["e-1", "e-10", "e-11", "e-12", "e-7"]
    assert bronze.filter(pl.col("event_id") == "e-7")["_extra"].item() == '{"campaign":"spring"}'
    assert bronze.filter(pl.col("event_id") == "e-1")["event_ts"].dt.hour().item() == 8
    rejected = store.scan(tables.BRONZE_QUARANTINE["app_events"]).collect().sort("_source_line")
    reasons = dict(zip(rejected["_source_line"], rejected["_reason"], strict=True))
    assert set(reasons) == {2, 3, 5, 6, 8, 9}
    assert reasons[2] == "invalid JSON"
    assert reasons[3] == "latency_ms: cannot read 'slow' as integer"
    assert reasons[5] == "not a JSON object"
    assert reasons[6].startswith("line is not valid UTF-8")
    assert reasons[8].startswith("latency_ms: cannot read '100000000000000000000'")
    assert reasons[9] == "event_ts: cannot read 'yesterday' as timestamp"
    assert set(rejected["_source_file"]) == {f"app_events/{FIRST_DAY}/events-00.jsonl"}
    assert (
        rejected.filter(pl.col("_source_line") == 3)["_raw"].item().startswith('{"event_id": "e-3"')
    )
    silver = store.scan(tables.SILVER_APP_EVENTS).collect()
    assert sorted(silver["event_id"]) == ["e-1", "e-10", "e-12", "e-7"]
    odd = store.scan(tables.SILVER_APP_EVENTS_QUARANTINE).collect()
    assert odd["event_id"].to_list() == ["e-11"] and odd["_rule"].to_list() == ["allowed_values"]
    metadata = result.asset_materializations_for_node("bronze__app_events")[0].metadata
    assert metadata["ignored_files"].value == 1 and metadata["blank_lines"].value == 1


def test_a_truncated_gzip_fails_the_run_naming_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "landing" / "app_events" / FIRST_DAY
    write_events(folder)
    with dg.instance_for_test() as instance:
        assert materialize([BRONZE_EVENTS], tmp_path, instance).success
        before = LakeStore.local(tmp_path / "lake").scan(tables.BRONZE_APP_EVENTS).collect()
        whole = gzip.compress(b"\n".join(json.dumps(event(n)).encode() for n in range(40)))
        (folder / "events-04.jsonl.gz").write_bytes(whole[: len(whole) // 2])
        with pytest.raises(dg.Failure) as failure:
            materialize([BRONZE_EVENTS], tmp_path, instance)
    assert isinstance(failure.value.__cause__, LandingFileError)
    assert failure.value.allow_retries is False  # retrying cannot fix a broken file
    message = failure.value.description
    assert f"app_events/{FIRST_DAY}/events-04.jsonl.gz" in message
    assert "gzip" in message
    after = LakeStore.local(tmp_path / "lake").scan(tables.BRONZE_APP_EVENTS).collect()
    assert after.equals(before)


def test_a_csv_without_required_columns_fails_naming_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "landing" / "orders" / FIRST_DAY
    folder.mkdir(parents=True)
    (folder / "orders-1.csv").write_text("order_id,customer_id\nO1,C1\n")
    with dg.instance_for_test() as instance, pytest.raises(dg.Failure) as failure:
        materialize([BRONZE_ORDERS], tmp_path, instance)
    assert isinstance(failure.value.__cause__, LandingFileError)
    message = failure.value.description
    assert f"orders/{FIRST_DAY}/orders-1.csv: line 1" in message
    assert "product_id" in message


def test_csv_rows_with_wrong_shape_or_types_are_quarantined(tmp_path: Path) -> None:
    folder = tmp_path / "landing" / "orders" / FIRST_DAY
    folder.mkdir(parents=True)
    header = (
        "order_id,customer_id,product_id,quantity,unit_price,currency,status,order_ts,updated_at"
    )
    ts = f"{FIRST_DAY}T10:00:00Z"
    rows = [
        f"O1,C1,P1,2,9.99,USD,paid,{ts},{ts}",
        f"O2,C1,P1,2,9.99,USD,paid,{ts}",  # line 3: a field short
        f"O3,C1,P1,2.5,9.99,USD,paid,{ts},{ts}",  # line 4: not an integer
        f'O4,C1,P1,1,"1,5",USD,paid,{ts},{ts}',  # line 5: decimal comma
        "",  # line 6: blank
        f'"O5","C1","P1","3","4.00","EUR","placed","{ts}","{ts}"',  # quoted is fine
        f"O6,C1,P1,1,1.005,USD,paid,{ts},{ts}",  # line 8: sub-cent digits are never rounded
        f"O7,C1,P1,1,1e3,USD,paid,{ts},{ts}",  # line 9: not plain digits
        f"O8,C1,P1,1, 19.990 ,USD,paid,{ts},{ts}",  # trailing zeros are exact: 19.99
    ]
    (folder / "orders-1.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    (folder / "orders-2.csv").write_text("")  # an empty file is an empty file
    with dg.instance_for_test() as instance:
        assert materialize([BRONZE_ORDERS], tmp_path, instance).success
    store = LakeStore.local(tmp_path / "lake")
    bronze = store.scan(tables.BRONZE_ORDERS).collect().sort("order_id")
    assert bronze["order_id"].to_list() == ["O1", "O5", "O8"]
    # Prices are read from their text as DECIMAL(18,2), exactly.
    assert bronze.schema["unit_price"] == MONEY
    assert bronze["unit_price"].to_list() == [Decimal("9.99"), Decimal("4.00"), Decimal("19.99")]
    rejected = store.scan(tables.BRONZE_QUARANTINE["orders"]).collect().sort("_source_line")
    assert rejected["_source_line"].to_list() == [3, 4, 5, 8, 9]
    assert rejected["_reason"].to_list() == [
        "expected 9 fields, found 8",
        "quantity: cannot read '2.5' as integer",
        "unit_price: cannot read '1,5' as decimal",
        "unit_price: cannot read '1.005' as decimal",
        "unit_price: cannot read '1e3' as decimal",
    ]
    assert rejected["_column"].to_list() == [
        None,
        "quantity",
        "unit_price",
        "unit_price",
        "unit_price",
    ]


def test_files_starting_with_a_utf8_byte_order_mark_load_their_first_line(tmp_path: Path) -> None:
    """Windows tools write a BOM first: it is not part of the first line, and a later line
    that is not UTF-8 still goes to quarantine with its number."""
    bom = b"\xef\xbb\xbf"
    events = tmp_path / "landing" / "app_events" / FIRST_DAY
    events.mkdir(parents=True)
    lines = [json.dumps(event(n)).encode() for n in (1, 2)] + [b'{"event_id": "e-\xff"}']
    (events / "events-00.jsonl").write_bytes(bom + b"\r\n".join(lines) + b"\r\n")
    zipped = bom + json.dumps(event(4)).encode() + b"\n"
    (events / "events-01.jsonl.gz").write_bytes(gzip.compress(zipped, mtime=0))
    orders = tmp_path / "landing" / "orders" / FIRST_DAY
    orders.mkdir(parents=True)
    header = (
        "order_id,customer_id,product_id,quantity,unit_price,currency,status,order_ts,updated_at"
    )
    ts = f"{FIRST_DAY}T10:00:00Z"
    (orders / "orders-1.csv").write_bytes(
        bom + f"{header}\nO1,C1,P1,2,9.99,USD,paid,{ts},{ts}\n".encode()
    )
    with dg.instance_for_test() as instance:
        assert materialize([BRONZE_EVENTS, BRONZE_ORDERS], tmp_path, instance).success
    store = LakeStore.local(tmp_path / "lake")
    bronze = store.scan(tables.BRONZE_APP_EVENTS).collect().sort("event_id")
    assert bronze["event_id"].to_list() == ["e-1", "e-2", "e-4"]
    assert bronze.filter(pl.col("event_id") == "e-1")["_source_line"].item() == 1
    rejected = store.scan(tables.BRONZE_QUARANTINE["app_events"]).collect()
    assert rejected["_source_line"].to_list() == [3]
    assert rejected["_reason"].item().startswith("line is not valid UTF-8")
    assert store.scan(tables.BRONZE_ORDERS).collect()["order_id"].to_list() == ["O1"]
    assert store.scan(tables.BRONZE_QUARANTINE["orders"]).collect().height == 0


def test_bad_product_rows_are_quarantined_not_dropped(tmp_path: Path) -> None:
    folder = tmp_path / "landing" / "products" / FIRST_DAY
    folder.mkdir(parents=True)
    (folder / "products.csv").write_text(
        "product_id,name,category,list_price,currency,active\n"
        "P1,mug,home,4.50,USD,true\n"
        ",nameless,home,3.00,USD,true\n"  # line 3: no key
        "P2,lamp,home,-1,USD,false\n"  # line 4: negative price
        "P1,mug v2,home,4.75,USD,true\n"  # line 5: listed twice, the later line wins
    )
    bronze_products = next(a for a in BRONZE_ASSETS if a.key.path == ["bronze", "products"])
    with dg.instance_for_test() as instance:
        assert materialize([bronze_products], tmp_path, instance).success
        result = dg.materialize(
            [asset_named("silver", "products")],
            resources=resources_for(tmp_path),
            instance=instance,
        )
    store = LakeStore.local(tmp_path / "lake")
    products = store.scan(tables.SILVER_PRODUCTS).collect()
    assert products.select("product_id", "name").rows() == [("P1", "mug v2")]
    rejected = store.scan(tables.SILVER_PRODUCTS_QUARANTINE).collect().sort("_source_line")
    assert rejected.select("_source_line", "_rule").rows() == [
        (3, "not_null"),
        (4, "non_negative_price"),
    ]
    metadata = result.asset_materializations_for_node("silver__products")[0].metadata
    assert (metadata["rows_in"].value, metadata["duplicates"].value) == (4, 1)
    assert metadata["balanced"].value is True


def test_schema_drift_is_ingested_and_recorded_as_a_warning(tmp_path: Path) -> None:
    folder = tmp_path / "landing" / "products" / FIRST_DAY
    folder.mkdir(parents=True)
    # `active` is an optional column and missing; `supplier` is not in the contract.
    (folder / "products.csv").write_text(
        "product_id,name,category,list_price,currency,supplier\n"
        "P1,mug,home,4.50,USD,acme\n"
        "P2,lamp,home,12.00,USD,\n"
    )
    bronze_products = next(a for a in BRONZE_ASSETS if a.key.path == ["bronze", "products"])
    with dg.instance_for_test() as instance:
        result = materialize([bronze_products], tmp_path, instance)
    assert result.success
    rows = LakeStore.local(tmp_path / "lake").scan(tables.BRONZE_PRODUCTS).collect()
    assert rows["product_id"].to_list() == ["P1", "P2"]
    assert rows["active"].null_count() == 2
    assert rows["_extra"].to_list() == ['{"supplier":"acme"}', None]
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["contract"].passed
    drift = checks["schema_drift"]
    assert not drift.passed and drift.severity == dg.AssetCheckSeverity.WARN
    rules = drift.metadata["failing_rules"].value
    assert "| missing_optional_column | active | 2 |" in rules
    assert "| unexpected_column | supplier | 2 |" in rules


def test_a_run_that_dies_midway_keeps_its_first_days_and_their_history(tmp_path: Path) -> None:
    second_day = partitions.day_range(FIRST_DAY, "2099-01-01")[1]
    write_events(tmp_path / "landing" / "app_events" / FIRST_DAY)
    broken = tmp_path / "landing" / "app_events" / second_day
    broken.mkdir(parents=True)
    (broken / "events-00.jsonl.gz").write_bytes(gzip.compress(b'{"a": 1}\n' * 50)[:30])
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [BRONZE_EVENTS],
            resources=resources_for(tmp_path),
            instance=instance,
            tags=range_tags(FIRST_DAY, second_day),
            raise_on_error=False,
        )
        assert not result.success
        assert instance.get_materialized_partitions(BRONZE_EVENTS.key) == {FIRST_DAY}
    store = LakeStore.local(tmp_path / "lake")
    assert store.partition_keys(tables.BRONZE_APP_EVENTS) == [FIRST_DAY]
    history = store.scan(tables.QUALITY_CHECK_RESULTS).collect()
    assert sorted(history.select("partition", "check").rows()) == [
        (FIRST_DAY, "contract"),
        (FIRST_DAY, "schema_drift"),
    ]
