"""`ml/sentiment_model`: the review sentiment model as an asset, checked before it is promoted.

Each materialization trains on every day of silver reviews but the last `holdout_days`, measures
on those beside the VADER lexicon, saves the model under the lake by its content hash and records
it in `ml.sentiment_models`. Two checks decide what scoring uses: holdout F1 at least `MIN_F1`
(ERROR: below it the model is recorded but not promoted, and scoring keeps the previous version)
and no worse than the promoted model by more than `MAX_F1_DROP` (WARN). They are not blocking:
a model that fails them is simply never used, and the rest of the run goes on.

It has no automation condition: retraining on every batch of reviews would cost minutes for
nothing. The daily schedule and `lakehouse build` retrain it; rescoring old days with a new
model is a backfill of `gold/review_sentiment`.
"""

import datetime as dt
from collections.abc import Iterator
from typing import Any

import dagster as dg
import polars as pl

from lakehouse import ml, tables
from lakehouse.defs.publishing import asset_key, utc_now
from lakehouse.defs.resources import LakeResource
from lakehouse.ml import registry
from lakehouse.partitions import SINGLE_RUN

MODEL_KEY = dg.AssetKey(list(registry.MODEL_FOLDER))
F1_CHECK = "holdout_f1"
REGRESSION_CHECK = "no_worse_than_promoted"


class SentimentModelConfig(dg.Config):
    holdout_days: int = ml.HOLDOUT_DAYS


def _round(value: object) -> object:
    return round(value, 4) if isinstance(value, float) else value


@dg.asset(
    key=MODEL_KEY,
    group_name="ml",
    pool="ml",
    # As on every unpartitioned asset: a partition range over the whole graph stays one run.
    backfill_policy=SINGLE_RUN,
    deps=[asset_key(tables.SILVER_REVIEWS)],
    kinds={"scikit-learn", "polars"},
    owners=[tables.ANALYTICS],
    tags={"layer": "ml", "domain": "reviews"},
    description="Review sentiment classifier (tf-idf of words and word pairs + logistic "
    "regression, with the VADER lexicon as a feature), labelled from ratings (1-2 negative, "
    "4-5 positive), measured on the last days. Promoted when its checks pass.",
    check_specs=[
        dg.AssetCheckSpec(
            F1_CHECK,
            asset=MODEL_KEY,
            description=f"Holdout F1 >= {registry.MIN_F1}; below it the model is not promoted "
            "(ERROR)",
        ),
        dg.AssetCheckSpec(
            REGRESSION_CHECK,
            asset=MODEL_KEY,
            description=f"Holdout F1 within {registry.MAX_F1_DROP} of the promoted model's (WARN)",
        ),
    ],
)
def sentiment_model(
    context: dg.AssetExecutionContext, config: SentimentModelConfig, lake: LakeResource
) -> Iterator[Any]:
    store, now = lake.store(), utc_now()
    reviews = store.scan(tables.SILVER_REVIEWS).select(
        "title", "body", "rating", day=pl.col("review_date")
    )
    before = registry.promoted_entry(store)
    try:
        trained = ml.train(reviews, config.holdout_days)
    except ValueError as reason:  # too few days or one class: nothing to promote
        context.log.warning(f"no model trained: {reason}")
        yield dg.MaterializeResult(
            metadata={"trained": False, "reason": str(reason)},
            check_results=[
                dg.AssetCheckResult(
                    check_name=F1_CHECK,
                    passed=False,
                    severity=dg.AssetCheckSeverity.ERROR,
                    description=f"No model trained: {reason}",
                ),
                dg.AssetCheckResult(check_name=REGRESSION_CHECK, passed=True),
            ],
        )
        return
    metrics = trained.metrics
    version = ml.save(trained.model, store.fs, registry.model_folder(store))
    f1 = float(metrics["f1"])  # type: ignore[arg-type]
    good = f1 >= registry.MIN_F1
    previous_f1 = float(before["f1"]) if before else None  # type: ignore[arg-type]
    no_worse = previous_f1 is None or f1 >= previous_f1 - registry.MAX_F1_DROP
    reason = (
        f"holdout F1 {f1:.3f} >= {registry.MIN_F1}"
        if good
        else f"holdout F1 {f1:.3f} < {registry.MIN_F1}: not promoted, scoring keeps "
        f"{before['model_version'] if before else registry.LEXICON_VERSION}"
    )
    registry.record(
        store,
        {
            **metrics,
            "model_version": version,
            "trained_at": now,
            "run_id": context.run.run_id,
            **{
                name: dt_value(metrics[name])
                for name in ("trained_from", "holdout_from", "holdout_to")
            },
            "promoted": good,
            "reason": reason,
        },
    )
    context.log.info(f"sentiment model {version}: {reason}")
    yield dg.MaterializeResult(
        metadata={
            "model_version": version,
            "promoted": good,
            "promoted_version": version if good else (before or {}).get("model_version", "none"),
            **{name: _round(value) for name, value in metrics.items()},
            "path": dg.MetadataValue.path(f"{registry.model_folder(store)}/{version}"),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=F1_CHECK,
                passed=good,
                severity=dg.AssetCheckSeverity.ERROR,
                description=reason,
                metadata={"f1": f1, "threshold": registry.MIN_F1, "vader_f1": metrics["vader_f1"]},
            ),
            dg.AssetCheckResult(
                check_name=REGRESSION_CHECK,
                passed=no_worse,
                severity=dg.AssetCheckSeverity.WARN,
                description=(
                    "no model promoted before"
                    if previous_f1 is None
                    else f"holdout F1 {f1:.3f} against {previous_f1:.3f} of "
                    f"{before['model_version']}"  # type: ignore[index]
                ),
            ),
        ],
    )


def dt_value(text: object) -> dt.date | None:
    """A registry date column from the metrics' ISO text."""
    return dt.date.fromisoformat(str(text)) if text is not None else None


ml_assets = [sentiment_model]
