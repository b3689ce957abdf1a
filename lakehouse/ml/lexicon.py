"""Word valences for text the training templates never had: VADER's lexicon, scored column-wise.

The trained part of the model only knows words from its training text; a review written in other
words reaches it as almost nothing. The lexicon knows 7,500 English words, so the model carries
one more feature: the sum of the valences of a review's words, squashed as VADER squashes it
(`S / sqrt(S^2 + 15)`), with VADER's rules that matter for reviews:

- negation: a valence is multiplied by -0.74 for each negator among the three words before it
  ("not bad", "never disappointed", "isn't great", "no problems");
- contrast: words before the first "but" count half, words after it one and a half times.

VADER's rules for capitals, exclamation marks and boosters ("very") are left out: they change how
strong a review reads, rarely which side it is on. VADER itself (`vader_probability`) is slow
Python, used only as the baseline the trained model is compared with.

A small set of common product-review words VADER lacks (`REVIEW_VALENCES`: "flimsy", "sturdy",
"refund", ...) is added on the same -4 .. +4 scale. "no" is a negator here, not a negative word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import numpy as np
import polars as pl

from lakehouse.ml.tokens import TOKEN_PATTERN, Tokens, normalize_text

NEGATION_SCALAR = -0.74
NEGATION_WINDOW = 3
BUT_BEFORE = 0.5
BUT_AFTER = 1.5
#: VADER's normalisation constant: S / sqrt(S^2 + ALPHA) maps a valence sum into -1 .. 1.
ALPHA = 15.0

#: VADER's negators (NEGATE), and "no".
NEGATORS = (
    "aint", "arent", "cannot", "cant", "couldnt", "darent", "didnt", "doesnt", "ain't", "aren't",
    "can't", "couldn't", "daren't", "didn't", "doesn't", "dont", "hadnt", "hasnt", "havent",
    "isnt", "mightnt", "mustnt", "neither", "don't", "hadn't", "hasn't", "haven't", "isn't",
    "mightn't", "mustn't", "neednt", "needn't", "never", "none", "nope", "nor", "not", "nothing",
    "nowhere", "oughtnt", "shant", "shouldnt", "uhuh", "wasnt", "werent", "oughtn't", "shan't",
    "shouldn't", "wasn't", "weren't", "without", "wont", "wouldnt", "won't", "wouldn't",
    "rarely", "seldom", "despite", "no",
)  # fmt: skip
CONTRAST = "but"

#: Common words of product reviews that VADER's lexicon lacks, on its -4 .. +4 scale.
REVIEW_VALENCES: dict[str, float] = {
    # Things breaking, failing or being wrong.
    "junk": -2.0, "garbage": -2.2, "flimsy": -1.8, "shoddy": -2.0, "cheaply": -1.5,
    "defect": -1.8, "defects": -1.8, "malfunction": -2.0, "malfunctioned": -2.0,
    "unusable": -2.2, "unwearable": -2.0, "unreliable": -1.8, "poorly": -1.5,
    "overpriced": -1.8, "counterfeit": -2.2, "knockoff": -1.8, "refund": -1.2,
    "returned": -1.0, "returning": -1.0, "leaks": -1.4, "leaking": -1.4, "leaked": -1.4,
    "cracked": -1.5, "cracks": -1.2, "rusted": -1.5, "rusty": -1.3, "snapped": -1.5,
    "breaks": -1.5, "torn": -1.5, "ripped": -1.5, "frayed": -1.3, "dented": -1.3,
    "scratched": -1.3, "peeling": -1.2, "peeled": -1.2, "pilled": -1.2, "pilling": -1.2,
    "faded": -1.2, "shrank": -1.3, "shrunk": -1.3, "wobbly": -1.3, "wobbles": -1.3,
    "flickers": -1.3, "flickering": -1.3, "crackles": -1.2, "crackling": -1.2,
    "tinny": -1.2, "laggy": -1.5, "freezes": -1.5, "crashes": -1.5, "overheats": -1.6,
    "overheating": -1.6, "disconnects": -1.5, "rattles": -1.2, "squeaks": -1.2,
    "creaks": -1.2, "jammed": -1.3, "clogged": -1.3, "stale": -1.5, "bland": -1.3,
    "tasteless": -1.6, "moldy": -2.0, "expired": -1.3, "soggy": -1.2, "greasy": -1.0,
    "nightmare": -2.2, "letdown": -1.9, "flaky": -1.3, "dies": -1.8,
    # Things holding up and working.
    "sturdy": 1.8, "durable": 1.8, "reliable": 1.8, "flawlessly": 2.3, "comfy": 2.0,
    "cozy": 1.8, "roomy": 1.2, "spacious": 1.2, "sleek": 1.5, "handy": 1.5,
    "versatile": 1.5, "intuitive": 1.5, "seamless": 1.5, "seamlessly": 1.5,
    "responsive": 1.3, "affordable": 1.2, "tasty": 2.0, "smooth": 1.0, "crisp": 1.0,
}  # fmt: skip


@dataclass(frozen=True)
class Lexicon:
    """Words with a valence, and the negation and contrast rules' parameters."""

    words: tuple[str, ...]
    valences: tuple[float, ...]
    negators: tuple[str, ...] = NEGATORS
    contrast: str = CONTRAST
    negation_scalar: float = NEGATION_SCALAR
    negation_window: int = NEGATION_WINDOW
    but_before: float = BUT_BEFORE
    but_after: float = BUT_AFTER
    alpha: float = ALPHA
    _table: dict[str, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_table", dict(zip(self.words, self.valences, strict=True)))

    def valence(self, word: str) -> float:
        return self._table.get(word, 0.0)

    def parameters(self) -> dict[str, object]:
        """Everything but the word list, for the model's JSON."""
        return {
            "negators": list(self.negators),
            "contrast": self.contrast,
            "negation_scalar": self.negation_scalar,
            "negation_window": self.negation_window,
            "but_before": self.but_before,
            "but_after": self.but_after,
            "alpha": self.alpha,
        }

    @classmethod
    def from_parts(cls, frame: pl.DataFrame, parameters: dict[str, object]) -> Lexicon:
        return cls(
            words=tuple(frame["word"].to_list()),
            valences=tuple(frame["valence"].to_list()),
            negators=tuple(parameters["negators"]),  # type: ignore[arg-type]
            contrast=str(parameters["contrast"]),
            negation_scalar=float(parameters["negation_scalar"]),  # type: ignore[arg-type]
            negation_window=int(parameters["negation_window"]),  # type: ignore[arg-type]
            but_before=float(parameters["but_before"]),  # type: ignore[arg-type]
            but_after=float(parameters["but_after"]),  # type: ignore[arg-type]
            alpha=float(parameters["alpha"]),  # type: ignore[arg-type]
        )

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            {"word": list(self.words), "valence": list(self.valences)},
            schema={"word": pl.String, "valence": pl.Float64},
        )


@cache
def default_lexicon() -> Lexicon:
    """VADER's words that can be tokens (not its emoticons), plus `REVIEW_VALENCES`, less the
    negators; sorted by word."""
    text = resources.files("vaderSentiment").joinpath("vader_lexicon.txt").read_text("utf-8")
    token = re.compile(TOKEN_PATTERN)
    table: dict[str, float] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and token.fullmatch(parts[0]):
            table[parts[0]] = float(parts[1])
    table.update(REVIEW_VALENCES)
    for negator in NEGATORS:
        table.pop(negator, None)
    words = tuple(sorted(table))
    return Lexicon(words, tuple(table[word] for word in words))


def valence_sums(
    tokens: Tokens, valence: np.ndarray, negator: np.ndarray, contrast: np.ndarray, lexicon: Lexicon
) -> np.ndarray:
    """Per text, the sum of its words' valences after negation and contrast. `valence`,
    `negator` and `contrast` are per token."""
    scored = np.flatnonzero(valence != 0.0)
    position = tokens.position[scored]
    adjusted = valence[scored].astype(np.float64)
    for back in range(1, lexicon.negation_window + 1):
        negated = position >= back
        negated[negated] = negator[scored[negated] - back]
        adjusted = np.where(negated, adjusted * lexicon.negation_scalar, adjusted)
    contrasts = np.flatnonzero(contrast)
    if len(contrasts):
        first = np.full(tokens.texts, np.iinfo(np.int64).max)
        np.minimum.at(first, tokens.rows[contrasts], tokens.position[contrasts])
        pivot = first[tokens.rows[scored]]
        has = pivot != np.iinfo(np.int64).max
        adjusted = np.where(has & (position < pivot), adjusted * lexicon.but_before, adjusted)
        adjusted = np.where(has & (position > pivot), adjusted * lexicon.but_after, adjusted)
    return np.bincount(tokens.rows[scored], weights=adjusted, minlength=tokens.texts)


def squash(sums: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """VADER's compound: a valence sum mapped into -1 .. 1."""
    return sums / np.sqrt(sums * sums + alpha)


def reference_sum(text: str, lexicon: Lexicon) -> float:
    """`valence_sums` for one text in plain Python: the specification the test checks the
    vectorized version against."""
    words = re.findall(TOKEN_PATTERN, normalize_text(text))
    negators = set(lexicon.negators)
    pivot = words.index(lexicon.contrast) if lexicon.contrast in words else None
    total = 0.0
    for i, word in enumerate(words):
        value = lexicon.valence(word)
        if value == 0.0:
            continue
        for back in range(1, lexicon.negation_window + 1):
            if i >= back and words[i - back] in negators:
                value *= lexicon.negation_scalar
        if pivot is not None and i < pivot:
            value *= lexicon.but_before
        elif pivot is not None and i > pivot:
            value *= lexicon.but_after
        total += value
    return total


def vader_probability(texts: pl.Series) -> pl.Series:
    """VADER's compound score of each text mapped to 0 .. 1 ((compound + 1) / 2); the baseline.
    About 10,000 texts a second: meant for a holdout sample, not the lake."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    values = [
        None if text is None else (analyzer.polarity_scores(text)["compound"] + 1.0) / 2.0
        for text in texts.cast(pl.String).to_list()
    ]
    return pl.Series("vader", values, dtype=pl.Float64)
