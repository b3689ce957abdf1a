"""Review text into tokens, column-wise: one regex pass in Polars, flattened to NumPy arrays.

Training, scoring and the lexicon all read the same tokens, so the features a model was fitted on
are the features it scores with. The rules match scikit-learn's `TfidfVectorizer` given
`preprocessor=normalize_text` and `token_pattern=TOKEN_PATTERN` (the equality test relies on
it): lower case, typographic apostrophes made plain, then runs of letters and digits, keeping
inner apostrophes so that "didn't" stays one token a negation can be recognised by.

The pattern is written twice, once per regex engine, because their `\\w` differ: Rust's includes
combining marks (the variation selector of an emoji like "❤️" among them), Python's does not.
Both spell "a Unicode letter or number" (Python: alphanumeric, Rust: \\p{L} or \\p{N}).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

#: Letters and digits, with apostrophes inside a word ("didn't", "it's") kept (Python's `re`).
TOKEN_PATTERN = r"[^\W_]+(?:'[^\W_]+)*"
#: The same for Polars (Rust's regex).
POLARS_TOKEN_PATTERN = r"[\p{L}\p{N}]+(?:'[\p{L}\p{N}]+)*"
_APOSTROPHES = ("\u2019", "\u2018", "\u02bc")


def normalize_text(text: str) -> str:
    """The Python twin of `normalized` (for scikit-learn's `preprocessor`)."""
    text = text.lower()
    for apostrophe in _APOSTROPHES:
        text = text.replace(apostrophe, "'")
    return text


def normalized(text: pl.Expr) -> pl.Expr:
    text = text.str.to_lowercase()
    for apostrophe in _APOSTROPHES:
        text = text.str.replace_all(apostrophe, "'", literal=True)
    return text


def review_text(title: pl.Expr | str = "title", body: pl.Expr | str = "body") -> pl.Expr:
    """What the model reads: "title. body", either part may be missing (NULL when both are)."""
    title = pl.col(title) if isinstance(title, str) else title
    body = pl.col(body) if isinstance(body, str) else body
    both = pl.concat_str([title, pl.lit(". "), body])
    return pl.when(title.is_null()).then(body).when(body.is_null()).then(title).otherwise(both)


@dataclass(frozen=True)
class Tokens:
    """The tokens of a batch of texts, flat: `words[starts[i]:starts[i] + lengths[i]]` are text
    i's, and `rows[j]` / `position[j]` are the text and place of token j."""

    words: pl.Series
    lengths: np.ndarray
    rows: np.ndarray
    position: np.ndarray
    is_null: np.ndarray

    @property
    def texts(self) -> int:
        return len(self.lengths)

    def follows(self, k: int) -> np.ndarray:
        """For token j: whether token j - k exists in the same text (as a mask over j)."""
        return self.position >= k


def tokenize(texts: pl.Series) -> Tokens:
    """Tokens of every text (NULL texts have none). The regex runs on Polars' streaming engine,
    which splits the batch across the cores."""
    lists = (
        pl.DataFrame({"text": texts.cast(pl.String)})
        .lazy()
        .select(normalized(pl.col("text")).str.extract_all(POLARS_TOKEN_PATTERN))
        .collect(engine="streaming")
        .to_series()
    )
    is_null = lists.is_null().to_numpy()
    lengths = lists.list.len().fill_null(0).to_numpy().astype(np.int64)
    words = lists.explode(empty_as_null=False, keep_nulls=False)
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    rows = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    position = np.arange(len(words), dtype=np.int64) - starts[rows]
    return Tokens(words, lengths, rows, position, is_null)
