"""Which sentiment model scores the lake: every training recorded in `ml.sentiment_models`,
the newest promoted version the one in use.

Model files live under the lake (`ml/sentiment_model/<version>/`, see `artifact.py`); the
registry is a Delta table beside the other tables, so the promoted version has history, time
travel and the same storage everywhere. Before any trained model is promoted, reviews are scored
by the lexicon alone (`LEXICON_VERSION`), so gold is never blocked by a lake too small to train
on; each score names the version that made it, and a later backfill rescoring them shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from lakehouse import tables
from lakehouse.ml.artifact import load
from lakehouse.ml.lexicon import default_lexicon
from lakehouse.ml.model import SentimentModel
from lakehouse.storage import LakeStore

MODEL_FOLDER = ("ml", "sentiment_model")
#: The version name of the lexicon-only model used until a trained one is promoted.
LEXICON_VERSION = "lexicon"
#: Promotion needs this holdout F1 (an ERROR check below it) ...
MIN_F1 = 0.8
#: ... and a new model may trail the promoted one by this much F1 before a WARN check fails.
MAX_F1_DROP = 0.02


@dataclass(frozen=True)
class Promoted:
    version: str
    model: SentimentModel
    metrics: Mapping[str, object]


def model_folder(store: LakeStore) -> str:
    return store.fs.path(*MODEL_FOLDER)


def history(store: LakeStore) -> pl.DataFrame:
    """Every training, newest first."""
    return store.scan(tables.ML_SENTIMENT_MODELS).sort("trained_at", descending=True).collect()


def promoted_entry(store: LakeStore) -> dict[str, object] | None:
    """The registry row of the newest promoted model (None before any promotion)."""
    return newest_promoted(history(store))


def newest_promoted(trainings: pl.DataFrame) -> dict[str, object] | None:
    """The newest promoted row of a `history` already read."""
    rows = trainings.filter(pl.col("promoted"))
    return rows.row(0, named=True) if rows.height else None


def record(store: LakeStore, entry: Mapping[str, object]) -> None:
    """Append one training to the registry (one Delta commit)."""
    spec = tables.ML_SENTIMENT_MODELS
    row = {name: entry.get(name) for name in spec.schema}
    store.append(spec, None, pl.DataFrame([row], schema=dict(spec.schema)))


def lexicon_model() -> SentimentModel:
    """The lexicon alone (no vocabulary): VADER's valences with its negation and contrast
    rules, as a probability. What scores reviews until a trained model is promoted."""
    return SentimentModel(
        terms=pl.Series("term", [], dtype=pl.String),
        idf=np.zeros(0),
        coef=np.zeros(0),
        intercept=0.0,
        lexicon_coef=0.0,
        lexicon=default_lexicon(),
    )


def promoted(store: LakeStore) -> Promoted:
    """The model scoring uses: the newest promoted version, loaded and verified against its
    hash (a tampered file raises `ArtifactError` naming it), or the lexicon before any."""
    entry = promoted_entry(store)
    if entry is None:
        return Promoted(LEXICON_VERSION, lexicon_model(), {})
    version = str(entry["model_version"])
    return Promoted(version, load(store.fs, model_folder(store), version), entry)
