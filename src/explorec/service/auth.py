"""API keys (``Authorization: Bearer exr_...``), scopes and the per-key rate limit.

Keys are created by ``explorec keys create --scope write`` and verified by the store, which keeps only
their hashes and compares in constant time. A verified key is remembered for ``key_cache_s``
seconds under the SHA-256 of its secret, so that the store is not asked on every request; the
secret itself is never kept or logged.

Scopes are ordered: ``read`` < ``write`` < ``admin``; a key may do what its scope and every lower
scope allow. The rate limit is a sliding window counter per key (the ``limits`` library: O(1) per
request, where a moving window keeps every hit); a refused request
gets 429 with ``Retry-After``. The limiter is ``limits``' asyncio one and is only used on the event
loop: its synchronous in-memory storage starts a ``threading.Timer`` thread to expire counters
whenever the previous one has ended, i.e. on every request more than 10 ms after the last one, and
``Thread.start`` blocks the event loop until the new thread runs (milliseconds on a busy machine).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from anyio import from_thread
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from starlette.concurrency import run_in_threadpool

from explorec.service.errors import ApiError

SCOPES = ("read", "write", "admin")


@dataclass(frozen=True)
class Principal:
    """The key a request was made with (never the secret)."""

    key_id: str
    scope: str
    name: str

    def allows(self, scope: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(scope)


class KeyVerifier:
    """Checks bearer secrets against the store, with a short-lived cache and a rate limit."""

    def __init__(self, store: Any, *, cache_s: float, rate_limit: str) -> None:
        self.store = store
        self.cache_s = cache_s
        self.rate: RateLimitItem = parse(rate_limit)
        self.limiter = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def cached(self, secret: str) -> Principal | None:
        """The key of ``secret`` when it was verified less than ``cache_s`` ago (no store call)."""
        digest = hashlib.sha256(secret.encode()).hexdigest()
        with self._lock:
            hit = self._cache.get(digest)
        if hit is not None and time.monotonic() - hit[0] < self.cache_s:
            return hit[1]
        return None

    def principal(self, secret: str) -> Principal | None:
        hit = self.cached(secret)
        if hit is not None:
            return hit
        digest = hashlib.sha256(secret.encode()).hexdigest()
        now = time.monotonic()
        row = self.store.verify_key(secret)
        if row is None:
            return None
        found = Principal(str(row.key_id), str(row.scope), str(row.name))
        with self._lock:
            self._cache[digest] = (now, found)
        return found

    async def check_rate(self, principal: Principal) -> None:
        """Count one request of ``principal``'s key; 429 (``ApiError``) when over its limit.

        Runs on the event loop (the limiter's state is only touched there, so it needs no lock).
        """
        if await self.limiter.hit(self.rate, principal.key_id):
            return
        reset = (await self.limiter.get_window_stats(self.rate, principal.key_id)).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        raise ApiError(
            429,
            "rate_limited",
            f"key {principal.name or principal.key_id!r} exceeded its rate limit of {self.rate}; "
            f"retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )

    def check_rate_from_thread(self, principal: Principal) -> None:
        """:meth:`check_rate` from a worker thread of the app's thread pool (a plain ``def`` route)."""
        from_thread.run(self.check_rate, principal)


#: declares the bearer scheme in the OpenAPI document; the checks below give our own error bodies
BEARER = HTTPBearer(auto_error=False, description="an API key from `explorec keys create`")


def bearer_secret(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise ApiError(
            401,
            "unauthorized",
            "missing 'Authorization: Bearer <key>' header (create a key with `explorec keys create`)",
            "Authorization",
            {"WWW-Authenticate": "Bearer"},
        )
    kind, _, secret = header.partition(" ")
    if kind.lower() != "bearer" or not secret.strip():
        raise ApiError(
            401,
            "unauthorized",
            "Authorization header must read 'Bearer <key>'",
            "Authorization",
            {"WWW-Authenticate": "Bearer"},
        )
    return secret.strip()


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency that admits a key of at least ``scope`` and applies its rate limit."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")

    async def dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]
    ) -> Principal:
        verifier: KeyVerifier = request.app.state.keys
        secret = bearer_secret(request)
        # a cached key costs a hash; only a store lookup (every key_cache_s) leaves the event loop
        principal = verifier.cached(secret)
        if principal is None:
            principal = await run_in_threadpool(verifier.principal, secret)
        if principal is None:
            raise ApiError(
                401,
                "unauthorized",
                "unknown or revoked API key",
                "Authorization",
                {"WWW-Authenticate": "Bearer"},
            )
        if not principal.allows(scope):
            raise ApiError(
                403,
                "forbidden",
                f"this route needs a key of scope {scope!r} or higher; the key has scope {principal.scope!r}",
                "Authorization",
            )
        await verifier.check_rate(principal)
        return principal

    dependency.__name__ = f"require_{scope}"
    return dependency
