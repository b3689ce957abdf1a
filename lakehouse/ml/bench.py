"""Benchmarks of the sentiment model: scoring throughput, and training time and peak memory.

`bench_training` trains in a child process on generated reviews written to Parquet first, so
the peak RSS it reports is training's own (imports included), not the generator's or the
caller's. Run as `python -m lakehouse.ml.bench [rows]` for both numbers.
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from lakehouse.ml.model import SentimentModel
from lakehouse.ml.scoring import score
from lakehouse.ml.tokens import review_text

BENCH_START = dt.date(2024, 1, 1)
BENCH_DAYS = 10


def generated_reviews(rows: int, days: int = BENCH_DAYS, seed: int = 7) -> pl.DataFrame:
    """`rows` healthy generated reviews over `days` days, with a `day` column."""
    return pl.concat(list(_generated_days(rows, days, seed)))


def _generated_days(rows: int, days: int, seed: int):
    from lakehouse.landing.generator.config import GeneratorConfig
    from lakehouse.landing.generator.reviews import review_frame

    config = GeneratorConfig(start=BENCH_START, days=days, events_per_day=10_000, seed=seed)
    for day in range(days):
        count = rows // days + (1 if day < rows % days else 0)
        frame = review_frame(config, day, rows=count)
        yield frame.with_columns(day=pl.lit(config.date(day)))


def bench_texts(rows: int, seed: int = 7) -> pl.Series:
    """Review texts of the length the scoring target is stated for (title + body of 200 to 400
    characters): a generated review's text followed by the next review's body (the generator's
    own reviews are shorter, about 140 characters)."""
    frame = generated_reviews(rows + 1, days=1, seed=seed)
    text = frame.select(
        pl.concat_str([review_text(), pl.lit(" "), pl.col("body").shift(-1)])
    ).to_series()
    return text.head(rows).rename("text")


def bench_scoring(
    model: SentimentModel, rows: int = 200_000, texts: pl.Series | None = None
) -> float:
    """Reviews scored per second by `score` (texts generated first, not timed)."""
    texts = bench_texts(rows) if texts is None else texts
    score(model, texts.head(1000))  # warm-up: the model's lookup tables are built once
    start = time.perf_counter()
    score(model, texts)
    return len(texts) / (time.perf_counter() - start)


def bench_training(rows: int = 1_000_000, holdout_days: int = 2) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of `train` on `rows` generated reviews, in a child process
    reading them from Parquet."""
    with tempfile.TemporaryDirectory(prefix="sentiment-bench-") as folder:
        for number, frame in enumerate(_generated_days(rows, BENCH_DAYS, seed=7)):
            frame.write_parquet(Path(folder) / f"day-{number:03d}.parquet")
        result = subprocess.run(
            [sys.executable, "-m", "lakehouse.ml.bench", "--train", folder, str(holdout_days)],
            check=True,
            capture_output=True,
            text=True,
        )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return report["seconds"], report["peak_rss_mb"]


def _train_child(folder: str, holdout_days: int) -> None:
    from lakehouse.ml.training import train

    start = time.perf_counter()
    trained = train(pl.scan_parquet(f"{folder}/*.parquet"), holdout_days)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb, "metrics": trained.metrics}))


def main(argv: list[str]) -> None:
    if argv[:1] == ["--train"]:
        _train_child(argv[1], int(argv[2]))
        return
    rows = int(argv[0]) if argv else 1_000_000
    seconds, peak = bench_training(rows)
    print(f"training on {rows:,} reviews: {seconds:.1f} s, peak RSS {peak:.0f} MB")
    from lakehouse.ml.training import train

    model = train(generated_reviews(100_000)).model
    rate = bench_scoring(model, rows)
    print(f"scoring {rows:,} reviews of 200-400 characters: {rate:,.0f} reviews/s")


if __name__ == "__main__":
    main(sys.argv[1:])
