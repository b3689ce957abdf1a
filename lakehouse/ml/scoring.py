"""Scoring reviews for the lake: column-wise, in bounded batches, no scikit-learn at run time.

`score` returns the probability that a review is positive. Texts are scored `BATCH_ROWS` at a
time (two batches in flight), so memory holds a couple of batches of tokens whatever the
input's size; smaller batches were as fast as larger ones and far lighter. For tables larger
than memory, `score_frame` streams a LazyFrame batch by batch (or use `sentiment_expr` inside a
query). Measured: 135,000 reviews of 200-400 characters a second on two idle cores.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl

from lakehouse.ml.features import featurize, linear_scores
from lakehouse.ml.model import NEGATIVE_AT, POSITIVE_AT, SentimentModel
from lakehouse.ml.tokens import review_text

BATCH_ROWS = 10_000
#: Rows `score_frame` reads at a time (scored `BATCH_ROWS` at a time).
FRAME_BATCH_ROWS = 100_000
THREADS = 2
SCORE_COLUMN = "sentiment_score"
LABEL_COLUMN = "sentiment"


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def decision(model: SentimentModel, texts: pl.Series) -> np.ndarray:
    """The logit of each text (one batch, no splitting)."""
    batch = featurize(texts, model.index, model.idf, model.lexicon)
    return linear_scores(batch, model.coef, model.intercept, model.compound_weight)


def score(
    model: SentimentModel,
    texts: pl.Series,
    batch_rows: int = BATCH_ROWS,
    threads: int = THREADS,
) -> pl.Series:
    """P(positive) per text, Float64 in 0 .. 1; NULL for a NULL text. Batches of `batch_rows`
    are scored `threads` at a time: NumPy's steps run on one core each, Polars' release the
    interpreter, so two batches in flight keep two cores busy."""
    texts = texts.cast(pl.String)
    chunks = [texts.slice(start, batch_rows) for start in range(0, len(texts), batch_rows)]
    model.index  # built once, before the threads share it  # noqa: B018

    def one(chunk: pl.Series) -> pl.Series:
        probability = pl.Series(SCORE_COLUMN, _sigmoid(decision(model, chunk)))
        return probability.set(chunk.is_null(), None)  # type: ignore[arg-type]

    if len(chunks) <= 1 or threads <= 1:
        parts = [one(chunk) for chunk in chunks]
    else:
        with ThreadPoolExecutor(threads) as pool:
            parts = list(pool.map(one, chunks))
    if not parts:
        return pl.Series(SCORE_COLUMN, [], dtype=pl.Float64)
    return pl.concat(parts)


def sentiment_expr(model: SentimentModel, text: pl.Expr | None = None) -> pl.Expr:
    """The score as an expression over `text` (default: `review_text()`): a UDF marked
    elementwise, so the streaming engine may feed it in chunks."""
    text = review_text() if text is None else text
    return text.map_batches(
        lambda texts: score(model, texts), return_dtype=pl.Float64, is_elementwise=True
    ).alias(SCORE_COLUMN)


def sentiment_label(
    score: pl.Expr | str = SCORE_COLUMN,
    positive_at: float = POSITIVE_AT,
    negative_at: float = NEGATIVE_AT,
) -> pl.Expr:
    """ "positive" at score >= 0.6, "negative" at <= 0.4, "neutral" between (NULL stays NULL)."""
    score = pl.col(score) if isinstance(score, str) else score
    return (
        pl.when(score >= positive_at)
        .then(pl.lit("positive"))
        .when(score <= negative_at)
        .then(pl.lit("negative"))
        .when(score.is_not_null())
        .then(pl.lit("neutral"))
        .alias(LABEL_COLUMN)
    )


def score_frame(
    model: SentimentModel,
    frame: pl.LazyFrame | pl.DataFrame,
    text: pl.Expr | None = None,
    batch_rows: int = FRAME_BATCH_ROWS,
) -> Iterator[pl.DataFrame]:
    """`frame` in batches of `batch_rows` rows, each with `sentiment_score` and `sentiment`
    added. Only the batch at hand is held: write each out (or concatenate) as it comes."""
    text = review_text() if text is None else text
    for batch in frame.lazy().collect_batches(chunk_size=batch_rows):
        scores = score(model, batch.select(text).to_series())
        yield batch.with_columns(scores.alias(SCORE_COLUMN)).with_columns(sentiment_label())
