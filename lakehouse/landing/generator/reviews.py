"""Product reviews: two JSON-lines files a day of ratings with a title and a free-text body.

Each review has a latent sentiment that its rating and its text both follow (ratings 1-2 come
with negative text, 3 with mixed, 4-5 with positive), except for a share whose rating disagrees
with the text, as when a customer clicks the wrong star. The text is composed from the phrase
banks of `review_text`: 1 to 6 sentences (1 to 4 in other languages) about aspects of the
product's category and general ones (delivery, price, service), with intensifiers, negations,
comparisons and mixed opinions, and, in a share of rows, typos, emoji, ALL-CAPS shouting, or an
e-mail address or a phone number the customer left. About 8% are in another language of
`REVIEW_LANGUAGES`.

Counts in `_generated.json` (`sources.reviews`): `reviews` drawn, `lines` written, `files`,
each fault of `FAULTS`, `rating_text_disagree` (healthy reviews whose rating disagrees with
their text, each once), `pii_emails` and `pii_phones` (lines that parse as JSON and hold an
e-mail address or a phone number, re-delivered copies included) and `non_english` (reviews
drawn in another language).

`review_frame` draws the same healthy rows without writing a file, for training data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
from numpy.typing import ArrayLike

from lakehouse.landing.contract import REVIEW_LANGUAGES, REVIEWS
from lakehouse.landing.generator import review_text as text
from lakehouse.landing.generator.config import CHUNK_ROWS, DAY_MS, GeneratorConfig, rng
from lakehouse.landing.generator.faults import (
    Fault,
    cut_line,
    fault_count,
    inject,
    set_column,
    unchanged,
)
from lakehouse.landing.generator.orders import UNKNOWN_PRODUCT
from lakehouse.landing.generator.products import Catalog
from lakehouse.landing.generator.text import ids, json_object, quoted
from lakehouse.landing.generator.volumes import (
    WEEKDAY_TRAFFIC,
    allocate,
    plan_volumes,
    times_of_day,
)

FILES_PER_DAY = 2
#: A product id no catalog holds (the orders feed's unknown product).
UNKNOWN_REVIEW_PRODUCT = UNKNOWN_PRODUCT
#: Ratings 1 to 5 as shops see them: mostly 5, then 4, and a bump at 1.
RATING_P = (0.12, 0.07, 0.11, 0.22, 0.48)
#: Share of reviews whose rating disagrees with the sentiment of their text.
DISAGREE_SHARE = 0.05
#: Language shares in `REVIEW_LANGUAGES` order: 92% English.
LANGUAGE_P = (0.92, 0.025, 0.02, 0.015, 0.008, 0.008, 0.004)
#: Sentences per body: 1 to 6 in English, 1 to 4 in other languages.
EN_SENTENCES_P = (0.14, 0.26, 0.25, 0.17, 0.11, 0.07)
OTHER_SENTENCES_P = (0.3, 0.35, 0.25, 0.1)
#: Shares of bodies that leave an e-mail address or a phone number (never both).
PII_EMAIL_SHARE = 0.008
PII_PHONE_SHARE = 0.006
TYPO_SHARE = 0.18
EMOJI_SHARE = 0.12
#: Shouting in capitals, among clearly negative or positive reviews (and rarely in mixed ones).
SHOUT_SHARE = 0.04
#: Of English sentences, the share about an aspect of the product's category (else general).
CATEGORY_ASPECT_SHARE = 0.6
#: UTC offsets the reviews are written in, per language.
_OFFSETS = {
    "en": ("Z", "-05:00", "-08:00", "-04:00", "-07:00", "+01:00", "+10:00", "+05:30", "-06:00"),
    "es": ("+01:00", "+02:00", "-06:00", "-05:00", "-03:00"),
    "de": ("+01:00", "+02:00"),
    "fr": ("+01:00", "+02:00", "-04:00"),
    "it": ("+01:00", "+02:00"),
    "pt": ("-03:00", "Z", "+01:00"),
    "nl": ("+01:00", "+02:00"),
}
#: Parts of the "reviews" stream: a day's chunk of healthy rows, its faults and its reviewers
#: (apart, so the rest of a row does not depend on who is alive), the products' popularity,
#: the daily volumes.
_ROWS, _FAULTS, _REVIEWERS, _POPULARITY, _VOLUMES = range(5)


def _null_key(rows: pl.DataFrame, draws: np.random.Generator, _day: int) -> pl.DataFrame:
    """The review id or the product id is missing, about half each."""
    which = pl.Series(draws.random(rows.height) < 0.5)
    return rows.with_columns(
        review_id=pl.when(which).then(None).otherwise(pl.col("review_id")),
        product_id=pl.when(which).then(pl.col("product_id")).otherwise(None),
    )


def _out_of_range(rows: pl.DataFrame, draws: np.random.Generator, _day: int) -> pl.DataFrame:
    """A rating of 0 or 6 stars."""
    return rows.with_columns(rating=pl.Series(np.where(draws.random(rows.height) < 0.5, "0", "6")))


FAULTS = (
    Fault("duplicate_reviews", 0.01, unchanged, copies=True),
    Fault("malformed_lines", 0.002, cut_line(1 / 2), breaks="line"),
    Fault("null_keys", 0.003, _null_key),
    Fault("unknown_products", 0.003, set_column("product_id", UNKNOWN_REVIEW_PRODUCT)),
    Fault("out_of_range_ratings", 0.002, _out_of_range),
)
_MALFORMED = next(n for n, fault in enumerate(FAULTS, start=1) if fault.breaks == "line")


def review_volumes(config: GeneratorConfig) -> np.ndarray:
    """Reviews per sample day: busier at the weekend, with seeded noise, averaging
    `config.reviews_per_day` exactly."""
    weekday = np.array([config.date(day).weekday() for day in range(config.days)])
    noise = rng(config, "reviews", _VOLUMES).lognormal(0.0, 0.08, config.days)
    weights = np.array(WEEKDAY_TRAFFIC)[weekday] * noise
    return allocate(config.reviews_per_day * config.days, weights, minimum=1)


def write_reviews(
    folder: Path,
    config: GeneratorConfig,
    day: int,
    total: int,
    users: np.ndarray,
    catalog: Catalog,
) -> dict[str, int]:
    """Write the day's `total` reviews by `users` (customer numbers) over its files and return
    what they hold. A row goes to the file of the half day it was written in."""
    counts: Counter[str] = Counter()
    composer = _Composer(config, catalog)
    paths = [folder / f"reviews-{number}.jsonl" for number in range(1, FILES_PER_DAY + 1)]
    outputs = [path.open("wb") for path in paths]
    try:
        for chunk, offset in enumerate(range(0, total, CHUNK_ROWS)):
            size = min(CHUNK_ROWS, total - offset)
            reviews = composer.draw(day, chunk, offset, size, users)
            draws = rng(config, "reviews", _FAULTS, day, chunk)
            delivery = inject(
                reviews, FAULTS, draws, day, chunk == 0, _with_lines, keep=("ms", "pii")
            )
            rows = delivery.rows.with_columns(
                file=(pl.col("ms") - config.day_ms(day)) // (DAY_MS // FILES_PER_DAY)
            )
            for number, output in enumerate(outputs):
                lines = rows.filter(pl.col("file") == number)["line"]
                if lines.len():
                    output.write(("\n".join(lines.to_list()) + "\n").encode())
            whole = rows.filter(pl.col("_fault") != _MALFORMED)
            healthy = pl.Series(delivery.healthy)
            counts.update(
                {
                    "reviews": size,
                    "lines": rows.height,
                    "rating_text_disagree": int(reviews["disagree"].filter(healthy).sum()),
                    "non_english": int((reviews["language"] != "en").sum()),
                    "pii_emails": int((whole["pii"] == 1).sum()),
                    "pii_phones": int((whole["pii"] == 2).sum()),
                    **delivery.counts,
                }
            )
    finally:
        for output in outputs:
            output.close()
    counts["files"] = FILES_PER_DAY
    return dict(counts)


def review_chunks(
    config: GeneratorConfig,
    day: int,
    rows: int | None = None,
    catalog: Catalog | None = None,
    customers: ArrayLike | None = None,
    with_sentiment: bool = False,
) -> Iterator[pl.DataFrame]:
    """`review_frame`, one chunk of at most `CHUNK_ROWS` rows at a time (flat memory)."""
    if rows is None:
        rows = int(review_volumes(config)[day])
    catalog = catalog if catalog is not None else Catalog(config)
    if customers is None:
        created_by = plan_volumes(config).created_by
        customers = np.arange(1, int(created_by[min(day, config.days - 1)]) + 1)
    composer = _Composer(config, catalog)
    columns = [*REVIEWS.field_names, *(["sentiment"] if with_sentiment else [])]
    for chunk, offset in enumerate(range(0, rows, CHUNK_ROWS)):
        size = min(CHUNK_ROWS, rows - offset)
        reviews = composer.draw(day, chunk, offset, size, customers)
        yield (
            reviews.with_columns(
                rating=pl.col("rating").cast(pl.Int64),
                created_at=pl.from_epoch("ms", time_unit="ms").dt.cast_time_unit("us"),
            )
            .with_columns(pl.col("created_at").dt.replace_time_zone("UTC"))
            .select(columns)
        )


def review_frame(
    config: GeneratorConfig,
    day: int,
    rows: int | None = None,
    catalog: Catalog | None = None,
    customers: ArrayLike | None = None,
    with_sentiment: bool = False,
) -> pl.DataFrame:
    """Healthy reviews of sample day `day` (no faults), typed as the contract's bronze schema:
    review_id, product_id, customer_id, rating (Int64, 1-5), title, body, language (ISO 639-1)
    and created_at, the UTC instant (Datetime("us", "UTC"); the files write it in the local
    time of the reviewer, with its offset).

    `rows` defaults to the day's volume (then `day` must be a sample day); `catalog` to the
    sample's catalog; `customers` (customer numbers, as `Population.ids_alive()` gives them) to
    every customer created by that day. With the default `rows` these are the healthy rows of
    the day's files: exactly, given the customers alive that day (`generate` passes those),
    else the same reviews by other customers. Any `rows` draws that many in the same way (a
    million in about 12 s on two cores).
    `with_sentiment` adds `sentiment`, the latent sentiment of the text ("negative", "mixed",
    "positive"), which the rating disagrees with in about `DISAGREE_SHARE` of rows. Built in
    chunks of `CHUNK_ROWS`; `review_chunks` yields them one at a time."""
    chunks = list(review_chunks(config, day, rows, catalog, customers, with_sentiment))
    if not chunks:
        schema = dict(REVIEWS.bronze_schema)
        if with_sentiment:
            schema["sentiment"] = pl.String()
        return pl.DataFrame(schema=schema)
    return pl.concat(chunks, rechunk=False)


class _Bank:
    """Texts in groups, flattened so one vectorised draw picks a text of each row's group."""

    def __init__(self, groups: list[tuple[str, ...]]) -> None:
        for texts in groups:
            assert texts, "every group needs a text"
            for value in texts:
                assert '"' not in value and "\\" not in value, value
        self.texts = pl.Series([value for texts in groups for value in texts], dtype=pl.String)
        self.length = np.array([len(texts) for texts in groups], dtype=np.int64)
        self.start = np.concatenate([[0], np.cumsum(self.length)[:-1]])

    def index(self, group: np.ndarray, u: np.ndarray) -> np.ndarray:
        return self.start[group] + (u * self.length[group]).astype(np.int64)

    def other(self, group: np.ndarray, index: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Another text of the same group than `index` (the same one if the group has one)."""
        length = self.length[group]
        step = 1 + (u * np.maximum(length - 1, 1)).astype(np.int64)
        return self.start[group] + (index - self.start[group] + step) % length

    def pick(self, group: np.ndarray, u: np.ndarray) -> pl.Series:
        return self.texts.gather(self.index(group, u))

    def distinct(self, row: np.ndarray, group: np.ndarray, index: np.ndarray) -> np.ndarray:
        """`index` with a text that repeats one earlier in its row moved on to the next text of
        its group, so a body does not say the same thing twice (while its group has others)."""
        index = index.copy()
        for _ in range(8):
            key = row.astype(np.int64) * len(self.texts) + index
            order = np.argsort(key, kind="stable")  # the first of equal keys stays first
            repeated = np.zeros(len(key), dtype=bool)
            repeated[order[1:]] = key[order[1:]] == key[order[:-1]]
            if not repeated.any():
                break
            at = np.flatnonzero(repeated)
            start, length = self.start[group[at]], self.length[group[at]]
            index[at] = start + (index[at] - start + 1) % length
        return index


_LANGUAGES = len(REVIEW_LANGUAGES)
_SENTIMENTS = len(text.SENTIMENTS)
_GROUPS = len(text.CATEGORIES) + 1  # categories, then general


def _language_banks() -> dict[str, _Bank]:
    """Every bank, grouped by language first (English, then `REVIEW_LANGUAGES` order)."""
    templates, titles, positive, negative, intensifiers, times = [], [], [], [], [], []
    for language in REVIEW_LANGUAGES:
        if language == "en":
            for sentiment in range(_SENTIMENTS):
                templates += list(text.EN_TEMPLATES[sentiment])
                titles.append(text.EN_TITLES[sentiment])
            for category in (*text.CATEGORIES, "general"):
                positive.append(text.EN_CLAUSES[category][0])
                negative.append(text.EN_CLAUSES[category][1])
            intensifiers.append(text.EN_SLOTS["I"])
            times.append(text.EN_SLOTS["T"])
            continue
        other = text.OTHER[language]
        for sentiment in range(_SENTIMENTS):
            templates += list(other["templates"][sentiment])
            titles.append(other["titles"][sentiment])
        positive += [other["P"]] * _GROUPS
        negative += [other["N"]] * _GROUPS
        intensifiers.append(other["I"])
        times.append(other["T"])
    offsets = [_OFFSETS[language] for language in REVIEW_LANGUAGES]
    return {
        "template": _Bank(templates),
        "title": _Bank(titles),
        "P": _Bank(positive),
        "N": _Bank(negative),
        "I": _Bank(intensifiers),
        "T": _Bank(times),
        "offset": _Bank(offsets),
    }


_BANKS = _language_banks()
#: English-only slots: one group each (no other language's text uses them).
_EN_SLOTS = {
    name: _Bank([values]) for name, values in text.EN_SLOTS.items() if name not in ("I", "T")
}
_THINGS = _Bank([text.EN_THINGS[category] for category in text.CATEGORIES])
_EMOJI = _Bank([text.EMOJI[sentiment] for sentiment in range(_SENTIMENTS)])
_OFFSET_MINUTES = {
    suffix: 0
    if suffix == "Z"
    else (1 if suffix[0] == "+" else -1) * (int(suffix[1:3]) * 60 + int(suffix[4:6]))
    for suffixes in _OFFSETS.values()
    for suffix in suffixes
}


class _Composer:
    """Draws healthy reviews: who reviewed which product when, the rating and the text."""

    def __init__(self, config: GeneratorConfig, catalog: Catalog) -> None:
        self.config = config
        self.category = np.asarray(catalog.category)
        popularity = rng(config, "reviews", _POPULARITY).lognormal(0.0, 1.2, config.products)
        self.popularity = popularity / popularity.sum()

    def draw(self, day: int, chunk: int, offset: int, rows: int, users: ArrayLike) -> pl.DataFrame:
        """`rows` reviews in time order; `rating` is text (as written), `ms` the UTC instant,
        `pii` 1 for an e-mail address, 2 for a phone number, `disagree` a rating at odds with
        the text's `sentiment`."""
        draws = rng(self.config, "reviews", _ROWS, day, chunk)
        first = day == 0 and chunk == 0
        # Whole seconds, as the files write them.
        ms = np.sort(times_of_day(draws, self.config.day_ms(day), rows)) // 1000 * 1000
        product = draws.choice(self.config.products, rows, p=self.popularity)
        customer = rng(self.config, "reviews", _REVIEWERS, day, chunk).choice(users, rows)
        rating = draws.choice(5, rows, p=RATING_P) + 1
        sentiment = np.select(
            [rating <= 2, rating == 3], [text.NEGATIVE, text.MIXED], text.POSITIVE
        )
        disagree = _exactly(draws, rows, DISAGREE_SHARE, first)
        rating = np.where(disagree, _disagreeing(draws, sentiment), rating)
        language = draws.choice(_LANGUAGES, rows, p=LANGUAGE_P)
        suffix = _BANKS["offset"].pick(language, draws.random(rows))
        pii = _pii(draws, rows, first)
        title, body = _compose(draws, language, sentiment, self.category[product], pii)
        prefix = f"R{self.config.date(day):%Y%m%d}-"
        frame = pl.DataFrame(
            {
                "review_id": ids(prefix, offset + np.arange(rows), 7),
                "product_id": ids("P", product + 1, 5),
                "customer_id": ids("C", customer, 7),
                "rating": pl.Series(rating).cast(pl.String),
                "title": title,
                "body": body,
                "language": pl.Series(np.array(REVIEW_LANGUAGES)[language]),
                "ms": ms,
                "suffix": suffix,
                "sentiment": pl.Series(np.array(text.SENTIMENTS)[sentiment]),
                "pii": pl.Series(pii, dtype=pl.Int8),
                "disagree": pl.Series(disagree),
            }
        )
        local = pl.col("ms") + pl.col("suffix").replace_strict(_OFFSET_MINUTES) * 60_000
        created_at = pl.concat_str(
            [
                pl.from_epoch(local, time_unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%S"),
                pl.col("suffix"),
            ]
        )
        return frame.with_columns(created_at=created_at).drop("suffix")


def _exactly(draws: np.random.Generator, rows: int, share: float, force: bool) -> np.ndarray:
    """A mask of `share` of `rows` (stochastically rounded, at least one if `force`)."""
    mask = np.zeros(rows, dtype=bool)
    mask[draws.permutation(rows)[: fault_count(draws, rows, share, force)]] = True
    return mask


def _disagreeing(draws: np.random.Generator, sentiment: np.ndarray) -> np.ndarray:
    """A rating at odds with the text: a low one for positive text, a high one for negative,
    either end for mixed."""
    roll = draws.random(len(sentiment))
    return np.select(
        [sentiment == text.POSITIVE, sentiment == text.NEGATIVE],
        [np.where(roll < 0.7, 1, 2), np.where(roll < 0.7, 5, 4)],
        np.where(roll < 0.5, 1, 5),
    )


def _pii(draws: np.random.Generator, rows: int, force: bool) -> np.ndarray:
    """0, or 1 for a body with an e-mail address, 2 with a phone number."""
    order = draws.permutation(rows)
    emails = fault_count(draws, rows, PII_EMAIL_SHARE, force)
    phones = fault_count(draws, rows, PII_PHONE_SHARE, force)
    pii = np.zeros(rows, dtype=np.int8)
    pii[order[:emails]] = 1
    pii[order[emails : emails + phones]] = 2
    return pii


def _fill(
    frame: pl.DataFrame, column: str, slots: dict[str, pl.Series], first_only: bool = False
) -> pl.DataFrame:
    """Replace each `{slot}` of `column` with the slot's value of the row (all occurrences, or
    the first of each)."""
    for slot, values in slots.items():
        pattern, value = "{" + slot + "}", pl.lit(values)
        if first_only:
            filled = pl.col(column).str.replace(pattern, value, literal=True)
        else:
            filled = pl.col(column).str.replace_all(pattern, value, literal=True)
        frame = frame.with_columns(filled)
    return frame


def _capitalized(expr: pl.Expr) -> pl.Expr:
    return pl.concat_str([expr.str.slice(0, 1).str.to_uppercase(), expr.str.slice(1)])


def _compose(
    draws: np.random.Generator,
    language: np.ndarray,
    sentiment: np.ndarray,
    category: np.ndarray,
    pii: np.ndarray,
) -> tuple[pl.Series, pl.Series]:
    """Title and body of each row, in its language and sentiment, about its category."""
    rows = len(language)
    english = language == 0
    sentences = np.where(
        english,
        draws.choice(len(EN_SENTENCES_P), rows, p=EN_SENTENCES_P) + 1,
        draws.choice(len(OTHER_SENTENCES_P), rows, p=OTHER_SENTENCES_P) + 1,
    )
    strong = sentiment != text.MIXED
    shout = draws.random(rows) < np.where(strong, SHOUT_SHARE, SHOUT_SHARE / 8)
    # Most shout the title and the first sentence, some the whole body.
    shout_all = shout & (draws.random(rows) < 0.25)

    # One row per sentence: its role follows its place in the body.
    row = np.repeat(np.arange(rows), sentences)
    total = len(row)
    place = np.arange(total) - np.repeat(np.cumsum(sentences) - sentences, sentences)
    last = (place == sentences[row] - 1) & (place > 0)
    role = np.where(
        place == 0,
        text.OPENER,
        np.where(last & (draws.random(total) < 0.6), text.CLOSER, text.MIDDLE),
    )
    lang, feeling = language[row], sentiment[row]
    aspect = np.where(
        (lang == 0) & (draws.random(total) < CATEGORY_ASPECT_SHARE), category[row], _GROUPS - 1
    )
    clause_group = lang * _GROUPS + aspect
    banks = _BANKS
    clauses = {}
    for sign in ("P", "N"):
        bank = banks[sign]
        first = bank.index(clause_group, draws.random(total))
        second = bank.other(clause_group, first, draws.random(total))
        # No clause twice in a body: the first of each sentence wins over the second.
        both = bank.distinct(
            np.concatenate([row, row]),
            np.concatenate([clause_group, clause_group]),
            np.concatenate([first, second]),
        )
        clauses[sign] = bank.texts.gather(both[:total])
        clauses[f"{sign}2"] = bank.texts.gather(both[total:])
    slots = {
        **clauses,
        # Softened, for an aside against the review's sentiment ("my only gripe is ...").
        "Pm": clauses["P"].str.replace_all("{I}", "{mild}", literal=True),
        "Nm": clauses["N"].str.replace_all("{I}", "{mild}", literal=True),
    }
    words = {
        "I": banks["I"].pick(lang, draws.random(total)),
        "T": banks["T"].pick(lang, draws.random(total)),
        **{
            name: bank.pick(np.zeros(total, dtype=np.int64), draws.random(total))
            for name, bank in _EN_SLOTS.items()
        },
        "thing": _THINGS.pick(category[row], draws.random(total)),
    }
    template_group = (lang * _SENTIMENTS + feeling) * 3 + role
    template = banks["template"].index(template_group, draws.random(total))
    template = banks["template"].distinct(row, template_group, template)
    frame = pl.DataFrame({"row": row, "s": banks["template"].texts.gather(template)})
    # A sentence may hold two intensifiers (one in the template, one in a clause): two draws.
    first_intensifier = {"I": banks["I"].pick(lang, draws.random(total))}
    frame = _fill(_fill(frame, "s", slots), "s", first_intensifier, first_only=True)
    frame = _fill(frame, "s", words)
    shouting = pl.Series(shout[row] & ((place == 0) | shout_all[row]))
    sentence = (
        pl.when(shouting).then(pl.col("s").str.to_uppercase()).otherwise(_capitalized(pl.col("s")))
    )
    body = (
        frame.with_columns(sentence.alias("s"))
        .group_by("row", maintain_order=True)
        .agg(pl.col("s").str.join(" "))["s"]
    )

    # Titles: a short phrase of the language and sentiment.
    title_frame = pl.DataFrame(
        {"t": banks["title"].pick(language * _SENTIMENTS + sentiment, draws.random(rows))}
    )
    title_words = {
        "I": banks["I"].pick(language, draws.random(rows)),
        "T": banks["T"].pick(language, draws.random(rows)),
        "A": _EN_SLOTS["A"].pick(np.zeros(rows, dtype=np.int64), draws.random(rows)),
        "thing": _THINGS.pick(category, draws.random(rows)),
    }
    title = _fill(title_frame, "t", title_words)["t"]
    title = pl.select(
        pl.when(pl.Series(shout)).then(title.str.to_uppercase()).otherwise(_capitalized(title))
    ).to_series()

    body = _with_contacts(draws, body, pii, language)
    title, body = _with_emoji(draws, title, body, sentiment)
    body = _with_typos(draws, body)
    return title.rename("title"), body.rename("body")


def _with_contacts(
    draws: np.random.Generator, body: pl.Series, pii: np.ndarray, language: np.ndarray
) -> pl.Series:
    """A sentence of the review's language with an e-mail address or a phone number after the
    bodies `pii` marks."""
    at = np.flatnonzero(pii)
    if not len(at):
        return body
    rows = len(at)
    first = np.array(text.FIRST_NAMES)[draws.integers(0, len(text.FIRST_NAMES), rows)]
    last = np.array(text.LAST_NAMES)[draws.integers(0, len(text.LAST_NAMES), rows)]
    domain = np.array(text.EMAIL_DOMAINS)[draws.integers(0, len(text.EMAIL_DOMAINS), rows)]
    style = draws.integers(0, 3, rows)
    kind = draws.integers(0, 5, rows)
    digits = draws.integers(0, 10_000, (rows, 3))
    choice = draws.random(rows)
    sentences = []
    for n, row in enumerate(at):
        f, s, d, (a, b, c) = first[n], last[n], domain[n], digits[n]
        if pii[row] == 1:
            contact = (f"{f}.{s}@{d}", f"{f}{s}{a % 100}@{d}", f"{f[0]}{s}@{d}")[style[n]]
            bank = text.CONTACTS[REVIEW_LANGUAGES[language[row]]][0]
        else:
            contact = (
                f"+1 {201 + a % 789}-555-01{b % 100:02d}",
                f"({201 + a % 789}) 555-01{b % 100:02d}",
                f"(020) 7946 0{c % 1000:03d}",
                f"+44 20 7946 0{c % 1000:03d}",
                f"+49 30 {1000 + a % 9000} {b:04d}",
            )[kind[n]]
            bank = text.CONTACTS[REVIEW_LANGUAGES[language[row]]][1]
        sentence = bank[int(choice[n] * len(bank))]
        sentences.append(sentence.replace("{contact}", contact))
    ending = pl.Series(sentences, dtype=pl.String)
    return body.scatter(at, body.gather(at) + " " + ending)


def _with_emoji(
    draws: np.random.Generator, title: pl.Series, body: pl.Series, sentiment: np.ndarray
) -> tuple[pl.Series, pl.Series]:
    """One to three emoji of the text's sentiment after a share of bodies, some titles too."""
    rows = len(sentiment)
    chosen = draws.random(rows) < EMOJI_SHARE
    count = draws.integers(1, 4, rows)
    marks = [
        pl.when(pl.Series(chosen & (count > n))).then(_EMOJI.pick(sentiment, draws.random(rows)))
        for n in range(3)
    ]
    emoji = pl.concat_str(marks, ignore_nulls=True)
    in_title = pl.Series(chosen & (draws.random(rows) < 0.3))
    return (
        pl.select(
            pl.when(in_title).then(pl.concat_str([title, pl.lit(" "), emoji])).otherwise(title)
        ).to_series(),
        pl.select(
            pl.when(pl.Series(chosen))
            .then(pl.concat_str([body, pl.lit(" "), emoji]))
            .otherwise(body)
        ).to_series(),
    )


def _with_typos(draws: np.random.Generator, body: pl.Series) -> pl.Series:
    """One to three misspelt words (two letters swapped, one dropped or doubled) in a share of
    bodies; only words of letters are touched, never an address or a number."""
    rows = body.len()
    chosen = np.flatnonzero(draws.random(rows) < TYPO_SHARE)
    rolls = draws.random((len(chosen), 10))
    if not len(chosen):
        return body
    texts = body.gather(chosen).to_list()
    changed = [_misspelt(value, roll) for value, roll in zip(texts, rolls, strict=True)]
    return body.scatter(chosen, pl.Series(changed, dtype=pl.String))


def _misspelt(value: str, roll: np.ndarray) -> str:
    words = value.split(" ")
    candidates = [
        n for n, word in enumerate(words) if len(word) >= 4 and word.isalpha() and word.isascii()
    ]
    for typo in range(1 if roll[0] < 0.7 else 2 if roll[0] < 0.95 else 3):
        if not candidates:
            break
        n = candidates[int(roll[1 + 3 * typo] * len(candidates))]
        word = words[n]
        at = 1 + int(roll[2 + 3 * typo] * (len(word) - 2))  # never the first letter
        kind = int(roll[3 + 3 * typo] * 3)
        if kind == 0 and at + 1 < len(word) and word[at] != word[at + 1]:
            word = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
        elif kind == 1 or word[at] == word[at - 1]:
            word = word[:at] + word[at + 1 :]
        else:
            word = word[:at] + word[at] + word[at:]
        words[n] = word
    return " ".join(words)


def _with_lines(frame: pl.DataFrame) -> pl.DataFrame:
    line = json_object(
        {
            "review_id": quoted(pl.col("review_id")),
            "product_id": quoted(pl.col("product_id")),
            "customer_id": quoted(pl.col("customer_id")),
            "rating": pl.col("rating"),
            "title": quoted(pl.col("title")),
            "body": quoted(pl.col("body")),
            "language": quoted(pl.col("language")),
            "created_at": quoted(pl.col("created_at")),
        }
    )
    return frame.with_columns(line=line)
