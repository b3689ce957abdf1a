"""Reviews through the lake: redacted and quarantined in silver, a model trained, checked and
promoted, every review scored by the version the registry names; a broken model never scores
and a tampered one is refused."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from lakehouse import ml, tables
from lakehouse.landing.generator import MANIFEST_NAME, UNKNOWN_REVIEW_PRODUCT
from lakehouse.ml import registry
from lakehouse.partitions import range_tags
from lakehouse.storage import LakeStore
from lakehouse.transforms.pii import EMAIL, PHONE
from lakehouse_tests.conftest import ALL_ASSETS, BuiltLake, resources_for
from lakehouse_tests.test_cli import run

HAND_WRITTEN = (
    "Absolutely love this blender, it crushes ice like a champ and cleans up in seconds.",
    "Arrived with a cracked screen and support never answered my emails.",
    "The zipper broke the first week. Not impressed at all.",
)


def test_silver_reviews_hold_no_contact_details_and_account_for_every_row(
    built_lake: BuiltLake,
) -> None:
    store = built_lake.store
    silver = store.scan(tables.SILVER_REVIEWS).collect()
    bronze = store.scan(tables.BRONZE_REVIEWS).collect()
    rejected = store.scan(tables.SILVER_REVIEWS_QUARANTINE).collect()
    assert silver.height > 500
    for column in ("title", "body"):
        text = silver[column].drop_nulls()
        assert not text.str.contains(EMAIL).any() and not text.str.contains(PHONE).any()
    # The generator put contact details in some reviews: they are there, as placeholders.
    manifest = json.loads((built_lake.root / "landing" / MANIFEST_NAME).read_text())
    counts = manifest["sources"]["reviews"]
    redacted = silver.filter(pl.col("pii_redacted"))
    assert counts["pii_emails"] + counts["pii_phones"] > 0 and redacted.height > 0
    assert redacted["body"].str.contains(r"\[(email|phone)\]").all()
    # Unknown products are quarantined with a reason naming them; none reach silver.
    unknown = rejected.filter(pl.col("_rule") == "known_product")
    assert unknown.height == counts["unknown_products"]
    assert unknown["_reason"].str.contains(UNKNOWN_REVIEW_PRODUCT).all()
    assert not silver["product_id"].is_in([UNKNOWN_REVIEW_PRODUCT]).any()
    # Every bronze row is in silver, in quarantine, or a copy of a review silver has.
    copies = (
        bronze.height
        - bronze["review_id"].drop_nulls().n_unique()
        - bronze["review_id"].null_count()
    )
    assert bronze.height == silver.height + rejected.height + copies - _copies_rejected(rejected)
    assert silver["review_id"].is_unique().all()


def _copies_rejected(rejected: pl.DataFrame) -> int:
    """Rejected rows whose review_id another rejected row also has (counted once above)."""
    ids = rejected["review_id"].drop_nulls()
    return ids.len() - ids.n_unique()


def test_every_review_is_scored_by_the_promoted_model(built_lake: BuiltLake) -> None:
    store = built_lake.store
    promoted = registry.promoted_entry(store)
    assert promoted is not None and promoted["f1"] >= registry.MIN_F1
    scored = store.scan(tables.GOLD_REVIEW_SENTIMENT).collect()
    silver = store.scan(tables.SILVER_REVIEWS).collect()
    assert scored.height == silver.height
    assert set(scored["model_version"]) == {promoted["model_version"]}
    assert scored["sentiment_score"].is_between(0, 1).all()
    # The score reads the text: negative reviews score lower than positive ones.
    by_rating = scored.group_by("rating").agg(pl.col("sentiment_score").mean()).sort("rating")
    assert by_rating["sentiment_score"][0] < 0.4 < 0.7 < by_rating["sentiment_score"][-1]
    daily = store.scan(tables.GOLD_PRODUCT_SENTIMENT_DAILY).collect()
    assert daily["reviews"].sum() == scored.height
    summary = store.scan(tables.GOLD_DAILY_SUMMARY).collect()
    assert summary["reviews"].sum() == scored.height
    assert summary["mean_sentiment"].is_between(0, 1).all()


@pytest.fixture
def review_lake(built_lake: BuiltLake, tmp_path: Path) -> Path:
    """A copy of the built lake and its landing: the test below breaks its model."""
    root = tmp_path / "reviews"
    shutil.copytree(built_lake.root, root)
    return root


def test_a_broken_model_is_not_promoted_and_a_tampered_one_is_refused(review_lake: Path) -> None:
    root = review_lake
    store = LakeStore.local(root / "lake")
    first = registry.promoted_entry(store)
    assert first is not None, registry.history(store)
    version = str(first["model_version"])
    # Hand-written reviews, scored by the promoted model through the CLI (how well a model
    # trained on generated reviews reads them: `test_sentiment_model.py`, on more data).
    scored = run(["sentiment", "score", "--json", *HAND_WRITTEN], root)
    assert scored.returncode == 0, scored.stderr
    rows = json.loads(scored.stdout)
    assert [row["text"] for row in rows] == list(HAND_WRITTEN)
    assert {row["model_version"] for row in rows} == {version}
    expected = ml.score(registry.promoted(store).model, pl.Series(list(HAND_WRITTEN)))
    assert [row["sentiment_score"] for row in rows] == [round(v, 4) for v in expected]
    assert {row["sentiment_label"] for row in rows} <= {"positive", "neutral", "negative"}

    # A feed bug flips the ratings of the last two days: the model trained on it fails its
    # F1 check, is recorded but not promoted, and the rescored days keep the promoted version.
    days = sorted(path.name for path in (root / "landing" / "reviews").iterdir())
    for day in days[-2:]:
        for file in (root / "landing" / "reviews" / day).glob("reviews-*.jsonl"):
            file.write_text(re.sub(r'"rating":\s*(\d)', _flipped, file.read_text()))
    # Those days through bronze, silver, the model and their scores, as their backfill would.
    rebuilt = [("bronze", "reviews"), ("silver", "reviews"), registry.MODEL_FOLDER]
    rebuilt.append(("gold", "review_sentiment"))
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            ALL_ASSETS,
            selection=[dg.AssetKey(list(path)) for path in rebuilt],
            resources=resources_for(root),
            instance=instance,
            tags=range_tags(days[-2], days[-1]),
        )
        assert result.success
        record = instance.fetch_materializations(
            dg.AssetKey(list(registry.MODEL_FOLDER)), limit=1
        ).records[0]
        assert record.asset_materialization.metadata["promoted"].value is False
    newest = registry.history(store).row(0, named=True)
    assert not newest["promoted"] and newest["f1"] < registry.MIN_F1, newest
    assert "not promoted" in newest["reason"]
    assert registry.promoted_entry(store)["model_version"] == version
    scored_days = store.scan(tables.GOLD_REVIEW_SENTIMENT, days[-2:]).collect()
    assert scored_days.height > 0 and set(scored_days["model_version"]) == {version}
    shown = run(["sentiment", "model"], root)
    assert f"promoted: {version}" in shown.stdout and "not promoted" in shown.stdout

    # One byte changed in the promoted model's files: loading refuses it, naming the file.
    vocabulary = root / "lake" / "ml" / "sentiment_model" / version / "vocabulary.parquet"
    data = bytearray(vocabulary.read_bytes())
    data[len(data) // 2] ^= 0xFF
    vocabulary.write_bytes(bytes(data))
    refused = run(["sentiment", "score", "fine"], root)
    assert refused.returncode == 2 and "vocabulary.parquet" in refused.stderr, refused.stderr


def _flipped(match: re.Match) -> str:
    return f'"rating": {6 - int(match[1])}' if match[1] in "12345" else match[0]
