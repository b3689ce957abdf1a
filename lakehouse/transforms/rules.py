"""Row-level rules: a row that breaks one leaves the clean output for quarantine, with a reason."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Rule:
    """`broken` is true for rows that break the rule; `reason` explains it for one row."""

    name: str
    column: str
    broken: pl.Expr
    reason: pl.Expr


def explain(template: str, *values: pl.Expr) -> pl.Expr:
    """`pl.format` for a rule's reason, except that a missing value reads "null": with
    `pl.format` one NULL value makes the whole reason NULL, and a rejected row must say why."""
    shown = [
        pl.when(value.is_null()).then(pl.lit("null")).otherwise(pl.format("{}", value))
        for value in values
    ]
    return pl.format(template, *shown)


def not_null(column: str) -> Rule:
    return Rule("not_null", column, pl.col(column).is_null(), pl.lit(f"{column} is null"))


def allowed_values(column: str, values: Sequence[str]) -> Rule:
    broken = pl.col(column).is_not_null() & ~pl.col(column).is_in(list(values))
    reason = explain(
        "{} {} is not one of {}", pl.lit(column), pl.col(column), pl.lit(", ".join(values))
    )
    return Rule("allowed_values", column, broken, reason)


@dataclass(frozen=True)
class Checked:
    valid: pl.LazyFrame
    quarantined: pl.LazyFrame


def apply_rules(frame: pl.LazyFrame, rules: Sequence[Rule], now: dt.datetime) -> Checked:
    """Split rows by the first rule each breaks; every input row lands on exactly one side.

    Only the index of the first broken rule is computed for every row; its name, column and
    reason (a formatted string) only for the rejected rows, which are few.
    """
    first_broken = pl.lit(None, pl.Int32)
    for index in reversed(range(len(rules))):
        first_broken = (
            pl.when(rules[index].broken.fill_null(False))
            .then(pl.lit(index, pl.Int32))
            .otherwise(first_broken)
        )
    marked = frame.with_columns(_rule_index=first_broken)
    valid = marked.filter(pl.col("_rule_index").is_null()).drop("_rule_index")
    quarantined = (
        marked.filter(pl.col("_rule_index").is_not_null())
        .with_columns(
            _rule=_by_rule_index([pl.lit(rule.name) for rule in rules]),
            _column=_by_rule_index([pl.lit(rule.column) for rule in rules]),
            _reason=_by_rule_index([rule.reason for rule in rules]),
            _quarantined_at=pl.lit(now).cast(pl.Datetime("us", "UTC")),
        )
        .drop("_rule_index")
    )
    return Checked(valid, quarantined)


def _by_rule_index(values: Sequence[pl.Expr]) -> pl.Expr:
    """The value of the rule a row broke first."""
    chosen = pl.lit(None, pl.String)
    for index in reversed(range(len(values))):
        chosen = (
            pl.when(pl.col("_rule_index") == index)
            .then(values[index].cast(pl.String))
            .otherwise(chosen)
        )
    return chosen


def window_rule(
    value_date: pl.Expr, arrival: pl.Expr, first_partition: dt.date, late_days: int, column: str
) -> Rule:
    """Rows whose date no partition will take: before the first partition, later than the late
    window allows, or after their own arrival (clock skew)."""
    earliest = pl.max_horizontal(arrival - pl.duration(days=late_days), pl.lit(first_partition))
    broken = ~value_date.is_between(earliest, arrival).fill_null(False)
    reason = explain(
        "{} date {} is outside the window {} .. {} of its arrival date",
        pl.lit(column),
        value_date,
        earliest,
        arrival,
    )
    return Rule("late_window", column, broken, reason)


@dataclass(frozen=True)
class KeepFirst:
    """One row per `key`: the first when ordered by `prefer` (earliest arrival, say)."""

    key: str
    prefer: tuple[str, ...]


@dataclass(frozen=True)
class Cleaned:
    """A cleaned partition and its accounting, all lazy so one collect shares the scans.

    `counts` has one row: rows_in, duplicates (rows removed as copies or superseded versions)
    and removed_other (for example CDC deletes); the invariant is
    rows_in = rows_out + duplicates + removed_other + quarantined.

    With `keep_first`, `clean` still holds every copy of a key and `counts` only rows_in: the
    store deduplicates and sorts within DuckDB's memory limit and counts the copies it saw.
    """

    clean: pl.LazyFrame
    quarantined: pl.LazyFrame
    counts: pl.LazyFrame
    keep_first: KeepFirst | None = None


def accounting(
    inputs: pl.LazyFrame,
    valid: pl.LazyFrame,
    key: str,
    removed_other: pl.Expr | None = None,
    removed_from: pl.LazyFrame | None = None,
) -> pl.LazyFrame:
    """The one-row counts of `Cleaned`: rows in, and valid rows beyond one per `key`.

    `removed_other` (evaluated on `removed_from`) counts rows dropped for another documented
    reason, such as CDC deletes.
    """
    other = (
        (removed_from if removed_from is not None else valid).select(
            removed_other=removed_other.cast(pl.Int64)
        )
        if removed_other is not None
        else pl.LazyFrame({"removed_other": [0]}, schema={"removed_other": pl.Int64})
    )
    return pl.concat(
        [
            inputs.select(rows_in=pl.len()),
            valid.select(duplicates=pl.len() - pl.col(key).n_unique()),
            other,
        ],
        how="horizontal",
    )
