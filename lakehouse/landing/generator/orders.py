"""Orders: two CSV files a day of new orders and the later versions of earlier ones."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from lakehouse.landing.contract import ORDERS
from lakehouse.landing.generator.config import DAY_MS, MAX_LATE_DAYS, GeneratorConfig, rng
from lakehouse.landing.generator.faults import Fault, inject, set_column
from lakehouse.landing.generator.products import Catalog
from lakehouse.landing.generator.text import ids, iso_utc
from lakehouse.landing.generator.volumes import times_of_day
from lakehouse.reference import USD_PER_UNIT

FILES_PER_DAY = 2
UPDATE_SHARE = 0.3
COUPON_SHARE = 1 / 3
UNKNOWN_CURRENCY = "XBT"
UNKNOWN_CUSTOMER = "C9999999"
UNKNOWN_PRODUCT = "P99999"
#: Written only on `GeneratorConfig.extra_column_day`: schema drift the reader must survive.
EXTRA_COLUMN = "coupon_code"
_CURRENCIES = ("USD", "EUR", "GBP", "JPY")
_CURRENCY_P = (0.6, 0.25, 0.1, 0.05)


def _negate_quantity(rows: pl.DataFrame, _draws: np.random.Generator, _day: int) -> pl.DataFrame:
    return rows.with_columns(quantity=pl.concat_str([pl.lit("-"), pl.col("quantity")]))


def _drop_last_field(rows: pl.DataFrame, _draws: np.random.Generator, _day: int) -> pl.DataFrame:
    return rows.with_columns(line=pl.col("line").str.replace(r",[^,]*$", ""))


FAULTS = (
    Fault("negative_quantity", 0.005, _negate_quantity),
    Fault("unknown_currency", 0.003, set_column("currency", UNKNOWN_CURRENCY)),
    Fault("unknown_customer", 0.003, set_column("customer_id", UNKNOWN_CUSTOMER)),
    Fault("unknown_product", 0.003, set_column("product_id", UNKNOWN_PRODUCT)),
    Fault("null_keys", 0.002, set_column("order_id", "")),
    Fault("wrong_type_rows", 0.001, set_column("quantity", "two")),
    Fault("malformed_rows", 0.001, _drop_last_field, breaks="line"),
)


class OrderFeed:
    """New orders each day; a share of healthy ones gets a newer version (paid, shipped,
    cancelled, ...) that arrives the same day or up to three days later. A faulty order never
    gets a second version, so every fault is counted once."""

    def __init__(self, config: GeneratorConfig) -> None:
        self.config = config
        self.pending: dict[int, list[pl.DataFrame]] = defaultdict(list)

    def write(
        self, folder: Path, day: int, rows: int, users: np.ndarray, catalog: Catalog
    ) -> dict[str, int]:
        """Write the day's files with `rows` new orders and return what they hold."""
        draws = rng(self.config, "orders", day)
        columns = [*ORDERS.field_names]
        if day == self.config.extra_column_day:
            columns.append(EXTRA_COLUMN)
        to_lines = _lines_for(columns)
        orders = self._draw(draws, day, rows, users, catalog)
        new = inject(orders, FAULTS, draws, day, True, to_lines, keep=("updated_at",))
        self._schedule_versions(draws, orders.filter(pl.Series(new.healthy)))
        arriving = to_lines(pl.concat([orders.clear(), *self.pending.pop(day, [])]))
        today = pl.concat(
            [new.rows.select("updated_at", "line"), arriving.select("updated_at", "line")]
        )
        self._write_files(folder, columns, today)
        counts = {
            "files": FILES_PER_DAY,
            "orders": rows,
            "rows": today.height,
            "updates": arriving.height,
            **new.counts,
        }
        if EXTRA_COLUMN in columns:
            counts["extra_column_rows"] = today.height
        return counts

    def _draw(
        self,
        draws: np.random.Generator,
        day: int,
        rows: int,
        users: np.ndarray,
        catalog: Catalog,
    ) -> pl.DataFrame:
        """Healthy new orders, priced from the catalog in the order's currency."""
        products = draws.integers(1, self.config.products + 1, rows)
        currency = np.array(_CURRENCIES)[draws.choice(len(_CURRENCIES), rows, p=_CURRENCY_P)]
        usd_per_unit = np.array([USD_PER_UNIT[code] for code in currency], dtype=np.float64)
        price = np.round(catalog.price_usd[products - 1] / usd_per_unit, 2)
        ms = times_of_day(draws, self.config.day_ms(day), rows)
        return pl.DataFrame(
            {
                "order_id": ids(f"O{self.config.date(day):%Y%m%d}-", np.arange(rows), 7),
                "customer_id": ids("C", draws.choice(users, rows), 7),
                "product_id": ids("P", products, 5),
                "quantity": draws.integers(1, 6, rows).astype(str),
                "unit_price": pl.Series(price).round(2).cast(pl.String),
                "currency": currency,
                "status": np.where(draws.random(rows) < 0.7, "paid", "placed"),
                "order_ts": ms,
                "updated_at": ms,
                EXTRA_COLUMN: np.where(draws.random(rows) < COUPON_SHARE, "FALL10", ""),
            }
        )

    def _schedule_versions(self, draws: np.random.Generator, healthy: pl.DataFrame) -> None:
        """Newer versions of some orders, kept until the day they arrive."""
        picked = np.sort(
            draws.choice(healthy.height, int(healthy.height * UPDATE_SHARE), replace=False)
        )
        versions = healthy[picked.tolist()]
        versions = versions.with_columns(
            status=pl.Series(_next_status(draws, versions["status"].to_numpy())),
            updated_at=pl.col("order_ts")
            + draws.integers(600_000, MAX_LATE_DAYS * DAY_MS, versions.height),
        )
        arrival = (versions["updated_at"] - self.config.day_ms(0)) // DAY_MS
        for (day,), part in (
            versions.with_columns(arrival=arrival).partition_by("arrival", as_dict=True).items()
        ):
            if day < self.config.days:
                self.pending[day].append(part.drop("arrival"))

    @staticmethod
    def _write_files(folder: Path, columns: list[str], today: pl.DataFrame) -> None:
        """Rows go to the file of the half day they were updated in, in update order."""
        today = today.sort("updated_at", maintain_order=True).with_columns(
            file=(pl.col("updated_at") % DAY_MS) // (DAY_MS // FILES_PER_DAY) + 1
        )
        header = ",".join(columns) + "\n"
        for number in range(1, FILES_PER_DAY + 1):
            lines = today.filter(pl.col("file") == number)["line"].to_list()
            text = header + "".join(f"{line}\n" for line in lines)
            (folder / f"orders-{number}.csv").write_text(text)


def _next_status(draws: np.random.Generator, status: np.ndarray) -> np.ndarray:
    roll = draws.random(len(status))
    after_paid = np.where(roll < 0.85, "shipped", np.where(roll < 0.95, "cancelled", "refunded"))
    after_placed = np.where(roll < 0.8, "paid", "cancelled")
    return np.where(status == "paid", after_paid, after_placed)


def _lines_for(columns: list[str]) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """The CSV line of each order in the day's layout; times are written as ISO UTC."""
    fields = [iso_utc(pl.col(c)) if c in ("order_ts", "updated_at") else pl.col(c) for c in columns]

    def with_lines(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(line=pl.concat_str(fields, separator=","))

    return with_lines
