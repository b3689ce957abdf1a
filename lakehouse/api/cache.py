"""Encoded pages kept in memory, so a page read again at the same table version is served from
stored bytes instead of read, masked and encoded again (BI tools and dashboards ask for the
same day over and over).

A key names everything the bytes depend on: the table, its Delta version, whether the caller
sees PII masked, the normalized query (filters, columns, limit, cursor) and the format. A new
commit changes the version the request resolves to, so an entry is never served for a newer
version (see `snapshots.py` for when a commit is seen). Entries are dropped least recently used
first to stay within a byte budget, and a page larger than an eighth of it is never kept (it is
streamed, never held whole).
"""

from __future__ import annotations

import collections
import hashlib
import threading
from dataclasses import dataclass

#: A page is kept only when its bytes are at most this share of the budget.
LARGEST_SHARE = 8


@dataclass(frozen=True)
class CachedPage:
    body: bytes
    rows: int
    headers: tuple[tuple[str, str], ...]


def entity_tag(key: tuple) -> str:
    """A strong ETag for the representation `key` names: the same key, the same bytes."""
    return '"' + hashlib.sha256(repr(key).encode()).hexdigest()[:32] + '"'


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """Whether an `If-None-Match` header names `etag` (or is `*`), weak tags included."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


class PageCache:
    def __init__(self, budget_bytes: int) -> None:
        self.budget = max(0, budget_bytes)
        self.largest = self.budget // LARGEST_SHARE
        self._pages: collections.OrderedDict[tuple, CachedPage] = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._pages)

    def get(self, key: tuple) -> CachedPage | None:
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def put(self, key: tuple, page: CachedPage) -> bool:
        """Keep `page` unless it is too large; returns whether it was kept."""
        if len(page.body) > self.largest:
            return False
        with self._lock:
            old = self._pages.pop(key, None)
            if old is not None:
                self._bytes -= len(old.body)
            self._pages[key] = page
            self._bytes += len(page.body)
            while self._bytes > self.budget:
                _, dropped = self._pages.popitem(last=False)
                self._bytes -= len(dropped.body)
        return True
