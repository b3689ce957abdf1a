"""API tokens: created once, shown once, stored only as a SHA-256 hash with their name, role,
creation and expiry, in `<data dir>/api/tokens.json`.

A small JSON file rather than a lake table: tokens are a handful of rows that change when a
person runs `lakehouse token`, a revoke must take effect on the next request (the server rereads
the file when it changes, a stat per request), and the lake's readers (the catalog, engineers'
SQL) must never see them, hashed or not. It is written to a temporary file and renamed into
place, with owner-only permissions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from lakehouse.table_spec import validate_identifier

ROLES = ("analyst", "engineer")
TOKENS_FILE = "tokens.json"


@dataclass(frozen=True)
class Token:
    name: str
    role: str
    sha256: str
    created: str
    expires: str | None

    def expired(self, now: dt.datetime) -> bool:
        return self.expires is not None and dt.datetime.fromisoformat(self.expires) <= now


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """The token file of one data root."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / TOKENS_FILE
        self._lock = threading.Lock()
        self._cached: tuple[int, list[Token]] | None = None

    def tokens(self) -> list[Token]:
        """The stored tokens, reread only when the file changed."""
        try:
            stamp = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return []
        with self._lock:
            if self._cached is None or self._cached[0] != stamp:
                rows = json.loads(self.path.read_text())["tokens"]
                self._cached = (stamp, [Token(**row) for row in rows])
            return self._cached[1]

    def _write(self, tokens: list[Token]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".tokens.")
        try:
            with os.fdopen(handle, "w") as out:
                json.dump({"tokens": [asdict(token) for token in tokens]}, out, indent=2)
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)
        finally:
            Path(temporary).unlink(missing_ok=True)

    def create(self, name: str, role: str, expires_days: int | None = None) -> str:
        """A new token (returned, never stored); its name must be new."""
        validate_identifier(name, what="token name")
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
        if expires_days is not None and expires_days < 1:
            raise ValueError("--expires is a positive number of days")
        tokens = self.tokens()
        if any(token.name == name for token in tokens):
            raise ValueError(f"a token named {name!r} exists: revoke it first")
        secret = secrets.token_urlsafe(32)
        now = dt.datetime.now(dt.UTC)
        expires = now + dt.timedelta(days=expires_days) if expires_days else None
        token = Token(
            name=name,
            role=role,
            sha256=digest(secret),
            created=now.isoformat(timespec="seconds"),
            expires=expires.isoformat(timespec="seconds") if expires else None,
        )
        self._write([*tokens, token])
        return secret

    def revoke(self, name: str) -> bool:
        tokens = self.tokens()
        kept = [token for token in tokens if token.name != name]
        if len(kept) == len(tokens):
            return False
        self._write(kept)
        return True

    def verify(self, secret: str, now: dt.datetime | None = None) -> Token | None:
        """The live token `secret` is, comparing hashes in constant time (every stored hash
        is compared, so the time taken does not say which one matched)."""
        wanted = digest(secret)
        found = None
        for token in self.tokens():
            if hmac.compare_digest(token.sha256, wanted):
                found = token
        if found is None or found.expired(now or dt.datetime.now(dt.UTC)):
            return None
        return found
