"""Small reference data shipped with the code.

FX rates are fixed (USD per unit of currency) so results are reproducible; a currency missing
here is unknown, and orders in it are quarantined rather than converted with a guess.
"""

from __future__ import annotations

import polars as pl

REPORTING_CURRENCY = "USD"

USD_PER_UNIT: dict[str, float] = {
    "USD": 1.0,
    "EUR": 1.08,
    "GBP": 1.27,
    "JPY": 0.0067,
    "CHF": 1.13,
    "CAD": 0.73,
    "AUD": 0.66,
    "SEK": 0.095,
}


def fx_rates() -> pl.LazyFrame:
    return pl.LazyFrame(
        {"currency": list(USD_PER_UNIT), "usd_per_unit": list(USD_PER_UNIT.values())},
        schema={"currency": pl.String(), "usd_per_unit": pl.Float64()},
    )
