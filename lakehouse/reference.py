"""Small reference data shipped with the code.

FX rates are fixed (USD per unit of currency) so results are reproducible; a currency missing
here is unknown, and orders in it are quarantined rather than converted with a guess.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from lakehouse.money import RATE

REPORTING_CURRENCY = "USD"

#: Exact decimals (typed `RATE` in silver): 1.08 is 1.08, not the float nearest to it.
USD_PER_UNIT: dict[str, Decimal] = {
    "USD": Decimal("1"),
    "EUR": Decimal("1.08"),
    "GBP": Decimal("1.27"),
    "JPY": Decimal("0.0067"),
    "CHF": Decimal("1.13"),
    "CAD": Decimal("0.73"),
    "AUD": Decimal("0.66"),
    "SEK": Decimal("0.095"),
}


def fx_rates() -> pl.LazyFrame:
    return pl.LazyFrame(
        {"currency": list(USD_PER_UNIT), "usd_per_unit": list(USD_PER_UNIT.values())},
        schema={"currency": pl.String(), "usd_per_unit": RATE},
    )
