"""Row filters from query parameters: `?column=value` (equality) and `?column__gte=value`
(`__gt`, `__gte`, `__lt`, `__lte`), values cast to the column's type by DuckDB. Filters on the
partition column also choose which partitions' files are opened at all."""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lakehouse.catalog import duckdb_type
from lakehouse.storage import ident
from lakehouse.table_spec import TableSpec

OPERATORS = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_COMPARE = {
    "eq": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


class BadRequest(ValueError):
    """A request the caller must change: the message says how (served as `status`)."""

    status = 400


class CursorExpired(BadRequest):
    """A cursor pinned to a version whose files vacuum has removed: start again without it."""

    status = 410


@dataclass(frozen=True)
class Filter:
    column: str
    op: str
    value: str

    def sql(self, spec: TableSpec) -> str:
        dtype = duckdb_type(spec.read_schema[self.column])
        return f"{ident(self.column)} {OPERATORS[self.op]} CAST(? AS {dtype})"


def parse_filters(
    spec: TableSpec, params: Iterable[tuple[str, str]], masked: Iterable[str] = ()
) -> list[Filter]:
    """The filters among `params` (reserved names already removed). A filter on a masked
    column is refused: it would let a caller test for a value it may not see."""
    columns, hidden = spec.read_schema, set(masked)
    filters = []
    for name, value in params:
        column, _, op = name.partition("__")
        op = op or "eq"
        if column not in columns:
            raise BadRequest(f"unknown column {column!r} of {spec.qualified_name}")
        if op not in OPERATORS:
            raise BadRequest(f"unknown operator {op!r}: one of {', '.join(OPERATORS)}")
        if column in hidden:
            raise BadRequest(f"column {column!r} is masked for your role: it cannot be filtered")
        filters.append(Filter(column, op, value))
    return filters


def where_clause(spec: TableSpec, filters: Iterable[Filter]) -> tuple[str, list[str]]:
    filters = list(filters)
    if not filters:
        return "", []
    return " WHERE " + " AND ".join(f.sql(spec) for f in filters), [f.value for f in filters]


def partitions(spec: TableSpec, filters: Iterable[Filter], keys: Iterable[str]) -> list[str]:
    """The partition keys (of `keys`) every filter on the partition column allows."""
    on_key = [f for f in filters if f.column == spec.partition_column]
    bounds: list[tuple[str, dt.date]] = []
    for f in on_key:
        try:
            bounds.append((f.op, dt.date.fromisoformat(f.value)))
        except ValueError as error:
            raise BadRequest(f"{f.column}={f.value!r} is not a date (YYYY-MM-DD)") from error
    return [
        key
        for key in keys
        if all(_COMPARE[op](dt.date.fromisoformat(key), bound) for op, bound in bounds)
    ]


def reserved_removed(params: Iterable[tuple[str, str]], reserved: Mapping[str, object]):
    return [(name, value) for name, value in params if name not in reserved]
