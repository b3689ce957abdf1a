"""Customers from the CDC feed: the current state (silver) and the type-2 history (gold)."""

from __future__ import annotations

import datetime as dt
import hashlib

import polars as pl

from lakehouse.landing.contract import CDC_OPS
from lakehouse.transforms.rules import (
    Checked,
    Cleaned,
    accounting,
    allowed_values,
    apply_rules,
    not_null,
)

_ORDER = ["customer_id", "updated_at", "arrival_date", "_source_file", "_source_line"]


def check_cdc(bronze: pl.LazyFrame, now: dt.datetime) -> Checked:
    return apply_rules(
        bronze,
        [
            not_null("customer_id"),
            not_null("updated_at"),
            not_null("op"),
            allowed_values("op", CDC_OPS),
        ],
        now,
    )


def current_customers(bronze: pl.LazyFrame, now: dt.datetime) -> Cleaned:
    """The last change of each customer wins; a customer whose last change is a delete is gone."""
    checked = check_cdc(bronze, now)
    history = checked.valid.sort(_ORDER).with_columns(
        versions=pl.len().over("customer_id"),
        created_at=pl.col("updated_at").min().over("customer_id"),
    )
    last = history.unique("customer_id", keep="last", maintain_order=True)
    clean = last.filter(pl.col("op") != "d").sort("customer_id")
    counts = accounting(
        bronze, checked.valid, "customer_id", (pl.col("op") == "d").sum(), removed_from=last
    )
    return Cleaned(clean, checked.quarantined, counts)


def surrogate_key(customer_id: pl.Expr, valid_from: pl.Expr) -> pl.Expr:
    """A stable 56-bit key per customer version (BLAKE2b: the same on every run and version)."""

    def digest(value: str) -> int:
        return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=7).digest(), "big")

    text = pl.concat_str([customer_id, pl.lit("|"), valid_from.dt.epoch("us").cast(pl.String)])
    return text.map_elements(digest, return_dtype=pl.Int64)


def customer_history(bronze: pl.LazyFrame, now: dt.datetime) -> pl.LazyFrame:
    """SCD type 2: a version per create or update, closed by the next change or a delete."""
    valid = check_cdc(bronze, now).valid.sort(_ORDER)
    changes = valid.with_columns(
        valid_to=pl.col("updated_at").shift(-1).over("customer_id"),
        next_op=pl.col("op").shift(-1).over("customer_id"),
    )
    versions = changes.filter(pl.col("op") != "d").with_columns(
        valid_from=pl.col("updated_at"),
        is_deleted=(pl.col("next_op") == "d").fill_null(False),
    )
    # A later create of the same id after a delete simply opens a new version.
    return versions.with_columns(
        customer_sk=surrogate_key(pl.col("customer_id"), pl.col("valid_from")),
        is_current=pl.col("valid_to").is_null(),
    ).sort("customer_id", "valid_from")
