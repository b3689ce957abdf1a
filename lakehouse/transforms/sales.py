"""gold/fact_sales and gold/daily_summary."""

from __future__ import annotations

import datetime as dt

import polars as pl

from lakehouse.landing.contract import REVENUE_STATUSES
from lakehouse.money import MONEY, average
from lakehouse.partitions import LATE_ARRIVAL_DAYS
from lakehouse.transforms.rules import Checked, Rule, apply_rules, explain


def fact_sales(
    orders: pl.LazyFrame, dim_customer: pl.LazyFrame, products: pl.LazyFrame, now: dt.datetime
) -> Checked:
    """Orders with the customer version valid at order time and the product's category.

    An order whose customer or product is unknown is quarantined, never given a guessed key,
    and so is an order of a known product without a category (silver allows one; the fact's
    product_category is required). An order placed before its customer's first recorded version
    gets that first version.
    """
    versions = dim_customer.select("customer_id", "valid_from", "customer_sk").sort("valid_from")
    first_version = (
        dim_customer.sort("valid_from")
        .group_by("customer_id")
        .agg(first_sk=pl.col("customer_sk").first())
    )
    catalogue = products.select(
        "product_id", product_category=pl.col("category"), _known_product=pl.lit(True)
    )
    joined = (
        orders.sort("order_ts")
        .join_asof(
            versions,
            left_on="order_ts",
            right_on="valid_from",
            by="customer_id",
            strategy="backward",
            check_sortedness=False,
        )
        .join(first_version, on="customer_id", how="left")
        .with_columns(customer_sk=pl.coalesce("customer_sk", "first_sk"))
        .join(catalogue, on="product_id", how="left")
    )
    checked = apply_rules(
        joined,
        [
            Rule(
                "known_customer",
                "customer_id",
                pl.col("customer_sk").is_null(),
                explain("customer {} is not in dim_customer", pl.col("customer_id")),
            ),
            Rule(
                "known_product",
                "product_id",
                pl.col("_known_product").is_null(),
                explain("product {} is not in the product catalogue", pl.col("product_id")),
            ),
            Rule(
                "product_has_category",
                "product_id",
                pl.col("product_category").is_null(),
                explain("product {} has no category", pl.col("product_id")),
            ),
        ],
        now,
    )
    facts = (
        checked.valid.drop("_known_product")
        .with_columns(is_revenue=pl.col("status").is_in(list(REVENUE_STATUSES)))
        .sort("customer_id", "product_id", "order_ts")
    )
    return Checked(
        facts,
        checked.quarantined.drop(
            "customer_sk",
            "first_sk",
            "product_category",
            "_known_product",
            "valid_from",
            strict=False,
        ),
    )


def daily_summary(
    facts: pl.LazyFrame,
    events: pl.LazyFrame,
    sessions: pl.LazyFrame,
    dim_customer: pl.LazyFrame,
    sentiment: pl.LazyFrame,
    day: dt.date,
    as_of: dt.datetime,
) -> pl.LazyFrame:
    """One row for `day` as of `as_of`, zeros rather than no row when nothing happened.

    is_complete says the figures are final: `as_of` is past the day and the late-arrival
    window after it (rows of a day keep arriving for `LATE_ARRIVAL_DAYS` days).

    revenue_usd is the exact sum of the revenue orders' amount_usd (cents add up exactly, no
    rounding); avg_order_value_usd is revenue_usd / revenue_orders rounded to cents by the one
    rule (`lakehouse.money.average`).
    """
    sales = facts.select(
        revenue_usd=pl.col("amount_usd").filter(pl.col("is_revenue")).sum().cast(MONEY),
        orders=pl.len().cast(pl.Int64),
        revenue_orders=pl.col("is_revenue").sum().cast(pl.Int64),
    )
    users = events.select(active_users=pl.col("user_id").n_unique().cast(pl.Int64))
    visits = sessions.select(
        sessions=pl.len().cast(pl.Int64),
        converted_sessions=pl.col("converted").sum().cast(pl.Int64),
    )
    new = (
        dim_customer.group_by("customer_id")
        .agg(first_seen=pl.col("valid_from").min())
        .select(new_customers=(pl.col("first_seen").dt.date() == pl.lit(day)).sum().cast(pl.Int64))
    )
    reviews = sentiment.select(
        reviews=pl.len().cast(pl.Int64),
        mean_sentiment=pl.col("sentiment_score").mean(),
        share_negative_reviews=(pl.col("sentiment_label") == "negative").mean(),
    )
    return pl.concat([sales, users, visits, new, reviews], how="horizontal").select(
        "revenue_usd",
        "orders",
        "revenue_orders",
        avg_order_value_usd=average(pl.col("revenue_usd"), pl.col("revenue_orders")),
        active_users="active_users",
        sessions="sessions",
        converted_sessions="converted_sessions",
        conversion_rate=pl.when(pl.col("sessions") > 0)
        .then(pl.col("converted_sessions") / pl.col("sessions"))
        .otherwise(None),
        new_customers="new_customers",
        reviews="reviews",
        mean_sentiment="mean_sentiment",
        share_negative_reviews=pl.col("share_negative_reviews").cast(pl.Float64),
        is_complete=pl.lit(as_of >= final_after(day)),
        as_of=pl.lit(as_of).cast(pl.Datetime("us", "UTC")),
    )


def final_after(day: dt.date) -> dt.datetime:
    """When no more rows of `day` can arrive: the end of its late-arrival window."""
    end = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) + dt.timedelta(days=1)
    return end + dt.timedelta(days=LATE_ARRIVAL_DAYS)
