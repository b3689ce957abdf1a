"""Money is exact: its types and its one rounding rule.

Amounts and prices are `MONEY` (DECIMAL(18,2): cents, exactly), exchange rates are `RATE`
(DECIMAL(18,6)). Sums of decimals and products by an integer are exact in Polars (they keep the
scale), so rounding happens only where a value must be brought back to cents, and only through
`to_cents`:

- the rule is round half away from zero ("half up" for the non-negative amounts of this lake,
  commercial rounding): 0.125 -> 0.13, 0.135 -> 0.14, -0.125 -> -0.13. It is Polars'
  `round(2, mode="half_away_from_zero")`, which on a Decimal works on the exact digits (no
  binary float in between), and agrees with DuckDB's `round()` on DECIMAL, so the same query
  written in SQL gives the same cents;
- never `round()` with its default mode (half to even: 0.125 -> 0.12), never a Float64 in
  between (1.005 is 1.00499999999999989... in binary, so it rounds down), and never a bare cast
  to a smaller scale (Polars rounds that half to even too).

Conversions go through `convert`: Polars gives the product of two decimals the larger of their
scales, not their sum, rounding the rest away (0.01 x 0.499999 would be 0.005000, then 0.01
instead of 0.00), so the amount is widened to scale 8 (2 + 6) first and the product is exact.

Averages go through `average`: Polars' `mean` of a Decimal is a Float64, and dividing a
DECIMAL(_,2) by an integer keeps scale 2 (the third decimal is lost), so the total is widened to
scale 12 before dividing. A quotient of cents by n is either an exact tie (then it has at most
three decimals, exact at scale 12) or at least 1 / (2000 n) from one, far more than scale 12's
error for any n below 5e8: `to_cents` of the widened quotient is the exactly rounded average.
"""

from __future__ import annotations

import polars as pl

#: Amounts and prices: cents, exactly.
MONEY = pl.Decimal(18, 2)
#: Exchange rates (USD per unit of a currency).
RATE = pl.Decimal(18, 6)
#: The one rounding rule, in Polars' words.
ROUNDING = "half_away_from_zero"
#: Where products of money and a rate are computed: exact (scale 2 + 6), up to 1e30.
_PRODUCT = pl.Decimal(38, MONEY.scale + RATE.scale)
#: Where quotients are computed before rounding to cents (see the module docstring).
_QUOTIENT = pl.Decimal(38, 12)


def to_cents(expr: pl.Expr) -> pl.Expr:
    """`expr` (a Decimal of any scale) rounded half away from zero to cents, typed `MONEY`."""
    return expr.round(2, mode=ROUNDING).cast(MONEY)


def convert(amount: pl.Expr, rate: pl.Expr) -> pl.Expr:
    """`amount` (MONEY) x `rate` (RATE), computed exactly, rounded to cents by `to_cents`."""
    return to_cents(amount.cast(_PRODUCT) * rate)


def average(total: pl.Expr, count: pl.Expr) -> pl.Expr:
    """`total / count` rounded to cents by `to_cents`; NULL when `count` is not positive."""
    return pl.when(count > 0).then(to_cents(total.cast(_QUOTIENT) / count)).otherwise(None)
