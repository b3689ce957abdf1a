"""A table's one declaration: where it lives, its columns and partitioning, and what the rest of
the lake needs of it (quality model, pass threshold, retention, column lineage).

Everything about a table hangs off its spec object, so no module keeps a registry keyed by table
name that could drift from the declarations in `lakehouse.tables`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import polars as pl

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")


#: Share of a day's rows that must pass a table's checks unless its declaration says otherwise.
DEFAULT_PASS_THRESHOLD = 0.95

#: column -> the upstream (table, column) pairs it is computed from.
ColumnLineage = Mapping[str, tuple[tuple["TableSpec", str], ...]]


def validate_identifier(name: str, *, what: str = "name") -> str:
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ValueError(
            f"invalid {what} {name!r}: use lower-case letters, digits and '_', "
            "starting with a letter"
        )
    return name


class Mask(StrEnum):
    """How a PII column is shown to roles that may not see it (`lakehouse.masking` has the one
    SQL expression of each rule, used by the API and the analysts' catalog alike)."""

    EMAIL = "email"  # a stable hash of the address, keeping its domain
    NAME = "name"  # initials
    TEXT = "text"  # free text that may hold either: redacted whole


@dataclass(frozen=True)
class TableSpec:
    """A lake table, declared once: everything that reads a table's facts reads them here.

    The schema is a contract: the store refuses frames that do not match it. The partition
    column is not stored inside the Parquet files (the Hive convention): readers get it, typed,
    from the `<column>=<value>` folder name.

    `model` is the pandera `DataFrameModel` that audits the table before publish (typed loosely
    so the store does not import pandera); `pass_threshold` the share of a day's rows that must
    pass its checks (below it an alert is raised); `retention_days` how many days of partitions
    maintenance keeps (None: unpartitioned, rebuilt whole); `lineage` which upstream columns each
    column is computed from, naming the upstream spec objects so a typo fails at import;
    `masks` how each PII column is masked for roles that may not read it.
    """

    layer: str
    name: str
    schema: Mapping[str, pl.DataType]
    partition_column: str | None = None
    description: str = ""
    owner: str = "team:data-platform"
    domain: str = "core"
    pii: bool = False
    sort_by: tuple[str, ...] = ()
    column_descriptions: Mapping[str, str] = field(default_factory=dict)
    model: type | None = field(default=None, compare=False)
    pass_threshold: float = DEFAULT_PASS_THRESHOLD
    retention_days: int | None = None
    lineage: ColumnLineage = field(default_factory=dict, repr=False, compare=False)
    masks: Mapping[str, Mask] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for part in self.path:
            validate_identifier(part, what="table path part")
        for column in self.schema:
            validate_identifier(column.lstrip("_"), what="column name")
        if self.partition_column is not None:
            validate_identifier(self.partition_column, what="partition column")
            if self.partition_column in self.schema:
                raise ValueError(
                    f"{self.qualified_name}: partition column {self.partition_column!r} must not "
                    "also be a file column (it comes from the folder name)"
                )
        if not 0 < self.pass_threshold <= 1:
            raise ValueError(f"{self.qualified_name}: pass_threshold must be in (0, 1]")
        if self.retention_days is not None and (not self.is_partitioned or self.retention_days < 1):
            raise ValueError(
                f"{self.qualified_name}: retention_days is a positive number of days, and only "
                "for partitioned tables (unpartitioned ones are rebuilt whole)"
            )
        self._check_lineage()
        self._check_masks()

    def _check_masks(self) -> None:
        """Masked columns exist, and only a table tagged PII has any."""
        for column, mask in self.masks.items():
            if column not in self.schema:
                raise ValueError(f"{self.qualified_name}: mask of unknown column {column!r}")
            Mask(mask)
        if self.masks and not self.pii:
            raise ValueError(f"{self.qualified_name}: masked columns on a table not tagged pii")

    def _check_lineage(self) -> None:
        """Every column named in the lineage exists, here and upstream."""
        for column, sources in self.lineage.items():
            if column not in self.schema:
                raise ValueError(f"{self.qualified_name}: lineage of unknown column {column!r}")
            for upstream, name in sources:
                if name not in upstream.schema:
                    raise ValueError(
                        f"{self.qualified_name}.{column}: lineage names {name!r}, not a column "
                        f"of {upstream.qualified_name}"
                    )

    @property
    def path(self) -> tuple[str, ...]:
        """Folders below the lake root: `(layer, name)`, or deeper for quarantine tables."""
        return (*self.layer.split("/"), self.name)

    @property
    def qualified_name(self) -> str:
        return ".".join(self.path)

    @property
    def is_partitioned(self) -> bool:
        return self.partition_column is not None

    @property
    def polars_schema(self) -> pl.Schema:
        return pl.Schema(self.schema)

    def conform(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """The table's columns, in order, cast to their types (strictly: a value that does not
        fit fails rather than turning into NULL). What is audited is then what is written.

        A cast that would round a decimal column is refused: from a float, or from a decimal of
        larger scale (Polars would round half to even there). Money is rounded once, by the
        transform (`lakehouse.money.to_cents`), never here."""
        found = frame.collect_schema()
        for name, dtype in self.schema.items():
            source = found.get(name)
            if not isinstance(dtype, pl.Decimal) or source is None:
                continue
            if source.is_float() or (isinstance(source, pl.Decimal) and source.scale > dtype.scale):
                raise TypeError(
                    f"{self.qualified_name}: column {name!r} is {source}, the table's is {dtype}; "
                    "casting would round it: round it in the transform (lakehouse.money.to_cents)"
                )
        return frame.select(
            [pl.col(name).cast(dtype, strict=True) for name, dtype in self.schema.items()]
        )

    @property
    def read_schema(self) -> pl.Schema:
        """Columns a reader sees: the file columns plus the typed partition column."""
        columns = dict(self.schema)
        if self.partition_column is not None:
            columns[self.partition_column] = pl.Date()
        return pl.Schema(columns)
