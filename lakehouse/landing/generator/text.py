"""Text the feeds are written in, built column-wise with Polars expressions (no per-row Python)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import polars as pl


def ids(prefix: str, numbers: np.ndarray, width: int) -> pl.Series:
    digits = pl.Series(numbers, dtype=pl.Int64).cast(pl.String).str.zfill(width)
    return (prefix + digits).rename("id")


def iso_utc(ms: pl.Expr) -> pl.Expr:
    return pl.from_epoch(ms, time_unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def quoted(expr: pl.Expr) -> pl.Expr:
    """A JSON string literal for values known to need no escaping, or `null`."""
    return (
        pl.when(expr.is_null())
        .then(pl.lit("null"))
        .otherwise(pl.concat_str([pl.lit('"'), expr, pl.lit('"')]))
    )


def json_object(fields: dict[str, pl.Expr], tail: pl.Expr | None = None) -> pl.Expr:
    """`{"key":value,...}` from JSON fragments; `tail` adds optional `,"key":value` text."""
    parts: list[pl.Expr] = []
    for number, (key, value) in enumerate(fields.items()):
        parts += [pl.lit(("{" if number == 0 else ",") + f'"{key}":'), value]
    parts += [tail if tail is not None else pl.lit(""), pl.lit("}")]
    return pl.concat_str(parts)


def write_lines(path: Path, lines: pl.Series) -> None:
    path.write_bytes(("\n".join(lines.to_list()) + "\n").encode())


class GzipLines:
    """A gzip file written chunk by chunk, with no time stamp in its header (same bytes every
    run)."""

    def __init__(self, path: Path) -> None:
        self.raw = path.open("wb")
        self.stream = gzip.GzipFile(
            fileobj=self.raw, mode="wb", mtime=0, filename="", compresslevel=6
        )

    def write(self, lines: pl.Series) -> None:
        self.stream.write(("\n".join(lines.to_list()) + "\n").encode())

    def __enter__(self) -> GzipLines:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stream.close()
        self.raw.close()
