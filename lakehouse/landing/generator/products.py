"""Products: a full catalog snapshot every day (CSV), with prices drifting and items retired."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from lakehouse.landing.generator.config import GeneratorConfig, rng
from lakehouse.landing.generator.text import ids

PRICE_DRIFT_SHARE = 0.02
ACTIVE_FLIP_SHARE = 0.005
_CATEGORIES = ("electronics", "home", "fashion", "sports", "books", "beauty", "grocery")
_ADJECTIVES = ("classic", "smart", "eco", "pro", "mini", "ultra", "vintage", "compact")
_NOUNS = ("lamp", "backpack", "speaker", "kettle", "jacket", "watch", "mug", "chair", "racket")
_NAMES = np.array([f"{adjective} {noun}" for adjective in _ADJECTIVES for noun in _NOUNS])


class Catalog:
    """The products and their current USD prices, which orders are priced from."""

    def __init__(self, config: GeneratorConfig) -> None:
        self.config = config
        draws = rng(config, "products", 0)
        n = config.products
        self.price_usd = np.round(draws.lognormal(3.2, 0.8, n) + 1.0, 2)
        self.active = draws.random(n) > 0.03
        self.category = draws.integers(0, len(_CATEGORIES), n)
        self.name = draws.integers(0, len(_NAMES), n)

    def advance(self, day: int) -> None:
        """Move to `day`: a few prices change by up to 10%, a few products are (de)activated."""
        if day == 0:
            return
        draws = rng(self.config, "products", day + 1)
        n = self.config.products
        drift = draws.random(n) < PRICE_DRIFT_SHARE
        moved = np.round(self.price_usd * draws.uniform(0.9, 1.1, n), 2)
        self.price_usd = np.where(drift, moved, self.price_usd)
        flip = draws.random(n) < ACTIVE_FLIP_SHARE
        self.active = np.where(flip, ~self.active, self.active)

    def write(self, folder: Path) -> dict[str, int]:
        n = self.config.products
        frame = pl.DataFrame(
            {
                "product_id": ids("P", np.arange(1, n + 1), 5),
                "name": _NAMES[self.name],
                "category": np.array(_CATEGORIES)[self.category],
                "list_price": self.price_usd,
                "currency": np.full(n, "USD"),
                "active": self.active,
            }
        )
        (folder / "products.csv").write_bytes(frame.write_csv(float_precision=2).encode())
        return {"files": 1, "rows": n}
