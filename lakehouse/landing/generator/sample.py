"""The whole sample: every source, day by day, and the manifest of what was written."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from lakehouse.landing.generator import customers, events, orders, reviews
from lakehouse.landing.generator.config import GeneratorConfig
from lakehouse.landing.generator.customers import Population, write_customers
from lakehouse.landing.generator.events import write_events
from lakehouse.landing.generator.orders import EXTRA_COLUMN, OrderFeed
from lakehouse.landing.generator.products import Catalog
from lakehouse.landing.generator.reviews import review_volumes, write_reviews
from lakehouse.landing.generator.volumes import plan_volumes

MANIFEST_NAME = "_generated.json"
#: Documented fault rates (share of rows), per source, as each source declares them.
FAULT_RATES: dict[str, dict[str, float]] = {
    source: {fault.name: fault.share for fault in faults}
    for source, faults in (
        ("app_events", events.FAULTS),
        ("orders", orders.FAULTS),
        ("customers", customers.FAULTS),
        ("reviews", reviews.FAULTS),
    )
}


def generate(
    landing_dir: Path, config: GeneratorConfig, on_day: Callable[[str, int], None] | None = None
) -> dict:
    """Write the sample feeds under `landing_dir` and return the manifest of injected faults;
    `on_day(date, number)` is told when each day is written (progress)."""
    landing = Path(landing_dir)
    volumes = plan_volumes(config)
    review_counts = review_volumes(config)
    population = Population(volumes.created_by)
    catalog = Catalog(config)
    order_feed = OrderFeed(config)
    counts: dict[str, Counter[str]] = defaultdict(Counter)

    def folder(source: str, day: int) -> Path:
        path = landing / source / config.date(day).isoformat()
        path.mkdir(parents=True, exist_ok=True)
        return path

    for day in range(config.days):
        # CDC first: it decides who is alive today for events and orders.
        counts["customers"].update(
            write_customers(folder("customers", day), config, population, day)
        )
        catalog.advance(day)
        counts["products"].update(catalog.write(folder("products", day)))
        users = population.ids_alive()
        written = write_events(
            folder("app_events", day), config, day, int(volumes.events[day]), users
        )
        counts["app_events"].update(written)
        counts["orders"].update(
            order_feed.write(folder("orders", day), day, int(volumes.orders[day]), users, catalog)
        )
        counts["reviews"].update(
            write_reviews(
                folder("reviews", day), config, day, int(review_counts[day]), users, catalog
            )
        )
        if on_day is not None:
            on_day(config.date(day).isoformat(), day + 1)
    manifest = {
        "config": {**asdict(config), "start": config.start.isoformat()},
        "fault_rates": FAULT_RATES,
        "extra_column": {
            "source": "orders",
            "column": EXTRA_COLUMN,
            "date": config.date(config.extra_column_day).isoformat(),
        },
        "sources": {source: dict(sorted(values.items())) for source, values in counts.items()},
    }
    landing.mkdir(parents=True, exist_ok=True)
    (landing / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest
