"""What `lakehouse sentiment` prints: texts scored by the promoted model, and that model."""

from __future__ import annotations

import polars as pl

from lakehouse.ml import registry
from lakehouse.ml.scoring import score, sentiment_label
from lakehouse.storage import LakeStore

#: The registry's metrics, in the order they are printed.
METRICS = (
    "training_rows",
    "holdout_rows",
    "accuracy",
    "f1",
    "roc_auc",
    "vader_accuracy",
    "vader_f1",
    "vader_roc_auc",
)


def scored_texts(store: LakeStore, texts: list[str]) -> list[dict[str, object]]:
    """Each text with its score, label and the version that scored it."""
    model = registry.promoted(store)
    scores = score(model.model, pl.Series("text", texts, dtype=pl.String))
    labels = pl.select(sentiment_label(pl.lit(scores))).to_series()
    return [
        {
            "text": text,
            "sentiment_score": round(float(value), 4),
            "sentiment_label": label,
            "model_version": model.version,
        }
        for text, value, label in zip(texts, scores, labels, strict=True)
    ]


def format_scored(rows: list[dict[str, object]]) -> str:
    lines = [f"model {rows[0]['model_version']}"] if rows else []
    lines += [
        f"{row['sentiment_score']:.3f}  {row['sentiment_label']:<8}  {row['text']}" for row in rows
    ]
    return "\n".join(lines)


def model_summary(store: LakeStore) -> dict[str, object]:
    """The promoted version with its metrics, and the trainings since it (if not promoted)."""
    trainings = registry.history(store)
    entry = registry.newest_promoted(trainings)
    newest = trainings.head(1).to_dicts()
    return {
        "promoted_version": entry["model_version"] if entry else registry.LEXICON_VERSION,
        "promoted": entry,
        "newest_training": newest[0] if newest else None,
    }


def format_summary(summary: dict[str, object]) -> str:
    entry = summary["promoted"]
    if not isinstance(entry, dict):
        lines = [
            f"promoted: none yet; reviews are scored by the lexicon ({registry.LEXICON_VERSION})"
        ]
    else:
        lines = [
            f"promoted: {entry['model_version']} (trained {entry['trained_at']:%Y-%m-%d %H:%M})"
        ]
        lines += [
            f"  {name:<15} {entry[name]:.4f}"
            if isinstance(entry[name], float)
            else f"  {name:<15} {entry[name]}"
            for name in METRICS
        ]
        lines.append(
            f"  trained on {entry['trained_from']} .. before {entry['holdout_from']}, "
            f"holdout {entry['holdout_from']} .. {entry['holdout_to']}"
        )
    newest = summary["newest_training"]
    if isinstance(newest, dict) and not newest["promoted"]:
        lines.append(f"newest training {newest['model_version']}: {newest['reason']}")
    return "\n".join(lines)
