"""Encoders streaming Arrow record batches as JSON, CSV, Parquet or Arrow IPC: each batch is
encoded and handed on as it comes, so a response is never held whole in memory."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Iterable, Iterator

import pyarrow as pa
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


def json_stream(
    schema: pa.Schema, batches: Iterable[pa.RecordBatch], head: dict[str, object]
) -> Iterator[bytes]:
    """`{...head, "rows": [{...}, ...]}`, a batch at a time; decimals are strings, times ISO."""
    opening = json.dumps(head)[:-1]
    yield (opening + (", " if head else "") + '"rows": [').encode()
    first = True
    for batch in batches:
        for row in batch.to_pylist():
            yield ((" " if first else ", ") + json.dumps(row, default=_json_value)).encode()
            first = False
    yield b"]}"


def csv_stream(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> Iterator[bytes]:
    sink = _Chunks()
    with pacsv.CSVWriter(pa.PythonFile(sink, mode="w"), schema) as writer:
        yield sink.take()
        for batch in batches:
            writer.write_batch(batch)
            yield sink.take()
    yield sink.take()


def parquet_stream(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> Iterator[bytes]:
    sink = _Chunks()
    with pq.ParquetWriter(pa.PythonFile(sink, mode="w"), schema, compression="zstd") as writer:
        for batch in batches:
            writer.write_batch(batch)
            yield sink.take()
    yield sink.take()


def arrow_stream(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> Iterator[bytes]:
    sink = _Chunks()
    with ipc.new_stream(pa.PythonFile(sink, mode="w"), schema) as writer:
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
    return {"csv": csv_stream, "parquet": parquet_stream, "arrow": arrow_stream}[fmt](
        schema, batches
    )
