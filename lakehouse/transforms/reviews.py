"""silver/reviews: reviews deduplicated by review_id, by UTC review date, contact details
redacted from their text, reviews of products the catalog does not know quarantined."""

from __future__ import annotations

import datetime as dt

import polars as pl

from lakehouse.landing.contract import REVIEW_LANGUAGES
from lakehouse.transforms.pii import has_pii, redact
from lakehouse.transforms.rules import (
    Cleaned,
    KeepFirst,
    Rule,
    allowed_values,
    apply_rules,
    explain,
    not_null,
    window_rule,
)

FIRST_ARRIVAL = KeepFirst("review_id", ("arrival_date", "_source_file", "_source_line"))


def clean_reviews(
    bronze: pl.LazyFrame,
    review_day: dt.date,
    first_partition: dt.date,
    late_days: int,
    now: dt.datetime,
    products: pl.LazyFrame,
) -> Cleaned:
    """Reviews written on `review_day` from the bronze arrival days review_day .. +late_days
    (and, as for events, the rows of that arrival day no review date can take, quarantined).

    `products`: the catalog (silver/products); a review of a product it lacks is quarantined
    with the product id in its reason, as a review nobody can attribute.
    """
    review_date = pl.col("created_at").dt.date()
    window = window_rule(
        review_date, pl.col("arrival_date"), first_partition, late_days, "created_at"
    )
    own = review_date == pl.lit(review_day)
    strays = window.broken.fill_null(True) & (pl.col("arrival_date") == pl.lit(review_day))
    candidates = bronze.filter(own.fill_null(False) & ~window.broken.fill_null(True) | strays)
    known = products.select(pl.col("product_id").unique()).collect().to_series()
    checked = apply_rules(
        candidates,
        [
            not_null("review_id"),
            not_null("product_id"),
            not_null("customer_id"),
            not_null("created_at"),
            not_null("body"),
            window,
            Rule(
                "rating_range",
                "rating",
                pl.col("rating").is_null() | ~pl.col("rating").is_between(1, 5),
                explain("rating {} is not 1 to 5", pl.col("rating")),
            ),
            allowed_values("language", REVIEW_LANGUAGES),
            Rule(
                "known_product",
                "product_id",
                ~pl.col("product_id").is_in(known.implode()),
                explain("product_id {} is not in silver.products", pl.col("product_id")),
            ),
        ],
        now,
    )
    clean = checked.valid.with_columns(
        pii_redacted=has_pii(pl.col("title")) | has_pii(pl.col("body")),
        title=redact(pl.col("title")),
        body=redact(pl.col("body")),
    )
    # The quarantine keeps rejected rows for people to read: their contact details go too.
    quarantined = checked.quarantined.with_columns(
        title=redact(pl.col("title")), body=redact(pl.col("body"))
    )
    return Cleaned(
        clean, quarantined, candidates.select(rows_in=pl.len()), keep_first=FIRST_ARRIVAL
    )
