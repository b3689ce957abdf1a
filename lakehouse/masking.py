"""The PII masking rules, as DuckDB SQL: written once, applied by the API for analysts and by the
views of the analysts' catalog (`catalog_analyst.duckdb`), so the two never disagree.

Which column gets which rule is declared with the table (`TableSpec.masks`).
"""

from __future__ import annotations

from collections.abc import Sequence

from lakehouse.storage import ident
from lakehouse.table_spec import Mask, TableSpec

#: `{c}` is the quoted column. An e-mail keeps its (lower-cased) domain, so analysts can still
#: count customers by provider, and its local part becomes a stable hash: the same address
#: masks the same way in every table, so joins and distinct counts still work.
_RULES: dict[Mask, str] = {
    Mask.EMAIL: (
        "CASE WHEN {c} IS NULL THEN NULL "
        "WHEN strpos({c}, '@') > 0 THEN substr(sha256(lower(trim({c}))), 1, 12) || '@' || "
        "lower(split_part({c}, '@', -1)) "
        "ELSE substr(sha256(lower(trim({c}))), 1, 12) END"
    ),
    Mask.NAME: (
        "CASE WHEN {c} IS NULL THEN NULL ELSE array_to_string(list_transform("
        "list_filter(regexp_split_to_array(trim({c}), '\\s+'), lambda w: w <> ''), "
        "lambda w: upper(left(w, 1)) || '.'), ' ') END"
    ),
    Mask.TEXT: "CASE WHEN {c} IS NULL THEN NULL ELSE '[redacted]' END",
}


def mask_sql(mask: Mask, column: str) -> str:
    """The SQL expression masking `column` (a validated column name) by `mask`."""
    return _RULES[Mask(mask)].format(c=ident(column))


def select_list(spec: TableSpec, columns: Sequence[str], masked: bool) -> str:
    """`col, col, <mask>(col) AS col, ...`: the columns as a role may read them."""
    parts = []
    for column in columns:
        mask = spec.masks.get(column) if masked else None
        parts.append(
            f"{mask_sql(mask, column)} AS {ident(column)}" if mask is not None else ident(column)
        )
    return ", ".join(parts)
