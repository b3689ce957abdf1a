"""The fitted model as plain numbers: what scoring needs and what the artifact stores."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import polars as pl

from lakehouse.ml.features import LEXICON_SCALE
from lakehouse.ml.lexicon import Lexicon
from lakehouse.ml.tokens import TOKEN_PATTERN
from lakehouse.ml.vocabulary import TermIndex

#: Scores at or above are "positive", at or below `NEGATIVE_AT` "negative", between "neutral".
#: A review the model reads nothing in (no known word) scores about 0.6, since most reviews are
#: positive; the band around it keeps such reviews neutral instead of calling them positive.
POSITIVE_AT = 0.65
NEGATIVE_AT = 0.35
#: Added to the lexicon's fitted weight at scoring time (see `SentimentModel`).
LEXICON_BOOST = 2.0


@dataclass(frozen=True)
class SentimentModel:
    """Logistic regression over tf-idf of word uni/bigrams and the lexicon, plus a lexicon boost.

    The logit of a text is `intercept + tfidf . coef + compound * (lexicon_scale * lexicon_coef
    + lexicon_boost)`: `terms[i]` has idf `idf[i]` and weight `coef[i]`; `compound` is the
    lexicon's score of the text (-1 .. 1). `intercept`, `coef` and `lexicon_coef` are fitted (the
    design matrix carries the compound times `lexicon_scale`); `lexicon_boost` is not: the
    templates the model trains on never need the lexicon much, text written by people does, so
    the lexicon gets that much more weight than the fit gave it. On the templates' holdout this
    costs little (the terms' weights dominate there); see the tests for what it buys.

    `options` records the featurizer's settings; `info` what the model was trained on."""

    terms: pl.Series
    idf: np.ndarray
    coef: np.ndarray
    intercept: float
    lexicon_coef: float
    lexicon: Lexicon
    lexicon_scale: float = LEXICON_SCALE
    lexicon_boost: float = LEXICON_BOOST
    options: dict[str, object] = field(default_factory=lambda: default_options())
    info: dict[str, object] = field(default_factory=dict)

    @cached_property
    def index(self) -> TermIndex:
        return TermIndex.build(self.terms, self.lexicon)

    @property
    def vocabulary_size(self) -> int:
        return len(self.terms)

    @property
    def compound_weight(self) -> float:
        return self.lexicon_scale * self.lexicon_coef + self.lexicon_boost

    def with_info(self, info: dict[str, object]) -> SentimentModel:
        return replace(self, info=info)


def default_options(min_df: int = 0, max_features: int = 0) -> dict[str, object]:
    return {
        "token_pattern": TOKEN_PATTERN,
        "lowercase": True,
        "ngram_range": [1, 2],
        "norm": "l2",
        "smooth_idf": True,
        "sublinear_tf": False,
        "min_df": min_df,
        "max_features": max_features,
        "positive_at": POSITIVE_AT,
        "negative_at": NEGATIVE_AT,
    }
