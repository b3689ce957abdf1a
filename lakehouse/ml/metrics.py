"""Holdout metrics: accuracy and F1 at 0.5, ROC AUC, for the model and the VADER baseline."""

from __future__ import annotations

import numpy as np
import polars as pl

from lakehouse.ml.lexicon import vader_probability

#: VADER scores about 10,000 texts a second; a larger holdout is sampled down to this many rows
#: (seeded) for the baseline, and `vader_rows` says how many it scored.
VADER_ROWS = 20_000


def binary_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float | None]:
    """Accuracy and F1 of "positive" at score >= 0.5, and ROC AUC (None with one class)."""
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score  # slow: see training

    predicted = scores >= 0.5
    both = len(np.unique(labels)) == 2
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "f1": float(f1_score(labels, predicted, zero_division=0.0)),
        "roc_auc": float(roc_auc_score(labels, scores)) if both else None,
    }


def vader_metrics(
    texts: pl.Series, labels: np.ndarray, rows: int = VADER_ROWS, seed: int = 0
) -> dict[str, float | int | None]:
    """The baseline's metrics, prefixed `vader_`, on at most `rows` of the holdout."""
    if len(texts) > rows:
        chosen = np.sort(np.random.default_rng(seed).choice(len(texts), rows, replace=False))
        texts, labels = texts.gather(chosen), labels[chosen]
    scores = vader_probability(texts).to_numpy()
    metrics = {f"vader_{name}": value for name, value in binary_metrics(labels, scores).items()}
    return {**metrics, "vader_rows": len(texts)}
