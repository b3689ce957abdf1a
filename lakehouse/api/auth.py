"""Bearer-token authentication, with failed attempts rate-limited per client address."""

from __future__ import annotations

import collections
import threading
import time

from fastapi import HTTPException, Request

from lakehouse.api.roles import Caller
from lakehouse.api.tokens import TokenStore

#: Failed attempts a client may make within the window before it is refused with 429.
MAX_FAILURES = 20
WINDOW_SECONDS = 60.0


class FailureLimiter:
    """Failed authentications per client address in a sliding window."""

    def __init__(self, max_failures: int = MAX_FAILURES, window: float = WINDOW_SECONDS) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> collections.deque[float]:
        failures = self._failures.setdefault(client, collections.deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def blocked(self, client: str) -> bool:
        with self._lock:
            return len(self._recent(client, time.monotonic())) >= self.max_failures

    def failed(self, client: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._recent(client, now).append(now)
            if len(self._failures) > 10_000:  # forget idle clients rather than grow unbounded
                for stale in [key for key, value in self._failures.items() if not value]:
                    del self._failures[stale]


class Authenticator:
    """The FastAPI dependency resolving `Authorization: Bearer <token>` to a `Caller`. Run on
    the event loop (a stat of the token file and a hash): a sync dependency would cost each
    request a trip through the thread pool."""

    def __init__(self, tokens: TokenStore, limiter: FailureLimiter) -> None:
        self.tokens = tokens
        self.limiter = limiter

    async def __call__(self, request: Request) -> Caller:
        client = request.client.host if request.client else "unknown"
        if self.limiter.blocked(client):
            raise HTTPException(429, "too many failed attempts: try again later")
        scheme, _, secret = request.headers.get("authorization", "").partition(" ")
        token = self.tokens.verify(secret.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            self.limiter.failed(client)
            raise HTTPException(
                401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"}
            )
        caller = Caller(token.name, token.role)
        request.state.caller = caller
        return caller
