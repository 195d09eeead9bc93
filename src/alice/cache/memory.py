"""The in-process response cache: LRU with a time-to-live, for a single replica."""

from __future__ import annotations

import time
from collections.abc import Callable

from cachetools import TTLCache

from alice.cache.key import scope_tag
from alice.cache.types import CachedAnswer, CacheStats

__all__ = ["MemoryCache"]


class MemoryCache:
    """At most ``max_entries`` answers, each kept ``ttl_s`` seconds after it was stored.

    Built on `cachetools.TTLCache`: when full, storing a new answer evicts the least
    recently *used* entry (a `get` hit counts as a use); expired entries are never
    returned and are dropped before anything is evicted. A hit does not extend an
    entry's lifetime: the TTL bounds how stale an answer can be, so a popular entry is
    still recomputed every ``ttl_s``.

    Not thread-safe; meant for one event loop, where each call runs without yielding.

    Args:
        max_entries: how many answers to keep, at least 1.
        ttl_s: seconds an answer stays valid after `set`, above 0.
        clock: monotonic seconds; injected by tests.
    """

    def __init__(
        self,
        *,
        max_entries: int = 500,
        ttl_s: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        if not ttl_s > 0:
            raise ValueError("ttl_s must be above 0")
        self._max_entries = max_entries
        self._entries: TTLCache[str, CachedAnswer, float] = TTLCache(
            maxsize=max_entries, ttl=ttl_s, timer=clock
        )
        self._stats = CacheStats()

    @property
    def name(self) -> str:
        """``"memory"``."""
        return "memory"

    @property
    def stats(self) -> CacheStats:
        """This cache's counters."""
        return self._stats

    def __len__(self) -> int:
        """Entries that have not expired."""
        return len(self._entries)

    async def get(self, key: str) -> CachedAnswer | None:
        """The live answer under ``key`` (now the most recently used), or None."""
        answer = self._entries.get(key)
        if answer is None:
            self._stats.misses += 1
        else:
            self._stats.hits += 1
        return answer

    async def set(self, key: str, answer: CachedAnswer) -> None:
        """Store ``answer`` for ``ttl_s`` seconds, evicting the least recently used if full."""
        # One frozen reading of the clock for the whole step, so an entry cannot expire
        # between deciding that this set evicts and the set itself.
        with self._entries.timer:
            # len() drops expired entries first: an expired entry is not an eviction.
            evicts = key not in self._entries and len(self._entries) >= self._max_entries
            self._entries[key] = answer
        self._stats.sets += 1
        if evicts:
            self._stats.evictions += 1

    async def purge(self, scope: str) -> int:
        """Remove every entry of ``scope``."""
        start = scope_tag(scope) + "."
        doomed = [key for key in list(self._entries.keys()) if key.startswith(start)]
        for key in doomed:
            self._entries.pop(key, None)
        return len(doomed)

    async def clear(self) -> None:
        """Remove every entry (the counters are kept)."""
        self._entries.clear()
