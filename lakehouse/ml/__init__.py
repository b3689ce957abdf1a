"""The review sentiment model: trained with scikit-learn, scored column-wise, stored as data.

The model is a logistic regression over tf-idf of word uni- and bigrams plus one lexicon
column (VADER's valences with negation, `lexicon.py`), whose weight is boosted at scoring time
so that reviews in words the generated training text never used are still read (`model.py`).
Scores are P(positive); labels are positive at >= 0.65, negative at <= 0.35, neutral between.

- `train(frame, holdout_days)`: fit on labelled reviews, measure on the last days against the
  VADER baseline (`training.py`).
- `score(model, texts)` / `score_frame` / `sentiment_expr` / `sentiment_label`: scoring for the
  lake, in bounded batches, without scikit-learn (`scoring.py`).
- `save(model, fs, folder)` / `load(fs, folder, version)`: Parquet and JSON, versioned by
  content hash (`artifact.py`).

No Dagster here: the assets wire these together.
"""

from lakehouse.ml.artifact import (
    ArtifactError,
    from_files,
    load,
    save,
    saved_versions,
    to_files,
    version_of,
)
from lakehouse.ml.model import LEXICON_BOOST, NEGATIVE_AT, POSITIVE_AT, SentimentModel
from lakehouse.ml.scoring import (
    LABEL_COLUMN,
    SCORE_COLUMN,
    score,
    score_frame,
    sentiment_expr,
    sentiment_label,
)
from lakehouse.ml.tokens import review_text
from lakehouse.ml.training import HOLDOUT_DAYS, TrainedModel, train

__all__ = [
    "HOLDOUT_DAYS",
    "LABEL_COLUMN",
    "LEXICON_BOOST",
    "NEGATIVE_AT",
    "POSITIVE_AT",
    "SCORE_COLUMN",
    "ArtifactError",
    "SentimentModel",
    "TrainedModel",
    "from_files",
    "load",
    "review_text",
    "save",
    "saved_versions",
    "score",
    "score_frame",
    "sentiment_expr",
    "sentiment_label",
    "to_files",
    "train",
    "version_of",
]
