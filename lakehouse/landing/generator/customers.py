"""Customers: a daily change-data-capture file of creates, updates and deletes (JSON lines)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from lakehouse.landing.contract import SEGMENTS
from lakehouse.landing.generator.config import GeneratorConfig, rng
from lakehouse.landing.generator.faults import Fault, cut_line, inject, set_column
from lakehouse.landing.generator.text import ids, iso_utc, json_object, quoted, write_lines
from lakehouse.landing.generator.volumes import times_of_day

UPDATE_SHARE = 0.02
DELETE_SHARE = 0.003
#: Faults are extra lines, so no real customer goes missing because of them.
FAULTS = (
    Fault("null_keys", 0.005, set_column("customer_id", None), copies=True),
    Fault("malformed_lines", 0.002, cut_line(1 / 3), breaks="line", copies=True),
)
_FIRST = ("ada", "ben", "chloe", "dev", "emma", "farid", "gina", "hugo", "ines", "jun", "kemal")
_LAST = ("smith", "garcia", "muller", "rossi", "tanaka", "okafor", "novak", "silva", "larsen")
_COUNTRIES = ("US", "DE", "GB", "FR", "JP", "BR", "IN", "SE", "CA", "AU")


class Population:
    """Which customers exist and are alive: the CDC feed decides, events and orders read it."""

    def __init__(self, created_by: np.ndarray) -> None:
        self.created_by = created_by
        self.alive = np.zeros(int(created_by[-1]) + 1, dtype=bool)

    def ids_alive(self) -> np.ndarray:
        return np.flatnonzero(self.alive)

    def created_on(self, day: int) -> np.ndarray:
        first = 1 if day == 0 else int(self.created_by[day - 1]) + 1
        return np.arange(first, int(self.created_by[day]) + 1)


def write_customers(
    folder: Path, config: GeneratorConfig, population: Population, day: int
) -> dict[str, int]:
    """Write the day's CDC file, apply it to `population`, and return what it holds."""
    draws = rng(config, "customers", day)
    created = population.created_on(day)
    existing = population.ids_alive()
    changed = draws.permutation(existing)
    n_update = int(round(len(existing) * UPDATE_SHARE))
    n_delete = int(round(len(existing) * DELETE_SHARE))
    if day == 1 and len(existing) > n_update:
        n_delete = max(n_delete, 1)  # so even a tiny sample has a delete
    updated = np.sort(changed[:n_update])
    deleted = np.sort(changed[n_update : n_update + n_delete])
    changes = _changes(config, day, draws, created, updated, deleted)
    delivery = inject(changes, FAULTS, draws, day, True, _with_lines)
    write_lines(folder / "cdc-1.jsonl", delivery.rows["line"])
    population.alive[created] = True
    population.alive[deleted] = False
    return {
        "files": 1,
        "rows": delivery.rows.height,
        "creates": len(created),
        "updates": len(updated),
        "deletes": len(deleted),
        **delivery.counts,
    }


def _changes(
    config: GeneratorConfig,
    day: int,
    draws: np.random.Generator,
    created: np.ndarray,
    updated: np.ndarray,
    deleted: np.ndarray,
) -> pl.DataFrame:
    """One row per change, in time order; names and places follow from the customer number, so
    every version of a customer agrees."""
    ops = np.concatenate(
        [np.full(len(created), "c"), np.full(len(updated), "u"), np.full(len(deleted), "d")]
    )
    numbers = np.concatenate([created, updated, deleted])
    segment = (numbers + day * (ops == "u")) % len(SEGMENTS)
    frame = pl.DataFrame(
        {
            "op": ops,
            "n": numbers,
            "ts": times_of_day(draws, config.day_ms(day), len(numbers)),
            "version": np.full(len(numbers), day),
            "customer_id": ids("C", numbers, 7),
            "first": np.array(_FIRST)[numbers % len(_FIRST)],
            "last": np.array(_LAST)[(numbers // 7) % len(_LAST)],
            "country": np.array(_COUNTRIES)[(numbers * 31) % len(_COUNTRIES)],
            "segment": np.array(SEGMENTS)[segment],
        }
    )
    return frame.sort("ts", maintain_order=True)


def _with_lines(frame: pl.DataFrame) -> pl.DataFrame:
    # An update gets a new e-mail address (`+<version>`), so the history has something to show.
    suffix = pl.when(pl.col("op") == "u").then(pl.concat_str([pl.lit("+"), pl.col("version")]))
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
    updated_at = quoted(iso_utc(pl.col("ts")))
    full = json_object(
        {
            "op": quoted(pl.col("op")),
            "customer_id": quoted(pl.col("customer_id")),
            "email": quoted(email),
            "name": quoted(name),
            "country": quoted(pl.col("country")),
            "segment": quoted(pl.col("segment")),
            "updated_at": updated_at,
        }
    )
    delete = json_object(
        {
            "op": quoted(pl.col("op")),
            "customer_id": quoted(pl.col("customer_id")),
            "updated_at": updated_at,
        }
    )
    return frame.with_columns(line=pl.when(pl.col("op") == "d").then(delete).otherwise(full))
