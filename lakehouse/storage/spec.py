"""What the store needs to know of a table: where it lives, its columns, its partitioning."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from lakehouse.storage.paths import validate_identifier


@dataclass(frozen=True)
class TableSpec:
    """A lake table. The schema is a contract: the store refuses frames that do not match it.

    The partition column is not stored inside the Parquet files (the Hive convention): readers get
    it, typed, from the `<column>=<value>` folder name.
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
