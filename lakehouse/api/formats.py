"""Encoders streaming Arrow record batches as JSON, CSV, Parquet or Arrow IPC: each batch is
encoded and handed on as it comes, so a response is never held whole in memory."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "arrow": "application/vnd.apache.arrow.stream",
}


class _Chunks:
    """A write-only file whose written bytes are taken out after each batch."""

    closed = False

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0

    def write(self, data) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def writable(self) -> bool:
        return True

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def _json_value(value: object) -> object:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _iso_times(column: pa.Array) -> pa.Array:
    """Timestamps as `datetime.isoformat` prints them (microseconds only when not zero, UTC as
    `+00:00`), computed by Arrow for the whole column."""
    tz = column.type.tz
    seconds = pc.strftime(
        column.cast(pa.timestamp("s", tz=tz), safe=False), format="%Y-%m-%dT%H:%M:%S"
    )
    micros = pc.add(pc.multiply(pc.millisecond(column), 1000), pc.microsecond(column))
    fraction = pc.utf8_lpad(pc.cast(micros, pa.string()), 6, "0")
    text = pc.if_else(
        pc.equal(micros, 0), seconds, pc.binary_join_element_wise(seconds, fraction, ".")
    )
    return pc.binary_join_element_wise(text, "+00:00", "") if tz else text


def _json_column(column: pa.Array) -> pa.Array:
    kind = column.type
    if pa.types.is_decimal(kind) or pa.types.is_date(kind):
        return pc.cast(column, pa.string())
    if pa.types.is_timestamp(kind) and kind.tz in (None, "UTC", "Etc/UTC"):
        return _iso_times(column)
    return column  # converted value by value by `_json_value`


def _json_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Decimals, dates and times as the strings JSON carries, converted by Arrow a batch at a
    time: a Python object per value, then a callback to print it, was most of a page's cost."""
    columns = [_json_column(column) for column in batch.columns]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def json_stream(
    schema: pa.Schema, batches: Iterable[pa.RecordBatch], head: dict[str, object]
) -> Iterator[bytes]:
    """`{...head, "rows": [{...}, ...]}`, a batch at a time (one chunk per batch, not per
    row); decimals are strings, times ISO."""
    opening = json.dumps(head)[:-1]
    yield (opening + (", " if head else "") + '"rows": [').encode()
    first = True
    for batch in batches:
        if batch.num_rows == 0:
            continue
        rows = json.dumps(_json_ready(batch).to_pylist(), default=_json_value)[1:-1]
        yield ((" " if first else ", ") + rows).encode()
        first = False
    yield b"]}"


#: The Arrow writer of each binary format, opened on a file and a schema.
WRITERS = {
    "csv": pacsv.CSVWriter,
    "parquet": lambda file, schema: pq.ParquetWriter(file, schema, compression="zstd"),
    "arrow": ipc.new_stream,
}


def written_stream(
    fmt: str, schema: pa.Schema, batches: Iterable[pa.RecordBatch]
) -> Iterator[bytes]:
    """What `fmt`'s writer writes, taken after its header and after each batch."""
    sink = _Chunks()
    with WRITERS[fmt](pa.PythonFile(sink, mode="w"), schema) as writer:
        yield sink.take()
        for batch in batches:
            writer.write_batch(batch)
            yield sink.take()
    yield sink.take()


def encode(
    fmt: str, schema: pa.Schema, batches: Iterable[pa.RecordBatch], head: dict[str, object]
) -> Iterator[bytes]:
    """The response body in `fmt` (`head`, metadata such as the next cursor, goes in JSON's
    body; other formats carry it in headers)."""
    if fmt == "json":
        return json_stream(schema, batches, head)
    return written_stream(fmt, schema, batches)
