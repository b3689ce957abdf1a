"""Evaluate a pandera model on a staged partition and describe the outcome as checks.

Failures of column presence, type, nullability or key uniqueness make the `schema` check fail
with ERROR severity; every other failure (ranges, allowed values, cross-column rules) makes the
`rules` check fail with WARN severity.
"""

from __future__ import annotations

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


def quarantine_outcome(rows_in: int, quarantined: pl.DataFrame, threshold: float) -> Outcome:
    """The share of input rows sent to quarantine; fails when fewer than `threshold` pass."""
    by_rule = []
    if quarantined.height:
        grouped = quarantined.group_by("_rule", "_column").len().sort("_rule", "_column")
        by_rule = [(rule, column or "", count) for rule, column, count in grouped.iter_rows()]
    passed = rows_in == 0 or (rows_in - quarantined.height) / rows_in >= threshold
    sample = quarantined.head(SAMPLE_ROWS) if quarantined.height else None
    return Outcome(QUARANTINE, WARN, passed, rows_in, quarantined.height, by_rule, sample)


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
