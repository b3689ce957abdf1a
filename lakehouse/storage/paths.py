"""Validation of names and partition keys, and the one function that builds a hive path.

Everything here runs before anything touches the disk, so `../x`, `/abs`, `a=b` or an empty key
fail with a clear message instead of writing outside the lake or into a wrong folder.
"""

from __future__ import annotations

import datetime as dt
import re

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

#: DuckDB and Spark write NULL partition values into this folder; we never do.
HIVE_NULL_FOLDER = "__HIVE_DEFAULT_PARTITION__"


class InvalidPartitionKey(ValueError):
    """A partition key that cannot name a lake folder."""


def validate_day_key(key: object) -> str:
    """A daily partition key: `YYYY-MM-DD` and a real calendar day."""
    if key is None or (isinstance(key, str) and key.strip() == ""):
        raise InvalidPartitionKey("empty partition key: expected a day as YYYY-MM-DD")
    if not isinstance(key, str):
        raise InvalidPartitionKey(f"partition key {key!r} is not a string (expected YYYY-MM-DD)")
    if "/" in key or "\\" in key or ".." in key or "=" in key:
        raise InvalidPartitionKey(
            f"partition key {key!r} contains a path separator, '..' or '=': expected YYYY-MM-DD"
        )
    if not _DAY.match(key):
        raise InvalidPartitionKey(f"partition key {key!r} is not a day in YYYY-MM-DD form")
    try:
        dt.date.fromisoformat(key)
    except ValueError as error:
        raise InvalidPartitionKey(f"partition key {key!r} is not a calendar day: {error}") from None
    return key


def partition_folder(column: str, key: str) -> str:
    """The hive folder name `<column>=<value>` (the column was validated by its declaration):
    the only place it is built."""
    return f"{column}={validate_day_key(key)}"
