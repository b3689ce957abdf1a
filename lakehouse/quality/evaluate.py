"""Evaluate a pandera model on a staged partition and describe the outcome as checks.

Failures of column presence, type, nullability or key uniqueness make the `schema` check fail
with ERROR severity; every other failure (ranges, allowed values, cross-column rules) makes the
`rules` check fail with WARN severity.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import pandera.errors
import pandera.polars as pa
import polars as pl

SCHEMA = "schema"
RULES = "rules"
QUARANTINE = "quarantine_rate"
CONTRACT = "contract"
DRIFT = "schema_drift"
ERROR, WARN = "ERROR", "WARN"
SAMPLE_ROWS = 20

_SCHEMA_FAILURES = {
    "not_nullable",
    "field_uniqueness",
    "multiple_fields_uniqueness",
    "column_in_dataframe",
    "column_in_schema",
    "column_ordered",
}


@dataclass(frozen=True)
class Outcome:
    """One check evaluated on one partition."""

    check: str
    severity: str
    passed: bool
    rows_checked: int
    rows_failed: int
    by_rule: list[tuple[str, str, int]] = field(default_factory=list)
    sample: pl.DataFrame | None = None

    @property
    def failure_rate(self) -> float:
        return self.rows_failed / self.rows_checked if self.rows_checked else 0.0

    def summary(self) -> str:
        rules = "; ".join(f"{rule} on {column}: {rows} rows" for rule, column, rows in self.by_rule)
        return f"check '{self.check}' ({self.severity}) failed: {rules or 'no detail'}"

    def metadata(self) -> dict[str, object]:
        data: dict[str, object] = {
            "rows_checked": self.rows_checked,
            "rows_failed": self.rows_failed,
            "failure_rate": round(self.failure_rate, 6),
        }
        if self.by_rule:
            lines = ["| rule | column | rows |", "|---|---|---:|"]
            lines += [f"| {rule} | {column} | {rows} |" for rule, column, rows in self.by_rule]
            data["failing_rules"] = "\n".join(lines)
        if self.sample is not None and self.sample.height:
            data["failing_rows_sample"] = markdown_table(self.sample)
        return data


def is_schema_failure(check: str) -> bool:
    return check in _SCHEMA_FAILURES or check.startswith("dtype(")


def audit(
    model: type[pa.DataFrameModel] | pa.DataFrameSchema, frame: pl.DataFrame
) -> list[Outcome]:
    """The `schema` and `rules` outcomes of a pandera model (or schema) on `frame`."""
    try:
        model.validate(frame, lazy=True)
        cases = None
    except pandera.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    return [
        _outcome(SCHEMA, ERROR, frame, cases, schema=True),
        _outcome(RULES, WARN, frame, cases, schema=False),
    ]


def unique_keys(model: type[pa.DataFrameModel] | pa.DataFrameSchema) -> list[tuple[str, ...]]:
    """The column sets a model declares unique (one per unique field, plus `Config.unique`)."""
    schema = model.to_schema() if isinstance(model, type) else model
    keys = [(name,) for name, column in schema.columns.items() if column.unique]
    if schema.unique:
        keys.append(tuple([schema.unique] if isinstance(schema.unique, str) else schema.unique))
    return keys


def audit_batches(
    model: type[pa.DataFrameModel] | pa.DataFrameSchema,
    batches: Iterable[pl.DataFrame],
    duplicated_rows: Callable[[Sequence[str]], tuple[int, pl.DataFrame | None]],
) -> list[Outcome]:
    """`audit` of a partition too large to hold at once: the model checks one batch at a time
    and `duplicated_rows(columns)` counts (and samples), over the whole partition, the rows whose
    key is not unique (a query of the staged files): uniqueness is never judged in one batch."""
    # A copy: pandera caches a model's schema, and the uniqueness taken out below would be
    # gone from every later `audit` of the model in this process.
    schema = copy.deepcopy(model.to_schema() if isinstance(model, type) else model)
    keys = unique_keys(schema)
    for name, column in schema.columns.items():
        if column.unique:
            schema = schema.update_column(name, unique=False)
    schema.unique = None
    parts: list[list[Outcome]] = []
    offset = 0
    for batch in batches:
        parts.append([_shifted(outcome, offset) for outcome in audit(schema, batch)])
        offset += batch.height
    if not parts:
        raise ValueError("audit_batches needs at least one batch (an empty frame for no rows)")
    schema_outcome, rules_outcome = (_merged([part[i] for part in parts]) for i in (0, 1))
    for columns in keys:
        duplicated, copies = duplicated_rows(columns)
        if duplicated:
            check = "field_uniqueness" if len(columns) == 1 else "multiple_fields_uniqueness"
            samples = [schema_outcome.sample]
            if copies is not None:
                samples.append(copies.with_columns(_failed_rules=pl.lit(check)))
            present = [frame for frame in samples if frame is not None]
            schema_outcome = Outcome(
                SCHEMA,
                ERROR,
                False,
                schema_outcome.rows_checked,
                min(schema_outcome.rows_checked, schema_outcome.rows_failed + duplicated),
                [*schema_outcome.by_rule, (check, ", ".join(columns), duplicated)],
                pl.concat(present, how="diagonal_relaxed").head(SAMPLE_ROWS),
            )
    return [schema_outcome, rules_outcome]


def _shifted(outcome: Outcome, offset: int) -> Outcome:
    if outcome.sample is None or not offset:
        return outcome
    sample = outcome.sample.with_columns(pl.col("index") + offset)
    return Outcome(**{**outcome.__dict__, "sample": sample})


def _merged(outcomes: Sequence[Outcome]) -> Outcome:
    """One outcome from the same check on consecutive batches."""
    by_rule: dict[tuple[str, str], int] = {}
    for outcome in outcomes:
        for rule, column, rows in outcome.by_rule:
            by_rule[(rule, column)] = by_rule.get((rule, column), 0) + rows
    samples = [o.sample for o in outcomes if o.sample is not None and o.sample.height]
    first = outcomes[0]
    return Outcome(
        first.check,
        first.severity,
        all(o.passed for o in outcomes),
        sum(o.rows_checked for o in outcomes),
        sum(o.rows_failed for o in outcomes),
        [(rule, column, rows) for (rule, column), rows in sorted(by_rule.items())],
        pl.concat(samples, how="diagonal_relaxed").head(SAMPLE_ROWS) if samples else None,
    )


def _outcome(
    name: str, severity: str, frame: pl.DataFrame, cases: pl.DataFrame | None, *, schema: bool
) -> Outcome:
    rows = frame.height
    if cases is None:
        return Outcome(name, severity, True, rows, 0)
    kind = cases["check"].is_in(list(_SCHEMA_FAILURES)) | cases["check"].str.starts_with("dtype(")
    mine = cases.filter(kind if schema else ~kind)
    if mine.is_empty():
        return Outcome(name, severity, True, rows, 0)
    whole_column = mine.filter(pl.col("index").is_null())
    indexes = mine["index"].drop_nulls().unique().sort()
    failed = rows if whole_column.height else len(indexes)
    by_rule = (
        mine.group_by("check", "column")
        .agg(rows=pl.col("index").n_unique() - pl.col("index").null_count().clip(upper_bound=1))
        .with_columns(rows=pl.when(pl.col("rows") == 0).then(pl.lit(rows)).otherwise("rows"))
        .sort("check", "column")
    )
    sample = None
    if len(indexes):
        rules = (
            mine.filter(pl.col("index").is_not_null())
            .group_by("index")
            .agg(_failed_rules=pl.col("check").unique().sort().str.join(", "))
        )
        sample = (
            frame.with_row_index("index")
            .with_columns(pl.col("index").cast(pl.Int32))
            .join(rules, on="index")
            .sort("index")
            .head(SAMPLE_ROWS)
        )
    return Outcome(
        name,
        severity,
        False,
        rows,
        failed,
        [(row["check"], row["column"], int(row["rows"])) for row in by_rule.iter_rows(named=True)],
        sample,
    )


def quarantine_outcome(
    rows_in: int, quarantined: pl.DataFrame | pl.LazyFrame, threshold: float
) -> Outcome:
    """The share of input rows sent to quarantine; fails when fewer than `threshold` pass.
    A lazy frame (staged files) is only aggregated and sampled, never collected whole."""
    grouped, sample = pl.collect_all(
        [
            quarantined.lazy().group_by("_rule", "_column").len().sort("_rule", "_column"),
            quarantined.lazy().head(SAMPLE_ROWS),
        ]
    )
    by_rule = [(rule, column or "", count) for rule, column, count in grouped.iter_rows()]
    rejected = int(grouped["len"].sum())
    passed = rows_in == 0 or (rows_in - rejected) / rows_in >= threshold
    return Outcome(
        QUARANTINE, WARN, passed, rows_in, rejected, by_rule, sample if rejected else None
    )


def markdown_table(frame: pl.DataFrame) -> str:
    with pl.Config(
        tbl_formatting="MARKDOWN",
        tbl_hide_column_data_types=True,
        tbl_hide_dataframe_shape=True,
        tbl_rows=SAMPLE_ROWS,
        tbl_cols=-1,
        fmt_str_lengths=40,
        tbl_width_chars=10_000,
    ):
        return str(frame)
