"""The review sentiment model (lakehouse.ml): training and metrics on generated reviews, plain
English reviews it never saw, scoring equal to scikit-learn's, the artifact, speed."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from lakehouse.ml import (
    ArtifactError,
    from_files,
    load,
    save,
    saved_versions,
    score,
    score_frame,
    sentiment_expr,
    sentiment_label,
    to_files,
    train,
    version_of,
)
from lakehouse.ml.artifact import MANIFEST, VOCABULARY
from lakehouse.ml.bench import bench_training, generated_reviews
from lakehouse.ml.features import featurize
from lakehouse.ml.lexicon import reference_sum, squash
from lakehouse.ml.tokens import TOKEN_PATTERN, normalize_text, review_text
from lakehouse.storage import LakeFileSystem

# Reviews written by hand for these tests: never trained on, about products and in words the
# generator's templates do not use, several with negation.
POSITIVE_REVIEWS = [
    "The blender crushes ice in seconds and it is easy to clean. Best kitchen purchase this year.",
    "Not bad at all for the price. The headphones sound clear and the battery lasts a flight.",
    "My daughter wears these boots every day and they still look new after a muddy winter.",
    "I was skeptical, but this vacuum picks up dog hair from the carpet like nothing else.",
    "Arrived early, fits my laptop perfectly, and the zipper feels sturdy.",
    "Never had a problem with it in two years of daily use.",
    "The tent kept us dry through a night of heavy rain. Setup took ten minutes.",
    "Comfortable chair, my back pain is gone after a week of working from home.",
    "This kettle boils water fast and shuts off by itself. Exactly what I needed.",
    "Love it! The colors on this monitor are gorgeous.",
    "Honestly can't complain, the drill has handled every job I threw at it.",
    "Five stars. The knife is razor sharp and holds its edge.",
    "The kids play with this puzzle every evening, and no pieces have gone missing.",
    "Good value. The sheets are soft and survived many washes without fading.",
    "Didn't expect much from a cheap phone case, but it saved my phone from a fall downstairs.",
    "Works exactly as described and customer service answered my question within an hour.",
    "The coffee tastes rich and smooth, I have reordered it three times.",
    "Great little speaker, surprisingly loud for its size.",
    "The instructions were clear and the shelf went together in twenty minutes. Very happy.",
    "I would buy this lamp again without hesitation.",
    "Runs quietly, cools the room quickly, and the remote is handy.",
    "My cat ignores every toy except this one. Worth every penny.",
    "Wonderful book, I could not put it down.",
    "The jacket is warm, light, and the pockets are deep enough for my phone.",
]
NEGATIVE_REVIEWS = [
    "The blender stopped working after two weeks. Total waste of money.",
    "Not worth it. The headphones crackle and the left ear died within a month.",
    "These boots leaked the first time I walked through a puddle.",
    "It never worked. The power button does nothing and support never replied.",
    "The strap snapped on day three and the seller refused a refund.",
    "Didn't last. The handle fell off after a handful of uses.",
    "The tent poles bent in light wind and the rain came straight through the seams.",
    "Uncomfortable chair, the cushion went flat within a month and now it creaks.",
    "The kettle started leaking from the base and smells like burnt plastic.",
    "Terrible monitor, half the screen flickers and there are dead pixels everywhere.",
    "Would not recommend. The drill battery won't hold a charge.",
    "The knife was dull out of the box and rusted after one wash.",
    "Pieces were missing from the puzzle and the box arrived crushed.",
    "The sheets pilled after the first wash and the color faded badly.",
    "The phone case cracked when I dropped it from my desk.",
    "Nothing like the photos. The fabric is thin and see-through.",
    "The coffee tasted stale and bitter, I threw the bag away.",
    "Very disappointed, the speaker crackles at any volume above half.",
    "The screws did not fit the holes and the shelf wobbles no matter what I do.",
    "I returned it the next day. Cheap plastic that feels like a toy.",
    "It is loud, barely cools the room, and the remote stopped responding.",
    "My cat was sick after eating these treats. Avoid.",
    "Boring book, I gave up halfway through.",
    "The jacket zipper broke the first week and the seams are coming apart.",
]
#: Odd texts the scorer must handle like scikit-learn does.
EDGE_TEXTS = [
    "",
    "!!! ??? ...",
    "GOOD good Good gOoD",
    "I didn\u2019t like it, it isn\u2019t what I wanted",
    "Café crème brûlée: très bon, naïve façade",
    "great great great great great",
    "It's not bad, but it's not good either",
    "no_underscore_words here_ and _there",
    "Es un producto excelente, muy bueno 👍",
    "1 star. 2 stars? 10/10",
    "Love it ❤️, café au lait ½ price ①",
]

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def reviews() -> pl.DataFrame:
    """Eight days of generated reviews, 4,000 a day."""
    return generated_reviews(32_000, days=8, seed=11)


@pytest.fixture(scope="module")
def trained(reviews):
    return train(reviews, holdout_days=2)


def hand_written() -> tuple[pl.Series, np.ndarray]:
    texts = pl.Series(POSITIVE_REVIEWS + NEGATIVE_REVIEWS)
    labels = np.r_[np.ones(len(POSITIVE_REVIEWS)), np.zeros(len(NEGATIVE_REVIEWS))]
    return texts, labels


def test_holdout_metrics_on_generated_reviews(trained, reviews):
    metrics = trained.metrics
    days = sorted(reviews["day"].unique().to_list())
    assert metrics["holdout_from"] == days[-2].isoformat()
    assert metrics["holdout_to"] == days[-1].isoformat()
    assert metrics["trained_from"] == days[0].isoformat()
    assert metrics["trained_to"] == days[-3].isoformat()
    # Ratings of 3 are left out: every counted row is a 1, 2, 4 or 5.
    labelled = reviews.filter(pl.col("rating") != 3)
    in_holdout = pl.col("day") >= days[-2]
    assert metrics["holdout_rows"] == labelled.filter(in_holdout).height
    assert metrics["training_rows"] == labelled.filter(~in_holdout).height
    assert metrics["fit_rows"] == metrics["training_rows"]
    assert metrics["f1"] >= 0.8
    assert metrics["accuracy"] >= 0.85
    assert metrics["roc_auc"] >= 0.85
    # The baseline, on the same holdout rows.
    assert metrics["vader_rows"] == metrics["holdout_rows"]
    for name in ("accuracy", "f1", "roc_auc"):
        assert 0.5 <= metrics[f"vader_{name}"] <= 1.0
        assert metrics[name] > metrics[f"vader_{name}"], name
    assert trained.model.info["metrics"] == metrics


def test_hand_written_reviews_are_classified(trained):
    texts, labels = hand_written()
    scores = score(trained.model, texts).to_numpy()
    correct = (scores >= 0.5) == (labels == 1)
    wrong = [
        (round(float(s), 3), text)
        for s, text, ok in zip(scores, texts, correct, strict=True)
        if not ok
    ]
    assert len(texts) >= 40
    assert correct.mean() >= 0.9, wrong


@pytest.mark.parametrize(
    ("text", "positive"),
    [
        ("Not bad at all.", True),
        ("Never disappointed, not once.", True),
        ("It isn't great.", False),
        ("It never worked.", False),
        ("Didn't last a week.", False),
        ("No problems whatsoever, I'm glad I bought it.", True),
    ],
)
def test_negation(trained, text, positive):
    value = score(trained.model, pl.Series([text]))[0]
    assert (value >= 0.5) == positive, value


def test_lexicon_vectorized_equals_its_reference(trained):
    model = trained.model
    texts = pl.Series(POSITIVE_REVIEWS + NEGATIVE_REVIEWS + EDGE_TEXTS)
    batch = featurize(texts, model.index, model.idf, model.lexicon)
    expected = squash(np.array([reference_sum(text, model.lexicon) for text in texts]))
    np.testing.assert_allclose(batch.compound, expected, rtol=0, atol=1e-12)
    compound = dict(zip(texts, batch.compound, strict=True))
    assert compound["It's not bad, but it's not good either"] < 0  # "but" weighs what follows


def test_scoring_equals_scikit_learn(trained, reviews):
    """The Polars/NumPy scorer computes what TfidfVectorizer + LogisticRegression.predict_proba
    compute from the exported numbers; the lexicon boost is the only part on top of them."""
    model = trained.model
    texts = pl.concat(
        [
            review_text().alias("text").pipe(lambda e: reviews.select(e).to_series()).head(3000),
            pl.Series("text", POSITIVE_REVIEWS + NEGATIVE_REVIEWS + EDGE_TEXTS),
        ]
    )
    vectorizer = TfidfVectorizer(
        vocabulary={term: i for i, term in enumerate(model.terms.to_list())},
        preprocessor=normalize_text,
        token_pattern=TOKEN_PATTERN,
        ngram_range=(1, 2),
        norm="l2",
        smooth_idf=True,
        sublinear_tf=False,
        dtype=np.float64,
    )
    vectorizer.idf_ = model.idf
    compound = squash(np.array([reference_sum(text, model.lexicon) for text in texts]))
    design = sp.hstack(
        [vectorizer.transform(texts.to_list()), model.lexicon_scale * compound[:, None]]
    ).tocsr()
    regression = LogisticRegression()
    regression.classes_ = np.array([0, 1])
    regression.coef_ = np.r_[model.coef, model.lexicon_coef][None, :]
    regression.intercept_ = np.array([model.intercept])
    expected = regression.predict_proba(design)[:, 1]

    trained_part = dataclasses.replace(model, lexicon_boost=0.0)
    np.testing.assert_allclose(score(trained_part, texts).to_numpy(), expected, rtol=0, atol=1e-9)
    boosted = 1 / (
        1 + np.exp(-(np.log(expected / (1 - expected)) + model.lexicon_boost * compound))
    )
    np.testing.assert_allclose(score(model, texts).to_numpy(), boosted, rtol=0, atol=1e-9)


def test_scores_labels_nulls_and_streaming(trained, reviews):
    model = trained.model
    texts = pl.Series(["Love it, works great!", None, "Broke after a day, junk.", ""])
    scores = score(model, texts)
    assert scores.dtype == pl.Float64
    assert scores.null_count() == 1 and scores[1] is None
    assert scores[0] > 0.9 and scores[2] < 0.1
    assert 0.35 < scores[3] < 0.65  # nothing to read: neutral
    labels = pl.DataFrame({"sentiment_score": [0.9, 0.65, 0.5, 0.35, 0.1, None]}).select(
        sentiment_label()
    )
    assert labels.to_series().to_list() == [
        "positive",
        "positive",
        "neutral",
        "negative",
        "negative",
        None,
    ]
    # Streaming a LazyFrame in batches, and as an expression, give the same scores.
    frame = reviews.head(25_000).lazy()
    batches = list(score_frame(model, frame, batch_rows=10_000))
    assert [batch.height for batch in batches] == [10_000, 10_000, 5_000]
    streamed = pl.concat(batches)
    direct = score(model, reviews.head(25_000).select(review_text()).to_series())
    assert streamed["sentiment_score"].equals(direct.alias("sentiment_score"))
    assert set(streamed["sentiment"].unique()) <= {"positive", "neutral", "negative"}
    via_expr = frame.select(sentiment_expr(model)).collect().to_series()
    np.testing.assert_array_equal(via_expr.to_numpy(), direct.to_numpy())


def test_artifact_round_trip(trained, tmp_path):
    model = trained.model
    fs = LakeFileSystem.local(str(tmp_path))
    folder = fs.path("models", "sentiment")
    version = save(model, fs, folder)
    assert re.fullmatch(r"[0-9a-f]{16}", version)
    assert version == version_of(to_files(model))
    assert save(model, fs, folder) == version  # already there: nothing written
    names = sorted(entry.path.rsplit("/", 1)[-1] for entry in fs.list_files(f"{folder}/{version}"))
    assert names == ["lexicon.parquet", "manifest.json", "model.json", "vocabulary.parquet"]
    assert saved_versions(fs, folder) == [version]
    loaded = load(fs, folder, version)
    assert to_files(loaded) == to_files(model)
    texts, _ = hand_written()
    assert score(loaded, texts).equals(score(model, texts))


def test_load_refuses_altered_or_incomplete_models(trained, tmp_path):
    model = trained.model
    files = to_files(model)
    version = version_of(files)
    with pytest.raises(ArtifactError, match="describes version"):
        from_files(files, "0" * 16)
    # A coefficient changed: the vocabulary file no longer matches the manifest.
    altered = dataclasses.replace(model, coef=model.coef * 1.01)
    tampered = {**files, VOCABULARY: to_files(altered)[VOCABULARY]}
    with pytest.raises(ArtifactError, match="vocabulary.parquet"):
        from_files(tampered, version)
    # The same on disk.
    fs = LakeFileSystem.local(str(tmp_path))
    folder = fs.path("models")
    save(model, fs, folder)
    with fs.open_output(f"{folder}/{version}/{VOCABULARY}") as stream:
        stream.write(tampered[VOCABULARY])
    with pytest.raises(ArtifactError, match="vocabulary.parquet"):
        load(fs, folder, version)


def test_a_save_that_dies_leaves_nothing_loadable(trained, tmp_path, monkeypatch):
    model = trained.model
    fs = LakeFileSystem.local(str(tmp_path))
    folder = fs.path("models")
    real_move = fs.move

    def dies_at_the_manifest(source: str, destination: str) -> None:
        if destination.endswith(MANIFEST):
            raise OSError("disk full")
        real_move(source, destination)

    monkeypatch.setattr(fs, "move", dies_at_the_manifest)
    with pytest.raises(OSError, match="disk full"):
        save(model, fs, folder)
    version = version_of(to_files(model))
    assert fs.exists(f"{folder}/{version}/{VOCABULARY}")
    assert saved_versions(fs, folder) == []
    with pytest.raises(ArtifactError, match="incomplete"):
        load(fs, folder, version)
    monkeypatch.setattr(fs, "move", real_move)
    assert save(model, fs, folder) == version
    assert load(fs, folder, version).vocabulary_size == model.vocabulary_size


def test_training_is_deterministic_and_checks_its_input():
    frame = generated_reviews(6_000, days=3, seed=5)
    first = train(frame, holdout_days=1, vader_rows=500)
    second = train(frame, holdout_days=1, vader_rows=500)
    assert version_of(to_files(first.model)) == version_of(to_files(second.model))
    assert first.metrics["vader_rows"] == 500
    # A text column given directly, and a LazyFrame, train the same model.
    lazy = frame.lazy().with_columns(text=review_text()).drop("title", "body")
    third = train(lazy, holdout_days=1, vader_rows=500)
    assert version_of(to_files(third.model)) == version_of(to_files(first.model))
    with pytest.raises(ValueError, match="more days than holdout_days"):
        train(frame, holdout_days=3)
    # A sample past max_fit_rows: fewer rows fitted, all counted.
    capped = train(frame, holdout_days=1, max_fit_rows=2_000, vader_rows=100)
    assert capped.metrics["fit_rows"] == 2_000
    assert capped.metrics["training_rows"] == first.metrics["training_rows"]


def test_bench_training_measures_a_child_process():
    """The harness measures a real child process (speed and memory are judged by `make bench`,
    not by tests)."""
    seconds, peak_mb = bench_training(20_000, holdout_days=2)
    assert seconds > 0 and peak_mb > 100


def test_review_text():
    frame = pl.DataFrame(
        {"title": ["Great", None, "Meh", None], "body": ["Works.", "Only body", None, None]}
    )
    assert frame.select(review_text()).to_series().to_list() == [
        "Great. Works.",
        "Only body",
        "Meh",
        None,
    ]
