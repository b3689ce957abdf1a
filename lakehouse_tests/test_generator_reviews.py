"""The review generator: realistic text, exact fault counts, deterministic files."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from lakehouse.landing.contract import REVIEW_LANGUAGES, REVIEWS
from lakehouse.landing.generator import (
    FAULT_RATES,
    UNKNOWN_REVIEW_PRODUCT,
    GeneratorConfig,
    generate,
    review_frame,
    review_text,
    reviews,
)

SMALL = GeneratorConfig(start=dt.date(2026, 3, 1), days=3, events_per_day=480, seed=3)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
PHONE = re.compile(r"\+?\(?\d{2,4}\)?[ -]\d{3,4}[ -]\d{4}")
NEGATION = re.compile(
    r"\b(not|never|no|nothing|didn't|don't|doesn't|won't|can't|isn't|wouldn't|couldn't|hasn't)\b",
    re.IGNORECASE,
)
EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf\u2b50]")
ENGLISH_WORDS = re.compile(r"\b(the|it|and|this|very|with)\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reviews") / "landing"
    generate(root, SMALL)
    return root


@pytest.fixture(scope="module")
def manifest(landing: Path) -> dict:
    return json.loads((landing / "_generated.json").read_text())


def _lines(landing: Path, date: str = "*") -> list[tuple[str, str]]:
    """(folder date, line) of every review file, in file order."""
    return [
        (path.parent.name, line)
        for path in sorted(landing.glob(f"reviews/{date}/reviews-*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def _parse(lines: list[tuple[str, str]]) -> tuple[list[dict], int]:
    """The rows that parse as JSON (with their folder date as `_date`) and how many do not."""
    rows, malformed = [], 0
    for date, line in lines:
        try:
            rows.append(json.loads(line) | {"_date": date})
        except json.JSONDecodeError:
            malformed += 1
    return rows, malformed


def _healthy(rows: list[dict], products: int) -> list[dict]:
    """Rows with no fault, each review once."""
    catalog = {f"P{n:05d}" for n in range(1, products + 1)}
    seen, healthy = set(), []
    for row in rows:
        if row["review_id"] is None or row["product_id"] not in catalog:
            continue
        if not 1 <= row["rating"] <= 5 or row["review_id"] in seen:
            continue
        seen.add(row["review_id"])
        healthy.append(row)
    return healthy


def _vocabulary() -> set[str]:
    """Every word of the phrase banks, lower case."""
    words: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, str):
            words.update(re.findall(r"[a-z]+", value.lower()))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, tuple | list):
            for item in value:
                walk(item)

    for name in dir(review_text):
        if name.isupper():
            walk(getattr(review_text, name))
    return words


def test_fault_counts_match_the_files(landing: Path, manifest: dict) -> None:
    generated = manifest["sources"]["reviews"]
    lines = _lines(landing)
    assert len(lines) == generated["lines"]
    assert generated["files"] == SMALL.days * reviews.FILES_PER_DAY
    assert len(list(landing.glob("reviews/*/reviews-*.jsonl"))) == generated["files"]
    rows, malformed = _parse(lines)
    assert malformed == generated["malformed_lines"] > 0
    null_keys = [r for r in rows if r["review_id"] is None or r["product_id"] is None]
    assert len(null_keys) == generated["null_keys"] > 0
    unknown = sum(r["product_id"] == UNKNOWN_REVIEW_PRODUCT for r in rows)
    assert unknown == generated["unknown_products"] > 0
    catalog = {f"P{n:05d}" for n in range(1, SMALL.products + 1)}
    assert UNKNOWN_REVIEW_PRODUCT not in catalog
    known = {r["product_id"] for r in rows} - {None, UNKNOWN_REVIEW_PRODUCT}
    assert known <= catalog and len(known) > SMALL.products // 2
    ratings = Counter(r["rating"] for r in rows)
    assert ratings[0] + ratings[6] == generated["out_of_range_ratings"] > 0
    assert set(ratings) <= {0, 1, 2, 3, 4, 5, 6}
    ids = [r["review_id"] for r in rows if r["review_id"] is not None]
    assert len(ids) - len(set(ids)) == generated["duplicate_reviews"] > 0
    # Every review drawn is delivered once, whole or broken.
    nulled_ids = sum(r["review_id"] is None for r in rows)
    assert len(set(ids)) + nulled_ids + malformed == generated["reviews"]
    assert generated["reviews"] == SMALL.days * SMALL.reviews_per_day
    assert set(generated) >= set(FAULT_RATES["reviews"])


def test_every_fault_occurs_on_the_first_day(landing: Path) -> None:
    rows, malformed = _parse(_lines(landing, SMALL.start.isoformat()))
    ids = [r["review_id"] for r in rows if r["review_id"] is not None]
    assert malformed > 0
    assert any(r["review_id"] is None or r["product_id"] is None for r in rows)
    assert any(r["product_id"] == UNKNOWN_REVIEW_PRODUCT for r in rows)
    assert any(r["rating"] not in range(1, 6) for r in rows)
    assert len(ids) > len(set(ids))


def test_contact_details_are_counted_exactly(landing: Path, manifest: dict) -> None:
    generated = manifest["sources"]["reviews"]
    rows, _ = _parse(_lines(landing))
    emails = sum(bool(EMAIL.search(r["body"])) for r in rows)
    phones = sum(bool(PHONE.search(r["body"])) for r in rows)
    assert emails == generated["pii_emails"] > 0
    assert phones == generated["pii_phones"] > 0
    assert not any(EMAIL.search(r["title"]) or PHONE.search(r["title"]) for r in rows)
    assert (emails + phones) / len(rows) < 0.04


def test_the_text_is_varied_and_realistic(landing: Path, manifest: dict) -> None:
    rows = _healthy(_parse(_lines(landing))[0], SMALL.products)
    bodies = [r["body"] for r in rows]
    assert len(set(bodies)) / len(bodies) > 0.95
    assert len({r["title"] for r in rows}) > 60
    english = [r for r in rows if r["language"] == "en"]
    # 1 to 6 sentences, so lengths vary a lot.
    lengths = [len(body.split()) for body in bodies]
    assert min(lengths) < 8 and max(lengths) > 45
    negated = [body for body in bodies if NEGATION.search(body)]
    assert len(negated) / len(english) > 0.2
    assert len({m.group(0).lower() for b in negated for m in NEGATION.finditer(b)}) >= 6
    assert any("but" in body.split() for body in bodies)  # mixed opinions
    assert any(re.search(r"\b(better|worse) than\b", body) for body in bodies)  # comparisons
    emoji = sum(bool(EMOJI.search(r["body"])) for r in rows)
    assert 0.04 < emoji / len(rows) < 0.25
    shouted = sum(r["title"].isupper() and len(r["title"]) > 3 for r in rows)
    assert shouted > 0
    vocabulary = _vocabulary()
    misspelt = [
        body
        for body in (r["body"] for r in english)
        if any(
            word.lower() not in vocabulary
            for word in re.findall(r"\b[A-Za-z]{4,}\b", EMAIL.sub("", body))
        )
    ]
    assert 0.08 < len(misspelt) / len(english) < 0.3
    # The manifest counts the reviews whose rating disagrees with their text: about 5%.
    disagree = manifest["sources"]["reviews"]["rating_text_disagree"]
    assert 0.03 < disagree / manifest["sources"]["reviews"]["reviews"] < 0.07


def test_languages_are_declared_and_written_in(landing: Path, manifest: dict) -> None:
    rows = _healthy(_parse(_lines(landing))[0], SMALL.products)
    languages = Counter(r["language"] for r in rows)
    assert set(languages) <= set(REVIEW_LANGUAGES)
    assert len(languages) >= 5
    other = len(rows) - languages["en"]
    assert 0.04 < other / len(rows) < 0.14
    all_rows, _ = _parse(_lines(landing))
    assert sum(r["language"] != "en" for r in all_rows) >= other
    for row in rows:
        english_words = len(ENGLISH_WORDS.findall(row["body"]))
        if row["language"] == "en":
            continue
        assert english_words == 0 or EMAIL.search(row["body"]), row
    assert sum(bool(ENGLISH_WORDS.search(r["body"])) for r in rows if r["language"] == "en") > (
        0.95 * languages["en"]
    )
    assert manifest["sources"]["reviews"]["non_english"] >= other


def test_ratings_and_times(landing: Path) -> None:
    rows = _healthy(_parse(_lines(landing))[0], SMALL.products)
    assert {r["rating"] for r in rows} == {1, 2, 3, 4, 5}
    offsets, local_dates_differ = set(), 0
    for row in rows:
        created = dt.datetime.fromisoformat(row["created_at"])
        assert created.tzinfo is not None
        offsets.add(row["created_at"][19:])
        assert created.astimezone(dt.UTC).date().isoformat() == row["_date"]
        local_dates_differ += created.date().isoformat() != row["_date"]
    assert {"Z", "+02:00", "-05:00"} <= offsets and len(offsets) >= 6
    assert local_dates_differ > 0  # late evening in America, early morning in Asia


def test_same_arguments_write_byte_identical_files(landing: Path, tmp_path: Path) -> None:
    def digest(root: Path) -> dict[str, str]:
        return {
            str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.glob("reviews/*/*"))
        }

    generate(tmp_path / "again", SMALL)
    assert digest(tmp_path / "again") == digest(landing)
    assert (tmp_path / "again" / "_generated.json").read_bytes() == (
        landing / "_generated.json"
    ).read_bytes()
    other = GeneratorConfig(SMALL.start, SMALL.days, SMALL.events_per_day, seed=4)
    generate(tmp_path / "other", other)
    assert digest(tmp_path / "other") != digest(landing)


def test_review_frame_holds_the_healthy_rows_of_the_files(landing: Path) -> None:
    day = 1
    frame = review_frame(SMALL, day)
    assert frame.schema == REVIEWS.bronze_schema
    assert frame.columns == list(REVIEWS.field_names)
    date = SMALL.date(day).isoformat()
    healthy = _healthy(_parse(_lines(landing, date))[0], SMALL.products)
    files = (
        pl.DataFrame(healthy)
        .select(REVIEWS.field_names)
        .with_columns(
            pl.col("created_at").str.to_datetime("%Y-%m-%dT%H:%M:%S%#z", time_zone="UTC"),
        )
    )
    # Other customers: by default, every customer created by that day may review.
    joined = files.join(frame, on="review_id", suffix="_frame")
    assert joined.height == files.height > 0.95 * frame.height
    for column in REVIEWS.field_names[1:]:
        if column != "customer_id":
            assert (joined[column] == joined[f"{column}_frame"]).all(), column


def test_review_frame_is_typed_chunked_and_deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reviews, "CHUNK_ROWS", 1000)
    frame = review_frame(SMALL, 0, rows=2500, customers=[1, 2, 3], with_sentiment=True)
    assert frame.height == 2500 and frame["review_id"].n_unique() == 2500
    assert frame["customer_id"].is_in(["C0000001", "C0000002", "C0000003"]).all()
    assert frame["rating"].is_between(1, 5).all() and frame.null_count().sum_horizontal()[0] == 0
    assert frame["created_at"].dt.date().unique().to_list() == [SMALL.start]
    assert frame.equals(review_frame(SMALL, 0, rows=2500, customers=[1, 2, 3], with_sentiment=True))
    # The rating follows the text's sentiment, except in about 5% of rows.
    expected = (
        pl.when(pl.col("rating") <= 2)
        .then(pl.lit("negative"))
        .when(pl.col("rating") == 3)
        .then(pl.lit("mixed"))
        .otherwise(pl.lit("positive"))
    )
    disagree = frame.select((expected != pl.col("sentiment")).mean()).item()
    assert 0.03 < disagree < 0.07
    assert frame["body"].n_unique() / frame.height > 0.95
    assert review_frame(SMALL, 0, rows=0).schema == REVIEWS.bronze_schema


def test_tiny_volumes_still_count_exactly(tmp_path: Path) -> None:
    config = GeneratorConfig(dt.date(2026, 3, 1), 2, 24, review_volume=1)
    generated = generate(tmp_path, config)["sources"]["reviews"]
    lines = _lines(tmp_path)
    assert len(lines) == generated["lines"] and generated["reviews"] == 2


def test_reviews_per_day() -> None:
    assert SMALL.reviews_per_day == 200
    assert GeneratorConfig(SMALL.start, 1, 100_000).reviews_per_day == 2000
    assert GeneratorConfig(SMALL.start, 1, 480, review_volume=7).reviews_per_day == 7
    with pytest.raises(ValueError, match="review_volume"):
        GeneratorConfig(SMALL.start, 1, 480, review_volume=0)
