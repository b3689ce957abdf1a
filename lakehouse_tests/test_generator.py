"""The sample generator: deterministic, and its fault manifest matches the files exactly."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from lakehouse.landing.generator import (
    EXTRA_COLUMN,
    UNKNOWN_CURRENCY,
    UNKNOWN_CUSTOMER,
    UNKNOWN_EVENT_TYPE,
    UNKNOWN_PRODUCT,
    GeneratorConfig,
    generate,
)
from lakehouse.landing.generator.volumes import allocate, plan_volumes
from lakehouse_tests.conftest import SAMPLE

SMALL = GeneratorConfig(start=dt.date(2026, 3, 1), days=2, events_per_day=480, seed=3)
#: Two weeks from a Sunday: four weekend days against ten weekdays.
FORTNIGHT = GeneratorConfig(start=dt.date(2026, 11, 1), days=14, events_per_day=2400, seed=42)


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_same_arguments_write_byte_identical_files(tmp_path: Path) -> None:
    generate(tmp_path / "a", SMALL)
    generate(tmp_path / "b", SMALL)
    first, second = tree_digest(tmp_path / "a"), tree_digest(tmp_path / "b")
    assert first == second
    assert len(first) > 20


def test_another_seed_writes_other_data(tmp_path: Path) -> None:
    generate(tmp_path / "a", SMALL)
    other = GeneratorConfig(SMALL.start, SMALL.days, SMALL.events_per_day, seed=4)
    generate(tmp_path / "b", other)
    assert tree_digest(tmp_path / "a") != tree_digest(tmp_path / "b")


def test_layout_follows_the_landing_contract(sample_landing: Path) -> None:
    day = SAMPLE.start.isoformat()
    assert len(list((sample_landing / "app_events" / day).glob("events-*.jsonl.gz"))) == 24
    assert sorted(p.name for p in (sample_landing / "orders" / day).iterdir()) == [
        "orders-1.csv",
        "orders-2.csv",
    ]
    assert (sample_landing / "customers" / day / "cdc-1.jsonl").exists()
    assert (sample_landing / "products" / day / "products.csv").exists()


def _event_lines(landing: Path) -> list[str]:
    lines = []
    for path in sorted(landing.glob("app_events/*/*.jsonl.gz")):
        lines += gzip.decompress(path.read_bytes()).decode().splitlines()
    return lines


def test_event_fault_counts_match_the_files(sample_landing: Path) -> None:
    manifest = json.loads((sample_landing / "_generated.json").read_text())["sources"]
    lines = _event_lines(sample_landing)
    assert len(lines) == manifest["app_events"]["lines"]
    parsed, malformed = [], 0
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            malformed += 1
    events = manifest["app_events"]
    assert malformed == events["malformed_lines"] > 0
    assert sum(isinstance(e.get("latency_ms"), str) for e in parsed) == events["wrong_type_lines"]
    assert sum(e["event_id"] is None for e in parsed) == events["null_keys"] > 0
    assert (
        sum(e["event_type"] == UNKNOWN_EVENT_TYPE for e in parsed) == events["unknown_event_types"]
    )
    ids = [e["event_id"] for e in parsed if e["event_id"] is not None]
    assert len(ids) - len(set(ids)) == events["duplicate_events"] > 0
    frame = pl.DataFrame({"ts": [e["event_ts"] for e in parsed]}).with_columns(
        pl.col("ts").str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%#z", time_zone="UTC")
    )
    assert frame["ts"].null_count() == 0


def test_late_events_arrive_one_to_three_days_late(sample_landing: Path) -> None:
    manifest = json.loads((sample_landing / "_generated.json").read_text())["sources"]
    late = 0
    for path in sorted(sample_landing.glob("app_events/*/*.jsonl.gz")):
        arrival = dt.date.fromisoformat(path.parent.name)
        seen = set()
        for line in gzip.decompress(path.read_bytes()).decode().splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if event["event_id"] in seen:
                continue  # a duplicate delivery is not another late event
            seen.add(event["event_id"])
            event_day = dt.datetime.fromisoformat(event["event_ts"]).astimezone(dt.UTC).date()
            lag = (arrival - event_day).days
            assert 0 <= lag <= 3
            late += lag > 0
    assert late == manifest["app_events"]["late_events"] > 0


def test_order_fault_counts_match_the_files(sample_landing: Path) -> None:
    manifest = json.loads((sample_landing / "_generated.json").read_text())["sources"]["orders"]
    rows = []
    for path in sorted(sample_landing.glob("orders/*/*.csv")):
        text = path.read_text().splitlines()
        header = text[0].split(",")
        rows += [
            dict(zip(header, line.split(","), strict=False))
            | {"_n": len(line.split(",")), "_width": len(header)}
            for line in text[1:]
        ]
    assert len(rows) == manifest["rows"]
    assert sum(r["_n"] != r["_width"] for r in rows) == manifest["malformed_rows"] > 0
    whole = [r for r in rows if r["_n"] == r["_width"]]
    assert sum(r["quantity"].startswith("-") for r in whole) == manifest["negative_quantity"] > 0
    assert sum(r["quantity"] == "two" for r in whole) == manifest["wrong_type_rows"] > 0
    assert sum(r["currency"] == UNKNOWN_CURRENCY for r in whole) == manifest["unknown_currency"]
    assert sum(r["customer_id"] == UNKNOWN_CUSTOMER for r in whole) == manifest["unknown_customer"]
    assert sum(r["product_id"] == UNKNOWN_PRODUCT for r in whole) == manifest["unknown_product"]
    assert sum(r["order_id"] == "" for r in whole) == manifest["null_keys"] > 0
    assert sum(EXTRA_COLUMN in r for r in rows) == manifest["extra_column_rows"] > 0
    ids = [r["order_id"] for r in whole if r["order_id"]]
    assert len(ids) - len(set(ids)) == manifest["updates"] > 0


def test_customer_cdc_has_creates_updates_deletes_and_faults(sample_landing: Path) -> None:
    manifest = json.loads((sample_landing / "_generated.json").read_text())["sources"]["customers"]
    ops, malformed, null_keys = {"c": 0, "u": 0, "d": 0}, 0, 0
    for path in sorted(sample_landing.glob("customers/*/cdc-*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                malformed += 1
                continue
            if record["customer_id"] is None:
                null_keys += 1
            else:
                ops[record["op"]] += 1
    assert malformed == manifest["malformed_lines"] > 0
    assert null_keys == manifest["null_keys"] > 0
    assert ops == {"c": manifest["creates"], "u": manifest["updates"], "d": manifest["deletes"]}
    assert manifest["deletes"] > 0 and manifest["updates"] > 0


def _daily_counts(landing: Path) -> dict[dt.date, dict[str, int]]:
    """Per sample day, from the files alone: events sent, new orders, customers created."""
    counts: dict[dt.date, dict[str, int]] = {}
    for folder in sorted((landing / "app_events").iterdir()):
        day = dt.date.fromisoformat(folder.name)
        ids = set()
        for path in folder.glob("*.jsonl.gz"):
            ids.update(
                line.split('"event_id":', 1)[1].split(",", 1)[0]
                for line in gzip.decompress(path.read_bytes()).decode().splitlines()
            )
        orders = set()
        for path in (landing / "orders" / folder.name).glob("*.csv"):
            orders.update(line.split(",", 1)[0] for line in path.read_text().splitlines()[1:])
        creates = (landing / "customers" / folder.name / "cdc-1.jsonl").read_text().count('"c"')
        prefix = f"O{day:%Y%m%d}-"
        counts[day] = {
            "events": len(ids),
            "orders": sum(order.startswith(prefix) for order in orders),
            "new_customers": creates,
        }
    return counts


def test_daily_volumes_vary_with_the_weekday_and_repeat_with_the_seed(tmp_path: Path) -> None:
    manifest = generate(tmp_path / "a", FORTNIGHT)
    counts = _daily_counts(tmp_path / "a")
    assert len(counts) == FORTNIGHT.days
    for measure in ("events", "orders"):
        figures = [day[measure] for day in counts.values()]
        assert len(set(figures)) > len(figures) // 2, (measure, figures)
    # A few sign-ups a day at this size (day 0 creates the base), but not the same few.
    assert len({day["new_customers"] for day in list(counts.values())[1:]}) > 1
    for measure in ("events", "orders"):
        weekend = [c[measure] for day, c in counts.items() if day.weekday() >= 5]
        weekdays = [c[measure] for day, c in counts.items() if day.weekday() < 5]
        assert len(weekend) == 4 and len(weekdays) == 10
        ratio = (sum(weekend) / len(weekend)) / (sum(weekdays) / len(weekdays))
        assert ratio > 1.05, (measure, counts)
    # Varying days keep the configured volume: the mean over the days is exact.
    generated = manifest["sources"]
    assert generated["app_events"]["events"] == FORTNIGHT.days * FORTNIGHT.events_per_day
    assert generated["orders"]["orders"] == FORTNIGHT.days * round(FORTNIGHT.events_per_day * 0.03)
    # The same seed writes the same files, day by day.
    generate(tmp_path / "b", FORTNIGHT)
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")


def test_volumes_follow_the_week_and_the_hours_of_the_day() -> None:
    volumes = plan_volumes(
        GeneratorConfig(start=dt.date(2026, 1, 5), days=364, events_per_day=10_000, seed=1)
    )
    events = volumes.events.reshape(52, 7)  # weeks from a Monday
    weekday, weekend = events[:, :5].mean(), events[:, 5:].mean()
    assert 1.1 < weekend / weekday < 1.25
    assert events.mean() == 10_000
    assert events[-4:].mean() > events[:4].mean() * 1.2  # a year of gentle growth
    new_customers = np.diff(volumes.created_by)
    assert new_customers.min() >= 0 and volumes.created_by[-1] == 10_000 // 20
    assert len(set(volumes.orders.tolist())) > 100


def test_allocate_keeps_the_total_and_the_minimum() -> None:
    shares = allocate(1000, np.array([0.1, 5.0, 1.0, 0.01]), minimum=24)
    assert shares.sum() == 1000 and shares.min() >= 24
    assert list(allocate(7, np.ones(3))) == [2, 3, 2]


def test_rejects_nonsense_arguments() -> None:
    with pytest.raises(ValueError, match="days"):
        GeneratorConfig(dt.date(2026, 1, 1), 0, 1000)
    with pytest.raises(ValueError, match="events_per_day"):
        GeneratorConfig(dt.date(2026, 1, 1), 1, 3)
