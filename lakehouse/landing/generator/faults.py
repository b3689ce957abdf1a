"""Faults as data: each source declares the broken rows it delivers, and one function injects them.

A fault either breaks a value (a null key, an unknown code: the line is then written from the
broken value) or the written line itself (cut short), and it either changes rows of the feed or
adds copies of them (a re-delivery), which arrive later in the same file. Rows are broken in
disjoint sets and copies are made of untouched rows only, so a row carries at most one fault and
each count in `_generated.json` is exactly what the files hold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

#: Breaks the rows it is given: (rows, random draws, sample day) -> rows.
Breaker = Callable[[pl.DataFrame, np.random.Generator, int], pl.DataFrame]

_FAULT = "_fault"
_POSITION = "_position"


@dataclass(frozen=True)
class Fault:
    """A kind of broken row: its name in `_generated.json`, its documented share of rows, and how
    it is made. It occurs at least once on `first_day`, so small samples exercise every path."""

    name: str
    share: float
    apply: Breaker
    breaks: Literal["value", "line"] = "value"
    copies: bool = False
    first_day: int = 0


def set_column(column: str, value: object) -> Breaker:
    return lambda rows, _rng, _day: rows.with_columns(pl.lit(value, pl.String).alias(column))


def unchanged(rows: pl.DataFrame, _rng: np.random.Generator, _day: int) -> pl.DataFrame:
    return rows


def cut_line(keep: float) -> Breaker:
    """A line cut off after `keep` of its characters, as a crashed writer leaves it."""
    length = (pl.col("line").str.len_chars() * keep).floor().cast(pl.UInt32)
    return lambda rows, _rng, _day: rows.with_columns(line=pl.col("line").str.slice(0, length))


def fault_count(rng: np.random.Generator, rows: int, share: float, force: bool) -> int:
    """Stochastic rounding keeps the expected share exact; `force` guarantees one occurrence."""
    count = int(np.floor(rows * share + rng.random()))
    return max(count, 1) if force and rows > 0 else count


@dataclass(frozen=True)
class Delivery:
    """What a feed delivers: `rows` in file order (`line`, `_fault` with 0 for a healthy row, and
    the columns asked to keep), the count of each fault, and which input rows stayed healthy."""

    rows: pl.DataFrame
    counts: dict[str, int]
    healthy: np.ndarray


def inject(
    frame: pl.DataFrame,
    faults: tuple[Fault, ...],
    rng: np.random.Generator,
    day: int,
    first_chunk: bool,
    to_line: Callable[[pl.DataFrame], pl.DataFrame],
    keep: tuple[str, ...] = (),
) -> Delivery:
    """Break disjoint rows of `frame` and add the copies `faults` ask for, then write each row
    as text with `to_line`."""
    rows = frame.height
    due = [
        (number, fault, fault_count(rng, rows, fault.share, first_chunk and day == fault.first_day))
        for number, fault in enumerate(faults, start=1)
        if day >= fault.first_day
    ]
    code = np.zeros(rows, dtype=np.int16)
    order = rng.permutation(rows)
    cursor = 0
    for number, fault, wanted in due:
        if not fault.copies:
            picked = order[cursor : cursor + wanted]
            code[picked] = number
            cursor += len(picked)
    # Copies are made of rows no other fault touched, once those are chosen.
    healthy = code == 0
    copies = []
    for number, fault, wanted in due:
        if fault.copies:
            candidates = np.flatnonzero(healthy)
            sources = np.sort(rng.choice(candidates, min(wanted, len(candidates)), replace=False))
            later = sources + rng.uniform(0.5, np.maximum(1.0, rows - sources))
            copies.append(
                frame[sources.tolist()].with_columns(
                    pl.lit(number, pl.Int16).alias(_FAULT), pl.Series(_POSITION, later)
                )
            )
    marked = frame.with_columns(
        pl.Series(_FAULT, code), pl.Series(_POSITION, np.arange(rows, dtype=np.float64))
    )
    # Faults touch few rows: break those apart, then merge them back by position, carrying
    # only the columns the caller needs so a large chunk is not copied whole.
    columns = ["line", _FAULT, _POSITION, *keep]
    faulty = pl.concat([marked.filter(pl.Series(code != 0)), *copies])
    faulty = _break(faulty, faults, "value", rng, day)
    faulty = _break(to_line(faulty), faults, "line", rng, day).select(columns)
    written = to_line(marked).select(columns).filter(pl.Series(healthy))
    delivered = pl.concat([written, faulty]).sort(_POSITION).drop(_POSITION)
    found = np.bincount(faulty[_FAULT].to_numpy(), minlength=len(faults) + 1)
    counts = {fault.name: int(found[n]) for n, fault in enumerate(faults, start=1)}
    return Delivery(delivered, counts, healthy)


def _break(
    frame: pl.DataFrame,
    faults: tuple[Fault, ...],
    breaks: str,
    rng: np.random.Generator,
    day: int,
) -> pl.DataFrame:
    for number, fault in enumerate(faults, start=1):
        if fault.breaks != breaks:
            continue
        hit = pl.col(_FAULT) == number
        broken = fault.apply(frame.filter(hit), rng, day)
        frame = pl.concat([frame.filter(~hit), broken.select(frame.columns)])
    return frame
