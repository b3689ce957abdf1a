"""Training: labels from ratings, a time-based holdout, a logistic regression, its metrics.

Why this model: reviews are short and their sentiment sits in words and word pairs ("stopped
working", "not bad", "worth every penny"), which tf-idf of word uni- and bigrams with a logistic
regression captures; it trains in seconds, scores as a sparse dot product (vectorizable without
scikit-learn, see `scoring.py`) and exports as plain numbers. Character n-grams were left out:
they would help with typos, but multiply the features per review (and the scoring cost) for
little on this data. The training text is generated from templates, so on its own the model
knows only the templates' words; the VADER lexicon column (`lexicon.py`), with its weight
boosted past what the fit gives it (`model.LEXICON_BOOST`), carries it through reviews written
in words it never saw.

Labels: ratings 1-2 are negative (0), 4-5 positive (1), 3 is left out. The holdout is the last
`holdout_days` days of the data, so the metrics are those of a model scoring days it was not
trained on. The fit uses at most `max_fit_rows` training rows (sampled, seeded): a linear model
over templated text gains nothing from more, and the cap bounds the design matrix's memory;
vocabulary, idf and coefficients all come from the same rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp

from lakehouse.ml.features import featurize
from lakehouse.ml.lexicon import Lexicon, default_lexicon
from lakehouse.ml.metrics import VADER_ROWS, binary_metrics, vader_metrics
from lakehouse.ml.model import SentimentModel, default_options
from lakehouse.ml.scoring import score
from lakehouse.ml.tokens import review_text
from lakehouse.ml.vocabulary import TermIndex, fit_vocabulary, smooth_idf

HOLDOUT_DAYS = 2
MIN_DF = 5
MAX_FEATURES = 100_000
MAX_FIT_ROWS = 250_000
#: Inverse regularisation strength of the logistic regression.
C = 1.0
RANDOM_STATE = 0
FEATURE_BATCH_ROWS = 25_000


@dataclass(frozen=True)
class TrainedModel:
    model: SentimentModel
    metrics: dict[str, object]


def labelled(frame: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Rows with a text, a day and a rating other than 3: `text`, `label` (1 = positive),
    `day`. Without a `text` column, the text is `review_text()` of `title` and `body`."""
    lazy = frame.lazy()
    if "text" not in lazy.collect_schema().names():
        lazy = lazy.with_columns(text=review_text())
    rating = pl.col("rating")
    return lazy.filter(
        rating.is_in([1, 2, 4, 5]) & pl.col("text").is_not_null() & pl.col("day").is_not_null()
    ).select("text", label=(rating >= 4).cast(pl.Int8), day=pl.col("day").cast(pl.Date))


def train(
    frame: pl.DataFrame | pl.LazyFrame,
    holdout_days: int = HOLDOUT_DAYS,
    *,
    min_df: int = MIN_DF,
    max_features: int = MAX_FEATURES,
    max_fit_rows: int = MAX_FIT_ROWS,
    c: float = C,
    random_state: int = RANDOM_STATE,
    vader_rows: int = VADER_ROWS,
) -> TrainedModel:
    """Fit on all days but the last `holdout_days`, measure on those. `frame` needs `rating`,
    `day` and `text` (or `title` and `body`); a LazyFrame is read without holding all of it.
    Same rows in the same order, same model (and version)."""
    rows = labelled(frame)
    days = rows.select(pl.col("day").unique().sort()).collect().to_series()
    if holdout_days < 1 or len(days) <= holdout_days:
        raise ValueError(
            f"need more days than holdout_days={holdout_days}; the data has {len(days)}"
        )
    cutoff: dt.date = days[len(days) - holdout_days]
    training = rows.filter(pl.col("day") < cutoff)
    training_rows = training.select(pl.len()).collect().item()
    fit = _sample(training, training_rows, max_fit_rows, random_state)
    labels = fit["label"].to_numpy()
    if len(np.unique(labels)) < 2:
        raise ValueError("the training days hold only one class of ratings")
    model = _fit(fit["text"], labels, min_df, max_features, c, random_state)
    del fit

    holdout = rows.filter(pl.col("day") >= cutoff).collect()
    holdout_labels = holdout["label"].to_numpy()
    scores = score(model, holdout["text"]).to_numpy()
    metrics: dict[str, object] = {
        "training_rows": training_rows,
        "fit_rows": len(labels),
        "holdout_rows": holdout.height,
        **binary_metrics(holdout_labels, scores),
        **vader_metrics(holdout["text"], holdout_labels, vader_rows, random_state),
        "trained_from": days[0].isoformat(),
        "trained_to": days[len(days) - holdout_days - 1].isoformat(),
        "holdout_from": cutoff.isoformat(),
        "holdout_to": days[-1].isoformat(),
        "vocabulary_size": model.vocabulary_size,
        "positive_share": float(labels.mean()),
    }
    return TrainedModel(model.with_info({"metrics": metrics}), metrics)


def _sample(training: pl.LazyFrame, available: int, limit: int, random_state: int) -> pl.DataFrame:
    if available <= limit:
        return training.collect()
    chosen = np.sort(np.random.default_rng(random_state).choice(available, limit, replace=False))
    return (
        training.with_row_index("_row")
        .filter(pl.col("_row").is_in(pl.Series(chosen, dtype=pl.UInt32).implode()))
        .drop("_row")
        .collect()
    )


def _fit(
    texts: pl.Series, labels: np.ndarray, min_df: int, max_features: int, c: float, seed: int
) -> SentimentModel:
    lexicon = default_lexicon()
    batches = [
        texts.slice(start, FEATURE_BATCH_ROWS) for start in range(0, len(texts), FEATURE_BATCH_ROWS)
    ]
    terms, df, documents = fit_vocabulary(batches, min_df=min_df, max_features=max_features)
    idf = smooth_idf(df, documents)
    index = TermIndex.build(terms, lexicon)
    matrix = _design_matrix(batches, index, idf, lexicon, int(df.sum()))
    # Imported here: scikit-learn takes over a second to import, and every run worker, code
    # server and CLI call loads the definitions that import this module; only training needs it.
    from sklearn.linear_model import LogisticRegression

    regression = LogisticRegression(C=c, solver="lbfgs", max_iter=2000, random_state=seed)
    regression.fit(matrix, labels)
    coef = regression.coef_[0].astype(np.float64)
    return SentimentModel(
        terms=terms,
        idf=idf,
        coef=coef[: len(terms)].copy(),
        intercept=float(regression.intercept_[0]),
        lexicon_coef=float(coef[len(terms)]),
        lexicon=lexicon,
        options=default_options(min_df, max_features),
    )


def _design_matrix(
    batches: list[pl.Series], index: TermIndex, idf: np.ndarray, lexicon: Lexicon, nnz: int
) -> sp.csr_matrix:
    """The training rows' CSR matrix, filled batch by batch into arrays allocated once: the
    tf-idf part has exactly one entry per (document, term), the sum of the terms' document
    frequencies, so no batch is ever held twice."""
    rows = sum(len(batch) for batch in batches)
    width = 1  # the lexicon's column
    values = np.empty(nnz + rows * width)
    columns = np.empty(nnz + rows * width, dtype=np.int32)
    indptr = np.zeros(rows + 1, dtype=np.int64)
    row = offset = 0
    for texts in batches:
        counts, batch_columns, batch_values = featurize(texts, index, idf, lexicon).entries(
            len(idf)
        )
        values[offset : offset + len(batch_values)] = batch_values
        columns[offset : offset + len(batch_columns)] = batch_columns
        indptr[row + 1 : row + 1 + len(counts)] = offset + np.cumsum(counts)
        row += len(counts)
        offset += len(batch_values)
    if offset != len(values):
        raise AssertionError(f"design matrix has {offset} entries, expected {len(values)}")
    return sp.csr_matrix((values, columns, indptr), shape=(rows, len(idf) + width), copy=False)
