"""The vocabulary (word uni- and bigrams) and the integer lookup tables scoring runs on.

Looking up a bigram as a string per occurrence is what makes Python tokenizers slow; here each
token is looked up once, as a string, in a table of the words the model knows (vocabulary words,
lexicon words, negators), and a bigram becomes the integer `first * (W + 1) + second`, looked up
among the vocabulary's bigram keys in an integer hash table.

Fitting counts document frequencies in two streamed passes: words first (a bigram can only be
frequent if both its words are), then bigrams of frequent words as integers, so memory holds
one batch of tokens and the counts, never every distinct string bigram of the corpus.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import polars as pl

from lakehouse.ml.lexicon import Lexicon
from lakehouse.ml.tokens import POLARS_TOKEN_PATTERN, Tokens, normalized, tokenize


@dataclass(frozen=True)
class TermIndex:
    """Per known word id (`words` order; id W is "unknown"): its unigram column (-1: none), its
    valence, whether it negates or contrasts; and the bigram keys (sorted) with their columns."""

    words: pl.Series
    unigram_column: np.ndarray
    bigram_keys: np.ndarray
    bigram_columns: np.ndarray
    valence: np.ndarray
    negator: np.ndarray
    contrast: np.ndarray

    @classmethod
    def build(cls, terms: pl.Series, lexicon: Lexicon) -> TermIndex:
        parts = terms.str.split(" ")
        is_bigram = (parts.list.len() == 2).to_numpy()
        words = (
            pl.concat(
                [
                    parts.explode(),
                    pl.Series(lexicon.words, dtype=pl.String),
                    pl.Series(lexicon.negators, dtype=pl.String),
                    pl.Series([lexicon.contrast], dtype=pl.String),
                ]
            )
            .unique()
            .sort()
            .rename("word")
        )
        unknown = len(words)

        def ids(values: pl.Series) -> np.ndarray:
            return word_ids(values, words)

        unigram_column = np.full(unknown + 1, -1, dtype=np.int64)
        unigram_column[ids(terms.filter(~is_bigram))] = np.flatnonzero(~is_bigram)
        bigrams = parts.filter(is_bigram)
        keys = ids(bigrams.list.first()) * (unknown + 1) + ids(bigrams.list.last())
        order = np.argsort(keys, kind="stable")
        valence = np.zeros(unknown + 1)
        valence[ids(pl.Series(lexicon.words, dtype=pl.String))] = lexicon.valences
        negator = np.zeros(unknown + 1, dtype=bool)
        negator[ids(pl.Series(lexicon.negators, dtype=pl.String))] = True
        contrast = np.zeros(unknown + 1, dtype=bool)
        contrast[ids(pl.Series([lexicon.contrast], dtype=pl.String))] = True
        return cls(
            words=words,
            unigram_column=unigram_column,
            bigram_keys=keys[order],
            bigram_columns=np.flatnonzero(is_bigram)[order],
            valence=valence,
            negator=negator,
            contrast=contrast,
        )

    @property
    def unknown(self) -> int:
        return len(self.words)

    def _bigram_lookup(self, keys: np.ndarray) -> np.ndarray:
        """The column of each bigram key; -1 where the bigram is not in the vocabulary (a hash
        lookup in Polars, faster than a binary search)."""
        return _lookup(
            keys,
            pl.Series(self.bigram_keys, dtype=pl.Int64),
            pl.Series(self.bigram_columns, dtype=pl.Int64),
        )

    def columns(self, tokens: Tokens, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row, column) of every vocabulary term occurring in the texts, unigrams then
        bigrams."""
        unigram = self.unigram_column[ids]
        hit = unigram >= 0
        rows = [tokens.rows[hit]]
        columns = [unigram[hit]]
        if len(ids) > 1 and len(self.bigram_keys):
            # Every adjacent pair's key; a pair with an unknown word has no match in the table,
            # a pair across two texts is given the key -1, which none has.
            keys = ids[:-1] * (self.unknown + 1) + ids[1:]
            keys[tokens.position[1:] == 0] = -1
            found = self._bigram_lookup(keys)
            hit = found >= 0
            rows.append(tokens.rows[1:][hit])
            columns.append(found[hit])
        return np.concatenate(rows), np.concatenate(columns)


def _lookup(keys: np.ndarray, table_keys: pl.Series, table_values: pl.Series) -> np.ndarray:
    return (
        pl.Series(keys, dtype=pl.Int64)
        .replace_strict(table_keys, table_values, default=-1, return_dtype=pl.Int64)
        .to_numpy()
    )


def word_ids(values: pl.Series, words: pl.Series) -> np.ndarray:
    """Each value's place in `words` (sorted, unique); len(words) where it is not there."""
    return (
        values.replace_strict(
            words, np.arange(len(words), dtype=np.int64), default=len(words), return_dtype=pl.Int64
        )
        .to_numpy()
        .astype(np.int64, copy=False)
    )


def _merge(counts: pl.DataFrame | None, batch: pl.DataFrame, key: str) -> pl.DataFrame:
    if counts is None:
        return batch
    return pl.concat([counts, batch]).group_by(key).agg(pl.col("df").sum())


def _word_frequencies(texts: pl.Series) -> pl.DataFrame:
    """In how many of the texts each word occurs (a set of words per text, then a count per
    word: no table of (text, word) pairs, which costs far more memory)."""
    return (
        pl.DataFrame({"text": texts.cast(pl.String)})
        .lazy()
        .select(term=normalized(pl.col("text")).str.extract_all(POLARS_TOKEN_PATTERN).list.unique())
        .explode("term")
        .drop_nulls()
        .group_by("term")
        .agg(df=pl.len().cast(pl.Int64))
        .collect(engine="streaming")
    )


def _bigram_frequencies(tokens: Tokens, ids: np.ndarray, unknown: int) -> pl.DataFrame:
    """In how many texts each bigram of known words occurs, by integer key."""
    pair = (ids[:-1] < unknown) & (ids[1:] < unknown) & tokens.follows(1)[1:]
    keys = ids[:-1][pair] * (unknown + 1) + ids[1:][pair]
    rows = tokens.rows[1:][pair]
    span = (unknown + 1) ** 2
    if span * max(tokens.texts, 1) < 2**62:
        # (text, key) packed in one integer: a sort finds each text's distinct bigrams.
        distinct = np.unique(rows * span + keys) % span
    else:  # pragma: no cover - a vocabulary of millions of words
        pairs = pl.DataFrame({"row": rows, "key": keys}).unique()
        distinct = pairs["key"].to_numpy()
    return pl.DataFrame({"key": distinct}).group_by("key").agg(df=pl.len().cast(pl.Int64))


def fit_vocabulary(
    batches: Iterable[pl.Series], *, min_df: int, max_features: int
) -> tuple[pl.Series, np.ndarray, int]:
    """The terms (sorted), their document frequencies and the number of documents: unigrams and
    bigrams in at least `min_df` documents, the `max_features` most frequent (ties by term).
    `batches` is iterated twice."""
    batches = list(batches) if not isinstance(batches, list | tuple) else batches
    word_df: pl.DataFrame | None = None
    documents = 0
    for texts in batches:
        documents += len(texts)
        word_df = _merge(word_df, _word_frequencies(texts), "term")
    if word_df is None:
        raise ValueError("no texts to fit a vocabulary on")
    frequent = word_df.filter(pl.col("df") >= min_df)
    words = frequent["term"].sort()
    unknown = len(words)
    bigram_df: pl.DataFrame | None = None
    for texts in batches:
        tokens = tokenize(texts)
        if len(tokens.words) > 1:
            ids = word_ids(tokens.words, words)
            bigram_df = _merge(bigram_df, _bigram_frequencies(tokens, ids, unknown), "key")
    candidates = [frequent.select("term", pl.col("df").cast(pl.Int64))]
    if bigram_df is not None:
        bigrams = bigram_df.filter(pl.col("df") >= min_df)
        key = bigrams["key"].to_numpy()
        candidates.append(
            pl.DataFrame(
                {
                    "term": words.gather(key // (unknown + 1))
                    + " "
                    + words.gather(key % (unknown + 1)),
                    "df": bigrams["df"].cast(pl.Int64),
                }
            )
        )
    vocabulary = (
        pl.concat(candidates)
        .sort(["df", "term"], descending=[True, False])
        .head(max_features)
        .sort("term")
    )
    return vocabulary["term"], vocabulary["df"].to_numpy(), documents


def smooth_idf(df: np.ndarray, documents: int) -> np.ndarray:
    """scikit-learn's idf (`smooth_idf=True`): ln((1 + n) / (1 + df)) + 1."""
    return np.log((1.0 + documents) / (1.0 + df.astype(np.float64))) + 1.0
