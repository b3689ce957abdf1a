"""A deterministic generator of realistic landing feeds, with the faults real feeds have.

Same arguments, byte-identical files: every random draw comes from a generator seeded by
(seed, source, day, file, chunk), gzip headers carry no time stamp, and nothing depends on the
order work is done in. Rows are built column-wise with NumPy and Polars, one chunk of at most
`CHUNK_ROWS` at a time, so memory stays flat whatever the volume.

Faults are injected into disjoint sets of rows, so each count in `_generated.json` is exact:
a row carries at most one fault, and a faulty order never has a second version.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from lakehouse.landing.contract import (
    DEVICES,
    EVENT_TYPES,
    ORDERS,
    SEGMENTS,
)
from lakehouse.reference import USD_PER_UNIT

MANIFEST_NAME = "_generated.json"
CHUNK_ROWS = 100_000
EVENT_FILES_PER_DAY = 24
ORDER_FILES_PER_DAY = 2
ORDERS_PER_EVENT = 0.03
ORDER_UPDATE_SHARE = 0.3
MAX_LATE_DAYS = 3

#: Documented fault rates (share of rows), per source. Each fault also occurs at least once in any
#: sample, in the first file where it can, so small samples still exercise every path.
FAULT_RATES: dict[str, dict[str, float]] = {
    "app_events": {
        "late_events": 0.02,
        "duplicate_events": 0.01,
        "malformed_lines": 0.001,
        "wrong_type_lines": 0.0005,
        "null_keys": 0.0005,
        "unknown_event_types": 0.0005,
    },
    "orders": {
        "negative_quantity": 0.005,
        "unknown_currency": 0.003,
        "unknown_customer": 0.003,
        "unknown_product": 0.003,
        "null_keys": 0.002,
        "wrong_type_rows": 0.001,
        "malformed_rows": 0.001,
    },
    "customers": {"null_keys": 0.005, "malformed_lines": 0.002},
}
CUSTOMER_UPDATE_SHARE = 0.02
CUSTOMER_DELETE_SHARE = 0.003
UNKNOWN_CURRENCY = "XBT"
UNKNOWN_CUSTOMER = "C9999999"
UNKNOWN_PRODUCT = "P99999"
UNKNOWN_EVENT_TYPE = "screen_tap"
EXTRA_COLUMN = "coupon_code"

_SOURCE_IDS = {"app_events": 1, "orders": 2, "customers": 3, "products": 4, "population": 5}
_EVENT_TYPE_P = (0.55, 0.15, 0.10, 0.03, 0.08, 0.06, 0.03)
_DEVICE_P = (0.35, 0.35, 0.30)
_APP_VERSIONS = ("3.2.0", "3.2.1", "3.3.0", "3.4.0-beta")
_TZ_SUFFIXES = ("Z", "+00:00", "+02:00", "-05:00", "+05:30")
_TZ_MINUTES = (0, 0, 120, -300, 330)
_CURRENCIES = ("USD", "EUR", "GBP", "JPY")
_CURRENCY_P = (0.6, 0.25, 0.1, 0.05)
_SEARCH_WORDS = ("shoes", "red dress", "laptop", "headphones", "coffee", "desk lamp", "tent")
_FIRST = ("ada", "ben", "chloe", "dev", "emma", "farid", "gina", "hugo", "ines", "jun", "kemal")
_LAST = ("smith", "garcia", "muller", "rossi", "tanaka", "okafor", "novak", "silva", "larsen")
_COUNTRIES = ("US", "DE", "GB", "FR", "JP", "BR", "IN", "SE", "CA", "AU")
_CATEGORIES = ("electronics", "home", "fashion", "sports", "books", "beauty", "grocery")
_ADJECTIVES = ("classic", "smart", "eco", "pro", "mini", "ultra", "vintage", "compact")
_NOUNS = ("lamp", "backpack", "speaker", "kettle", "jacket", "watch", "mug", "chair", "racket")
_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000


@dataclass(frozen=True)
class GeneratorConfig:
    start: dt.date
    days: int
    events_per_day: int
    seed: int = 42

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ValueError("days must be at least 1")
        if self.events_per_day < 24:
            raise ValueError("events_per_day must be at least 24 (one per hourly file)")

    @property
    def customers(self) -> int:
        return max(50, self.events_per_day // 20)

    @property
    def products(self) -> int:
        return max(20, min(2000, self.events_per_day // 200))

    @property
    def extra_column_day(self) -> int:
        """The day whose order files carry an unexpected extra column."""
        return min(3, self.days - 1)

    def date(self, day: int) -> dt.date:
        return self.start + dt.timedelta(days=day)


@dataclass
class _Counts:
    values: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))

    def add(self, source: str, name: str, amount: int) -> None:
        self.values[source][name] = self.values[source].get(name, 0) + int(amount)


def _rng(config: GeneratorConfig, source: str, *parts: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, _SOURCE_IDS[source], *parts])


def _fault_count(rng: np.random.Generator, rows: int, rate: float, force: bool) -> int:
    """Stochastic rounding keeps the expected rate exact; `force` guarantees one occurrence."""
    count = int(np.floor(rows * rate + rng.random()))
    if force and rows > 0:
        count = max(count, 1)
    return count


def _take(perm: np.ndarray, cursor: int, count: int) -> tuple[np.ndarray, int]:
    count = min(count, len(perm) - cursor)
    return perm[cursor : cursor + count], cursor + count


def _epoch_ms(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


def _iso_utc(ms: pl.Expr) -> pl.Expr:
    return pl.from_epoch(ms, time_unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pl.Series:
    digits = pl.Series(numbers, dtype=pl.Int64).cast(pl.String).str.zfill(width)
    return (prefix + digits).rename("id")


def _json_string(expr: pl.Expr) -> pl.Expr:
    """A JSON string literal for values known to need no escaping, or `null`."""
    return (
        pl.when(expr.is_null())
        .then(pl.lit("null"))
        .otherwise(pl.concat_str([pl.lit('"'), expr, pl.lit('"')]))
    )


class _Population:
    """Which customers exist and are alive on each day: shared by events, orders and CDC."""

    def __init__(self, config: GeneratorConfig) -> None:
        total = config.customers
        initial = int(total * 0.8)
        per_day = (total - initial) // max(1, config.days - 1)
        self.created_by = [min(total, initial + day * per_day) for day in range(config.days)]
        self.alive = np.zeros(total + 1, dtype=bool)
        self.config = config

    def ids_alive(self) -> np.ndarray:
        return np.flatnonzero(self.alive)


class SampleGenerator:
    def __init__(self, landing_dir: Path, config: GeneratorConfig) -> None:
        self.landing = Path(landing_dir)
        self.config = config
        self.counts = _Counts()
        self.population = _Population(config)
        self.pending_order_updates: dict[int, list[pl.DataFrame]] = defaultdict(list)
        product_rng = _rng(config, "products", 0)
        n = config.products
        self.product_price_usd = np.round(product_rng.lognormal(3.2, 0.8, n) + 1.0, 2)
        self.product_active = product_rng.random(n) > 0.03
        self.product_category = product_rng.integers(0, len(_CATEGORIES), n)
        self.product_name = product_rng.integers(0, len(_ADJECTIVES) * len(_NOUNS), n)

    # -- orchestration -------------------------------------------------------------------------

    def run(self, on_day: Callable[[str, int], None] | None = None) -> dict:
        """Write every day; `on_day(date, number)` is told when each day is written."""
        for day in range(self.config.days):
            # CDC first: it decides who is alive today for events and orders.
            self._write_customers(day)
            self._write_products(day)
            self._write_events(day)
            self._write_orders(day)
            if on_day is not None:
                on_day(self.config.date(day).isoformat(), day + 1)
        manifest = {
            "config": {**asdict(self.config), "start": self.config.start.isoformat()},
            "fault_rates": FAULT_RATES,
            "extra_column": {
                "source": "orders",
                "column": EXTRA_COLUMN,
                "date": self.config.date(self.config.extra_column_day).isoformat(),
            },
            "sources": {
                source: dict(sorted(v.items())) for source, v in self.counts.values.items()
            },
        }
        self.landing.mkdir(parents=True, exist_ok=True)
        (self.landing / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        return manifest

    def _folder(self, source: str, day: int) -> Path:
        folder = self.landing / source / self.config.date(day).isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # -- customers (CDC) -----------------------------------------------------------------------

    def _write_customers(self, day: int) -> None:
        config, population = self.config, self.population
        rng = _rng(config, "customers", day)
        first_new = 1 if day == 0 else population.created_by[day - 1] + 1
        created = np.arange(first_new, population.created_by[day] + 1)
        existing = population.ids_alive()
        changed = rng.permutation(existing)
        n_update = int(round(len(existing) * CUSTOMER_UPDATE_SHARE))
        n_delete = int(round(len(existing) * CUSTOMER_DELETE_SHARE))
        if day == 1 and len(existing) > n_update:
            n_delete = max(n_delete, 1)
        updated = np.sort(changed[:n_update])
        deleted = np.sort(changed[n_update : n_update + n_delete])
        ops = np.concatenate(
            [np.full(len(created), "c"), np.full(len(updated), "u"), np.full(len(deleted), "d")]
        )
        ids = np.concatenate([created, updated, deleted])
        rows = len(ids)
        ts = _epoch_ms(config.date(day)) + rng.integers(0, _DAY_MS, rows)
        frame = pl.DataFrame({"op": ops, "n": ids, "ts": ts, "v": np.full(rows, day)})
        frame = frame.with_columns(
            customer_id=_ids("C", ids, 7),
            first=pl.Series(np.array(_FIRST)[ids % len(_FIRST)]),
            last=pl.Series(np.array(_LAST)[(ids // 7) % len(_LAST)]),
            country=pl.Series(np.array(_COUNTRIES)[(ids * 31) % len(_COUNTRIES)]),
            segment=pl.Series(np.array(SEGMENTS)[(ids + day * (ops == "u")) % len(SEGMENTS)]),
        )
        suffix = pl.when(pl.col("op") == "u").then(pl.concat_str([pl.lit("+"), pl.col("v")]))
        email = pl.concat_str(
            [
                pl.col("first"),
                pl.lit("."),
                pl.col("last"),
                pl.col("n").cast(pl.String),
                suffix.otherwise(pl.lit("")),
                pl.lit("@example.com"),
            ]
        )
        name = pl.concat_str([pl.col("first"), pl.lit(" "), pl.col("last")]).str.to_titlecase()
        full = pl.concat_str(
            [
                pl.lit('{"op":"'),
                pl.col("op"),
                pl.lit('","customer_id":'),
                _json_string(pl.col("customer_id")),
                pl.lit(',"email":"'),
                email,
                pl.lit('","name":"'),
                name,
                pl.lit('","country":"'),
                pl.col("country"),
                pl.lit('","segment":"'),
                pl.col("segment"),
                pl.lit('","updated_at":"'),
                _iso_utc(pl.col("ts")),
                pl.lit('"}'),
            ]
        )
        delete = pl.concat_str(
            [
                pl.lit('{"op":"d","customer_id":'),
                _json_string(pl.col("customer_id")),
                pl.lit(',"updated_at":"'),
                _iso_utc(pl.col("ts")),
                pl.lit('"}'),
            ]
        )
        frame = frame.with_columns(line=pl.when(pl.col("op") == "d").then(delete).otherwise(full))
        # Faults are extra rows, so no real customer goes missing because of them.
        force = day == 0
        n_null = _fault_count(rng, rows, FAULT_RATES["customers"]["null_keys"], force)
        n_bad = _fault_count(rng, rows, FAULT_RATES["customers"]["malformed_lines"], force)
        null_rows = frame.sample(n=min(n_null, rows), seed=int(rng.integers(2**31))).with_columns(
            customer_id=pl.lit(None, pl.String)
        )
        null_rows = null_rows.with_columns(
            line=pl.when(pl.col("op") == "d").then(delete).otherwise(full)
        )
        bad_rows = frame.sample(n=min(n_bad, rows), seed=int(rng.integers(2**31))).with_columns(
            line=pl.col("line").str.slice(0, pl.col("line").str.len_chars() // 3)
        )
        lines = pl.concat([frame, null_rows, bad_rows]).sort("ts", maintain_order=True)
        self._write_text(self._folder("customers", day) / "cdc-1.jsonl", lines["line"], False)
        self.counts.add("customers", "files", 1)
        self.counts.add("customers", "rows", lines.height)
        self.counts.add("customers", "creates", len(created))
        self.counts.add("customers", "updates", len(updated))
        self.counts.add("customers", "deletes", len(deleted))
        self.counts.add("customers", "null_keys", null_rows.height)
        self.counts.add("customers", "malformed_lines", bad_rows.height)
        population.alive[created] = True
        population.alive[deleted] = False

    # -- products (daily snapshot) -------------------------------------------------------------

    def _write_products(self, day: int) -> None:
        rng = _rng(self.config, "products", day + 1)
        n = self.config.products
        if day > 0:
            drift = rng.random(n) < 0.02
            self.product_price_usd = np.where(
                drift,
                np.round(self.product_price_usd * rng.uniform(0.9, 1.1, n), 2),
                self.product_price_usd,
            )
            flip = rng.random(n) < 0.005
            self.product_active = np.where(flip, ~self.product_active, self.product_active)
        names = np.array([f"{a} {b}" for a in _ADJECTIVES for b in _NOUNS])
        frame = pl.DataFrame(
            {
                "product_id": _ids("P", np.arange(1, n + 1), 5),
                "name": names[self.product_name],
                "category": np.array(_CATEGORIES)[self.product_category],
                "list_price": self.product_price_usd,
                "currency": np.full(n, "USD"),
                "active": self.product_active,
            }
        )
        path = self._folder("products", day) / "products.csv"
        path.write_bytes(frame.write_csv(float_precision=2).encode())
        self.counts.add("products", "files", 1)
        self.counts.add("products", "rows", n)

    # -- app events ----------------------------------------------------------------------------

    def _write_events(self, day: int) -> None:
        per_file = np.full(EVENT_FILES_PER_DAY, self.config.events_per_day // EVENT_FILES_PER_DAY)
        per_file[: self.config.events_per_day % EVENT_FILES_PER_DAY] += 1
        users = self.population.ids_alive()
        folder = self._folder("app_events", day)
        for hour, rows in enumerate(per_file):
            path = folder / f"events-{hour:02d}.jsonl.gz"
            with (
                path.open("wb") as raw,
                gzip.GzipFile(
                    fileobj=raw, mode="wb", mtime=0, filename="", compresslevel=6
                ) as stream,
            ):
                for chunk, start in enumerate(range(0, int(rows), CHUNK_ROWS)):
                    size = min(CHUNK_ROWS, int(rows) - start)
                    lines = self._event_chunk(day, hour, chunk, start, size, users)
                    stream.write(("\n".join(lines.to_list()) + "\n").encode())
            self.counts.add("app_events", "files", 1)

    def _event_chunk(
        self, day: int, hour: int, chunk: int, offset: int, rows: int, users: np.ndarray
    ) -> pl.Series:
        config = self.config
        rng = _rng(config, "app_events", day, hour, chunk)
        rates = FAULT_RATES["app_events"]
        first = hour == 0 and chunk == 0
        perm = rng.permutation(rows)
        cursor = 0
        late, cursor = _take(perm, cursor, _fault_count(rng, rows, rates["late_events"], first))
        malformed, cursor = _take(
            perm, cursor, _fault_count(rng, rows, rates["malformed_lines"], first and day == 0)
        )
        wrong, cursor = _take(
            perm, cursor, _fault_count(rng, rows, rates["wrong_type_lines"], first and day == 0)
        )
        null_key, cursor = _take(
            perm, cursor, _fault_count(rng, rows, rates["null_keys"], first and day == 0)
        )
        odd_type, cursor = _take(
            perm, cursor, _fault_count(rng, rows, rates["unknown_event_types"], first and day == 0)
        )
        clean = perm[cursor:]

        ms = _epoch_ms(config.date(day)) + hour * _HOUR_MS + rng.integers(0, _HOUR_MS, rows)
        lag = np.minimum(rng.integers(1, MAX_LATE_DAYS + 1, len(late)), day)
        ms[late] -= lag * _DAY_MS
        event_type = rng.choice(len(EVENT_TYPES), rows, p=_EVENT_TYPE_P)
        tz = rng.integers(0, len(_TZ_SUFFIXES), rows)
        latency = np.round(rng.lognormal(5.0, 0.6, rows)).astype(np.int64)
        frame = pl.DataFrame(
            {
                "event_id": _ids(
                    f"e{config.date(day):%Y%m%d}{hour:02d}-", offset + np.arange(rows), 7
                ),
                "user_id": _ids("C", rng.choice(users, rows), 7),
                "event_type": np.array(EVENT_TYPES)[event_type],
                "device": np.array(DEVICES)[rng.choice(len(DEVICES), rows, p=_DEVICE_P)],
                "app_version": np.array(_APP_VERSIONS)[rng.integers(0, len(_APP_VERSIONS), rows)],
                "latency": pl.Series(latency)
                .set(pl.Series(rng.random(rows) < 0.05), None)
                .cast(pl.String),
                "ms": ms + np.array(_TZ_MINUTES)[tz] * 60_000,
                "tz": np.array(_TZ_SUFFIXES)[tz],
                "product": _ids("P", rng.integers(1, config.products + 1, rows), 5),
                "quantity": rng.integers(1, 4, rows),
                "query": np.array(_SEARCH_WORDS)[rng.integers(0, len(_SEARCH_WORDS), rows)],
            }
        )
        flag = np.zeros(rows, dtype=np.int8)
        flag[malformed], flag[wrong], flag[null_key], flag[odd_type] = 1, 2, 3, 4
        frame = frame.with_columns(flag=pl.Series(flag))
        properties = (
            pl.when(pl.col("event_type") == "page_view")
            .then(
                pl.concat_str(
                    [pl.lit(',"properties":{"page":"/product/'), pl.col("product"), pl.lit('"}')]
                )
            )
            .when(pl.col("event_type") == "search")
            .then(
                pl.concat_str([pl.lit(',"properties":{"query":"'), pl.col("query"), pl.lit('"}')])
            )
            .when(pl.col("event_type").is_in(["add_to_cart", "purchase"]))
            .then(
                pl.concat_str(
                    [
                        pl.lit(',"properties":{"product_id":"'),
                        pl.col("product"),
                        pl.lit('","quantity":'),
                        pl.col("quantity").cast(pl.String),
                        pl.lit("}"),
                    ]
                )
            )
            .otherwise(pl.lit(""))
        )
        latency_json = (
            pl.when(pl.col("flag") == 2)
            .then(pl.lit('"fast"'))
            .otherwise(pl.col("latency").fill_null("null"))
        )
        event_id = (
            pl.when(pl.col("flag") == 3).then(pl.lit(None, pl.String)).otherwise(pl.col("event_id"))
        )
        event_type_value = (
            pl.when(pl.col("flag") == 4)
            .then(pl.lit(UNKNOWN_EVENT_TYPE))
            .otherwise(pl.col("event_type"))
        )
        timestamp = pl.concat_str(
            [
                pl.from_epoch(pl.col("ms"), time_unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%S%.3f"),
                pl.col("tz"),
            ]
        )
        line = pl.concat_str(
            [
                pl.lit('{"event_id":'),
                _json_string(event_id),
                pl.lit(',"user_id":"'),
                pl.col("user_id"),
                pl.lit('","event_type":"'),
                event_type_value,
                pl.lit('","event_ts":"'),
                timestamp,
                pl.lit('","device":"'),
                pl.col("device"),
                pl.lit('","app_version":"'),
                pl.col("app_version"),
                pl.lit('","latency_ms":'),
                latency_json,
                properties,
                pl.lit("}"),
            ]
        )
        lines = frame.select(
            line=pl.when(pl.col("flag") == 1)
            .then(line.str.slice(0, line.str.len_chars() // 2))
            .otherwise(line)
        )["line"]
        # Duplicates: exact copies of clean rows, delivered again later in the same file.
        n_dup = _fault_count(rng, rows, rates["duplicate_events"], first and day == 0)
        sources = np.sort(rng.choice(clean, min(n_dup, len(clean)), replace=False))
        position = np.concatenate(
            [
                np.arange(rows, dtype=np.float64),
                sources + rng.uniform(0.5, np.maximum(1.0, rows - sources)),
            ]
        )
        ordered = pl.concat([lines, lines.gather(sources)]).gather(
            np.argsort(position, kind="stable")
        )
        counts = self.counts
        counts.add("app_events", "lines", len(ordered))
        counts.add("app_events", "events", rows)
        counts.add("app_events", "late_events", int((lag > 0).sum()))
        counts.add("app_events", "malformed_lines", len(malformed))
        counts.add("app_events", "wrong_type_lines", len(wrong))
        counts.add("app_events", "null_keys", len(null_key))
        counts.add("app_events", "unknown_event_types", len(odd_type))
        counts.add("app_events", "duplicate_events", len(sources))
        return ordered

    # -- orders --------------------------------------------------------------------------------

    def _write_orders(self, day: int) -> None:
        config = self.config
        rng = _rng(config, "orders", day)
        rates = FAULT_RATES["orders"]
        rows = max(1, int(round(config.events_per_day * ORDERS_PER_EVENT)))
        users = self.population.ids_alive()
        force = day == 0
        perm = rng.permutation(rows)
        cursor = 0
        faults: dict[str, np.ndarray] = {}
        for name in rates:
            faults[name], cursor = _take(perm, cursor, _fault_count(rng, rows, rates[name], force))
        healthy = perm[cursor:]
        updated = np.sort(
            rng.choice(healthy, int(len(healthy) * ORDER_UPDATE_SHARE), replace=False)
        )

        products = rng.integers(1, config.products + 1, rows)
        currency = np.array(_CURRENCIES)[rng.choice(len(_CURRENCIES), rows, p=_CURRENCY_P)]
        rate = np.vectorize(USD_PER_UNIT.__getitem__)(currency)
        price = np.round(self.product_price_usd[products - 1] / rate, 2)
        ms = _epoch_ms(config.date(day)) + rng.integers(0, _DAY_MS, rows)
        status = np.where(rng.random(rows) < 0.7, "paid", "placed")
        frame = pl.DataFrame(
            {
                "order_id": _ids(f"O{config.date(day):%Y%m%d}-", np.arange(rows), 7),
                "customer_id": _ids("C", rng.choice(users, rows), 7),
                "product_id": _ids("P", products, 5),
                "quantity": rng.integers(1, 6, rows).astype(str),
                "unit_price": pl.Series(price).round(2).cast(pl.String),
                "currency": currency,
                "status": status,
                "order_ts": ms,
                "updated_at": ms,
            }
        )
        set_value = {
            "negative_quantity": ("quantity", lambda s: pl.concat_str([pl.lit("-"), s])),
            "unknown_currency": ("currency", lambda s: pl.lit(UNKNOWN_CURRENCY)),
            "unknown_customer": ("customer_id", lambda s: pl.lit(UNKNOWN_CUSTOMER)),
            "unknown_product": ("product_id", lambda s: pl.lit(UNKNOWN_PRODUCT)),
            "null_keys": ("order_id", lambda s: pl.lit("")),
            "wrong_type_rows": ("quantity", lambda s: pl.lit("two")),
        }
        mask_column = np.zeros(rows, dtype=np.int8)
        for code, name in enumerate(set_value, start=1):
            mask_column[faults[name]] = code
        frame = frame.with_columns(fault=pl.Series(mask_column))
        for code, (column, value) in enumerate(set_value.values(), start=1):
            frame = frame.with_columns(
                pl.when(pl.col("fault") == code)
                .then(value(pl.col(column)))
                .otherwise(pl.col(column))
                .alias(column)
            )
        malformed = np.zeros(rows, dtype=bool)
        malformed[faults["malformed_rows"]] = True
        frame = frame.with_columns(malformed=pl.Series(malformed))

        # Newer versions of some orders arrive later: the same day or up to three days after.
        versions = frame[updated.tolist()].with_columns(
            status=pl.Series(self._next_status(rng, frame["status"].gather(updated).to_numpy())),
            updated_at=pl.col("order_ts")
            + rng.integers(600_000, MAX_LATE_DAYS * _DAY_MS, len(updated)),
        )
        arrival = (versions["updated_at"] - _epoch_ms(config.start)) // _DAY_MS
        versions = versions.with_columns(arrival=arrival)
        for arrival_day, part in versions.partition_by("arrival", as_dict=True).items():
            if arrival_day[0] < config.days:
                self.pending_order_updates[arrival_day[0]].append(part.drop("arrival"))
        today = pl.concat([frame, *self.pending_order_updates.pop(day, [])])
        self._write_order_files(day, today)
        counts = self.counts
        counts.add("orders", "orders", rows)
        counts.add("orders", "rows", today.height)
        counts.add("orders", "updates", today.height - rows)
        for name, indexes in faults.items():
            counts.add("orders", name, len(indexes))

    @staticmethod
    def _next_status(rng: np.random.Generator, status: np.ndarray) -> np.ndarray:
        roll = rng.random(len(status))
        after_paid = np.where(
            roll < 0.85, "shipped", np.where(roll < 0.95, "cancelled", "refunded")
        )
        after_placed = np.where(roll < 0.8, "paid", "cancelled")
        return np.where(status == "paid", after_paid, after_placed)

    def _write_order_files(self, day: int, frame: pl.DataFrame) -> None:
        extra = day == self.config.extra_column_day
        columns = list(ORDERS.field_names) + ([EXTRA_COLUMN] if extra else [])
        frame = frame.sort("updated_at", maintain_order=True).with_columns(
            pl.col("order_ts").pipe(_iso_utc),
            pl.col("updated_at").pipe(_iso_utc),
            file=((pl.col("updated_at") % _DAY_MS) // (_DAY_MS // ORDER_FILES_PER_DAY)) + 1,
        )
        if extra:
            frame = frame.with_columns(
                pl.when(pl.int_range(pl.len()) % 3 == 0)
                .then(pl.lit("FALL10"))
                .otherwise(pl.lit(""))
                .alias(EXTRA_COLUMN)
            )
            self.counts.add("orders", "extra_column_rows", frame.height)
        fields = [pl.col(c) for c in columns]
        line = pl.concat_str(fields, separator=",")
        short = pl.concat_str(fields[:-1], separator=",")
        frame = frame.with_columns(line=pl.when(pl.col("malformed")).then(short).otherwise(line))
        folder = self._folder("orders", day)
        for number in range(1, ORDER_FILES_PER_DAY + 1):
            lines = frame.filter(pl.col("file") == number)["line"].to_list()
            text = ",".join(columns) + "\n" + "".join(f"{line}\n" for line in lines)
            (folder / f"orders-{number}.csv").write_text(text)
            self.counts.add("orders", "files", 1)

    @staticmethod
    def _write_text(path: Path, lines: pl.Series, compress: bool) -> None:
        payload = ("\n".join(lines.to_list()) + "\n").encode()
        path.write_bytes(gzip.compress(payload, mtime=0) if compress else payload)


def generate(
    landing_dir: Path, config: GeneratorConfig, on_day: Callable[[str, int], None] | None = None
) -> dict:
    """Write the sample feeds under `landing_dir` and return the manifest of injected faults;
    `on_day(date, number)` is told when each day is written (progress)."""
    return SampleGenerator(landing_dir, config).run(on_day)


def iter_days(config: GeneratorConfig) -> Iterator[str]:
    for day in range(config.days):
        yield config.date(day).isoformat()
