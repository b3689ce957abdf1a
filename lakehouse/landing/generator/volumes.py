"""How much each day and hour holds: a weekday pattern, a gentle trend and seeded noise.

Real feeds are not flat: people use the app more at the weekend and in the evening, a shop
grows, and no two days are alike. Each daily series is drawn once per sample and scaled so its
mean over the sample's days is the configured volume, which keeps the size presets (bench
sizes count events per day) meaning the same total.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lakehouse.landing.generator.config import HOUR_MS, GeneratorConfig, rng

#: Monday first; each averages 1 over a week. Visits peak at the weekend, sign-ups more so.
WEEKDAY_TRAFFIC = (0.95, 0.93, 0.94, 0.96, 1.00, 1.12, 1.10)
WEEKDAY_SIGNUPS = (0.92, 0.90, 0.92, 0.95, 1.00, 1.18, 1.13)
#: Growth per day (about 4% a month), before scaling to the configured mean.
DAILY_GROWTH = 0.0013
#: Spread (log-normal sigma) of day-to-day noise: orders add their own to the traffic's,
#: so conversion varies too; sign-ups are small numbers and vary most.
TRAFFIC_NOISE = 0.04
CONVERSION_NOISE = 0.03
SIGNUP_NOISE = 0.12
HOURLY_NOISE = 0.05
#: Share of a day's activity by UTC hour: a night trough and an evening peak.
HOURLY_TRAFFIC = np.array(
    (0.45, 0.30, 0.22, 0.18, 0.18, 0.25, 0.45, 0.75, 1.00, 1.10, 1.15, 1.20)
    + (1.30, 1.25, 1.20, 1.20, 1.25, 1.35, 1.50, 1.70, 1.80, 1.65, 1.25, 0.80)
)
HOURLY_TRAFFIC = HOURLY_TRAFFIC / HOURLY_TRAFFIC.sum()
ORDERS_PER_EVENT = 0.03
INITIAL_CUSTOMERS = 0.8


@dataclass(frozen=True)
class Volumes:
    """Rows per sample day: events, new orders, and customers that exist by each day's end."""

    events: np.ndarray
    orders: np.ndarray
    created_by: np.ndarray


def allocate(total: int, weights: np.ndarray, minimum: int = 0) -> np.ndarray:
    """Whole numbers proportional to `weights`, each at least `minimum`, summing to `total`
    exactly (cumulative rounding), so scaling never loses or invents rows."""
    weights = np.asarray(weights, dtype=np.float64)
    rest = max(0, total - minimum * len(weights))
    cumulative = np.round(np.cumsum(weights) / weights.sum() * rest).astype(np.int64)
    return minimum + np.diff(cumulative, prepend=0)


def plan_volumes(config: GeneratorConfig) -> Volumes:
    days = np.arange(config.days)
    weekday = np.array([config.date(int(day)).weekday() for day in days])
    trend = (1 + DAILY_GROWTH) ** days

    def noise(series: int, sigma: float) -> np.ndarray:
        return rng(config, "volumes", series).lognormal(0.0, sigma, config.days)

    traffic = np.array(WEEKDAY_TRAFFIC)[weekday] * trend * noise(0, TRAFFIC_NOISE)
    events = allocate(config.events_per_day * config.days, traffic, minimum=24)
    orders_per_day = max(1, round(config.events_per_day * ORDERS_PER_EVENT))
    orders = allocate(orders_per_day * config.days, traffic * noise(1, CONVERSION_NOISE), minimum=1)
    signups = np.array(WEEKDAY_SIGNUPS)[weekday] * trend * noise(2, SIGNUP_NOISE)
    initial = int(config.customers * INITIAL_CUSTOMERS)
    new = np.zeros(config.days, dtype=np.int64)
    if config.days > 1:
        new[1:] = allocate(config.customers - initial, signups[1:])
    return Volumes(events=events, orders=orders, created_by=initial + np.cumsum(new))


def split_hours(config: GeneratorConfig, day: int, total: int) -> np.ndarray:
    """A day's events per hourly file, following the daily rhythm; every file gets one."""
    jitter = rng(config, "volumes", 3, day).lognormal(0.0, HOURLY_NOISE, 24)
    return allocate(total, HOURLY_TRAFFIC * jitter, minimum=1)


def times_of_day(generator: np.random.Generator, midnight_ms: int, rows: int) -> np.ndarray:
    """Epoch milliseconds within one day, busier in the evening like the app's traffic."""
    hours = generator.choice(24, rows, p=HOURLY_TRAFFIC)
    return midnight_ms + hours * HOUR_MS + generator.integers(0, HOUR_MS, rows)
