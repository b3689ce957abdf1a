"""Pure transforms on small frames, and the guard that refuses to publish lost rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import polars as pl
import pytest

from lakehouse import tables
from lakehouse.money import MONEY
from lakehouse.quality.audited import RowAccountingError, publish_cleaned
from lakehouse.quality.evaluate import audit_batches
from lakehouse.storage import LakeStore
from lakehouse.transforms.customers import current_customers, customer_history
from lakehouse.transforms.rules import Cleaned, Rule, apply_rules, not_null, window_rule
from lakehouse.transforms.sessions import sessionize, windowed_events

NOW = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
UTC = pl.Datetime("us", "UTC")


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def test_each_row_is_rejected_by_its_first_broken_rule() -> None:
    frame = pl.LazyFrame({"id": [1, None, 3, None], "qty": [1, 2, -1, -1]})
    checked = apply_rules(
        frame,
        [not_null("id"), Rule("positive", "qty", pl.col("qty") <= 0, pl.lit("not positive"))],
        NOW,
    )
    valid, bad = checked.valid.collect(), checked.quarantined.collect()
    assert valid["id"].to_list() == [1]
    assert bad.select("qty", "_rule", "_column").rows() == [
        (2, "not_null", "id"),
        (-1, "positive", "qty"),
        (-1, "not_null", "id"),
    ]
    assert (bad["_quarantined_at"] == NOW).all()


def test_window_rule_bounds_late_data_and_the_first_partition() -> None:
    first = dt.date(2026, 11, 1)
    frame = pl.LazyFrame(
        {
            "value": [
                dt.date(2026, 11, 5),
                dt.date(2026, 11, 1),
                dt.date(2026, 10, 31),
                dt.date(2026, 11, 6),
                None,
            ],
            "arrival": [
                dt.date(2026, 11, 8),
                dt.date(2026, 11, 5),
                dt.date(2026, 11, 1),
                dt.date(2026, 11, 5),
                dt.date(2026, 11, 5),
            ],
        }
    )
    rule = window_rule(pl.col("value"), pl.col("arrival"), first, 3, "value")
    broken = frame.select(rule.broken).collect().to_series().to_list()
    # in window; 4 days late; before the first partition; after its arrival; unknown
    assert broken == [False, True, True, True, True]


def test_sessions_split_after_thirty_idle_minutes_and_cross_midnight() -> None:
    events = pl.LazyFrame(
        {
            "user_id": ["u1"] * 5 + ["u2"],
            "event_ts": [
                ts("2026-11-01T23:50:00"),
                ts("2026-11-02T00:10:00"),
                ts("2026-11-02T00:39:59"),
                ts("2026-11-02T01:10:00"),
                ts("2026-11-02T01:12:00"),
                ts("2026-11-02T09:00:00"),
            ],
            "event_type": ["login", "search", "purchase", "page_view", "logout", "login"],
            "device": ["ios"] * 5 + ["web"],
            "event_id": [f"e{i}" for i in range(6)],
        },
        schema_overrides={"event_ts": UTC},
    )
    frame = events.collect()
    with duckdb.connect() as con:
        con.register("events", frame)
        nov1 = con.sql(sessionize("events", dt.date(2026, 11, 1))).pl().drop("session_date")
        nov2 = con.sql(sessionize("events", dt.date(2026, 11, 2))).pl().drop("session_date")
        both = con.sql(sessionize("events", dt.date(2026, 11, 1), dt.date(2026, 11, 2))).pl()
    assert nov1.select("user_id", "events", "converted", "device").rows() == [
        ("u1", 3, True, "ios")
    ]
    assert nov1["duration_s"].item() == 49 * 60 + 59
    start = int(ts("2026-11-01T23:50:00").timestamp() * 1000)
    assert nov1["session_id"].item() == f"u1-{start}"
    assert nov2.select("user_id", "events", "converted").rows() == [
        ("u1", 2, False),
        ("u2", 1, False),
    ]
    # The range in one pass is the days one by one.
    assert both.drop("session_date").equals(pl.concat([nov1, nov2]))
    assert both["session_date"].to_list() == [dt.date(2026, 11, 1), *[dt.date(2026, 11, 2)] * 2]


def test_sessions_of_a_range_see_only_the_last_idle_gap_before_it() -> None:
    """An event more than SESSION_GAP before the range cannot continue a session into it, so
    the previous day is read only from then on; one just inside the gap still continues."""
    rows = {
        "user_id": ["u1", "u1", "u2", "u2"],
        "event_ts": [
            ts("2026-11-01T23:29:00"),  # 31 minutes before midnight: not a continuation
            ts("2026-11-02T00:00:00"),
            ts("2026-11-01T23:31:00"),  # 29 minutes before: the session began on Nov 1
            ts("2026-11-02T00:00:00"),
        ],
        "event_type": ["login"] * 4,
        "device": ["web"] * 4,
        "event_id": ["a", "b", "c", "d"],
    }
    with duckdb.connect() as con:
        con.register("events", pl.DataFrame(rows, schema_overrides={"event_ts": UTC}))
        nov2 = con.sql(sessionize("events", dt.date(2026, 11, 2))).pl()
        read = con.execute(windowed_events("events", *[dt.date(2026, 11, 2)] * 2)).fetchone()
    assert nov2.select("user_id", "events").rows() == [("u1", 1)]
    assert read == (3, 2), "three events seen for the two of the day"


def cdc(rows: list[tuple]) -> pl.LazyFrame:
    return pl.LazyFrame(
        rows,
        schema={
            "op": pl.String,
            "customer_id": pl.String,
            "segment": pl.String,
            "updated_at": UTC,
            "arrival_date": pl.Date,
            "_source_file": pl.String,
            "_source_line": pl.Int64,
        },
        orient="row",
    )


def test_cdc_history_becomes_scd2_versions_and_current_state() -> None:
    day = dt.date(2026, 11, 1)
    changes = cdc(
        [
            ("c", "C1", "smb", ts("2026-11-01T01:00:00"), day, "f", 1),
            ("u", "C1", "enterprise", ts("2026-11-02T01:00:00"), day, "f", 2),
            ("c", "C2", "consumer", ts("2026-11-01T02:00:00"), day, "f", 3),
            ("d", "C2", None, ts("2026-11-03T02:00:00"), day, "f", 4),
            ("u", None, "smb", ts("2026-11-03T02:00:00"), day, "f", 5),
        ]
    )
    history = customer_history(changes, NOW).collect()
    assert history.select("customer_id", "segment", "is_current", "is_deleted").rows() == [
        ("C1", "smb", False, False),
        ("C1", "enterprise", True, False),
        ("C2", "consumer", False, True),
    ]
    assert history["valid_to"].to_list()[:1] == [ts("2026-11-02T01:00:00")]
    assert history["customer_sk"].n_unique() == 3
    again = customer_history(changes, NOW).collect()
    assert again["customer_sk"].to_list() == history["customer_sk"].to_list()
    current = current_customers(changes, NOW)
    assert current.clean.collect()["customer_id"].to_list() == ["C1"]
    counts = current.counts.collect().row(0, named=True)
    # 1 out + 2 superseded versions + 1 deleted customer + 1 quarantined = 5 in
    assert counts == {"rows_in": 5, "duplicates": 2, "removed_other": 1}
    assert current.quarantined.collect()["_source_line"].to_list() == [5]


def two_products() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "product_id": ["P1", "P2"],
            "name": ["a", "b"],
            "category": ["x", "x"],
            "list_price": [Decimal("1.00"), Decimal("2.00")],
            "currency": ["USD", "USD"],
            "active": [True, True],
            "snapshot_date": [dt.date(2026, 11, 1)] * 2,
        },
        schema_overrides={"list_price": MONEY},
    )


def test_a_transform_that_loses_rows_is_refused_before_publishing(tmp_path) -> None:
    spec, quarantine = tables.SILVER_PRODUCTS, tables.SILVER_PRODUCTS_QUARANTINE
    rows = two_products().lazy()
    leaky = Cleaned(
        clean=rows.head(1),  # one row silently gone
        quarantined=pl.LazyFrame(schema=quarantine.polars_schema),
        counts=pl.LazyFrame({"rows_in": [2], "duplicates": [0], "removed_other": [0]}),
    )
    store = LakeStore.local(tmp_path)
    with (
        duckdb.connect() as con,
        pytest.raises(RowAccountingError, match="silver.products: row accounting does not balance"),
    ):
        publish_cleaned(store, con, spec, quarantine, None, [leaky], check=list)
    assert store.files(spec) == [] and store.files(quarantine) == []
    # The (empty) Delta tables were created; no data file was left behind.
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and "_delta_log" not in p.parts]
    assert leftovers == [], "a refused partition leaves no staged files behind"


def test_uniqueness_is_audited_across_batches_not_within_each() -> None:
    """Copies of a key in different batches of a large partition still fail the schema check."""
    model = tables.SILVER_PRODUCTS.model
    batch = two_products()
    both = pl.concat([batch, batch])

    def duplicated(columns) -> tuple[int, pl.DataFrame]:
        copies = both.filter(pl.len().over(columns) > 1)
        return copies.height, copies

    schema, rules = audit_batches(model, [batch, batch], duplicated)
    assert (schema.passed, schema.rows_checked, schema.rows_failed) == (False, 4, 4)
    assert ("field_uniqueness", "product_id", 4) in schema.by_rule
    assert schema.sample["product_id"].to_list() == ["P1", "P2", "P1", "P2"]
    assert rules.passed
    alone, _ = audit_batches(model, [batch], lambda columns: (0, None))
    assert alone.passed and alone.rows_checked == 2
