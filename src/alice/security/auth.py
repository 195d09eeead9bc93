"""Who is calling: API key lookup with a short in-process cache.

A request's key is hashed and looked up once per ``ttl_s`` per process; answers (found
or not) are cached for that long, so a chat turn pays a dictionary lookup, not a
database round trip. Revoking a key through this process forgets the cache at once;
other replicas stop accepting it within ``ttl_s`` (``ALICE_AUTH_CACHE_TTL_S``).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable

import structlog

from alice.security.keys import Principal, hash_key, looks_like_key
from alice.store.tenants import KeyStore

__all__ = ["Authenticator"]

log = structlog.get_logger("alice.auth")


class Authenticator:
    """Maps API keys to principals."""

    def __init__(
        self,
        store: KeyStore,
        *,
        ttl_s: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._cache: OrderedDict[str, tuple[Principal | None, float]] = OrderedDict()
        self._touching: set[asyncio.Task[None]] = set()

    async def authenticate(self, key: str) -> Principal | None:
        """The principal of ``key``, or None when it is malformed, unknown or revoked."""
        if not looks_like_key(key):
            return None
        digest = hash_key(key)
        now = self._clock()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        principal = await self._store.principal_by_hash(digest)
        self._cache[digest] = (principal, now + self._ttl_s)
        self._cache.move_to_end(digest)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)
        if principal is not None and principal.key_id is not None:
            # At most once per TTL per key, and never on the request's path.
            task = asyncio.create_task(self._touch(principal.key_id))
            self._touching.add(task)
            task.add_done_callback(self._touching.discard)
        return principal

    async def _touch(self, key_id: str) -> None:
        try:
            await self._store.touch(key_id)
        except Exception as exc:
            log.debug("auth.touch_failed", error_class=type(exc).__name__)

    def forget(self) -> None:
        """Drop every cached answer (after a key or tenant changed here)."""
        self._cache.clear()

    async def aclose(self) -> None:
        """Wait for pending bookkeeping writes."""
        if self._touching:
            await asyncio.gather(*self._touching, return_exceptions=True)
