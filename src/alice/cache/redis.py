"""The shared response cache on Redis: every replica reads and writes the same entries.

Layout, under the configured ``prefix``::

    {prefix}cache:{key}   string  CachedAnswer JSON; expires ttl_s after it was stored
    {prefix}cache:lru     zset    member: key, score: last use (Redis server time, µs)

`RedisCache.set` stores the entry and trims the LRU set in one Lua script, so replicas
storing at the same time can never leave more than ``max_entries`` live entries, and
`RedisCache.get` reads the entry and moves it to the recent end in another. Scores come
from the server's clock (``TIME``), not the replicas', so clock skew between replicas
does not distort the LRU order.

A hit refreshes the LRU score but not the TTL: the TTL bounds how stale an answer can be
(a model update, a changed prompt template), so even a popular answer is recomputed
every ``ttl_s``. Members of the LRU set whose entry has expired are removed when a `get`
misses them and, in bulk, when `set` finds them older than a TTL.

Redis is an optimisation here, never a dependency: when it fails (down, slow, read-only
after a failover, out of memory) `get` answers None and `set` does nothing, the failure
is counted in ``stats.errors``, and Redis is left alone for ``cooldown_s`` so an outage
costs each chat request nothing instead of a timeout. Logs name the operation and the
error class, never a key or any content.

Requires Redis 5.0 or later (``ZPOPMIN``). For Redis Cluster, give the prefix a hash tag
(``"{alice}:"``) so the entries and the LRU set share a slot, as the scripts require.
All replicas sharing a prefix should use the same ``max_entries`` and ``ttl_s``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

import structlog
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from alice.cache.key import scope_tag
from alice.cache.types import CachedAnswer, CacheStats

__all__ = ["RedisCache"]

log = structlog.get_logger("alice.cache")

# Scores are microseconds built by string concatenation: redis.call() would format a Lua
# number with 14 significant digits and lose the last microseconds of a 16-digit time.
_NOW_US = "local t = redis.call('TIME') local now = t[1] .. string.rep('0', 6 - #t[2]) .. t[2]"

# KEYS[1] entry, KEYS[2] LRU zset. ARGV[1] answer JSON, ARGV[2] TTL ms, ARGV[3] max
# entries, ARGV[4] member (the cache key), ARGV[5] entry key prefix. Returns how many
# live entries were evicted.
_SET_SCRIPT = f"""
{_NOW_US}
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[4])
-- last used more than a TTL ago: stored even earlier, so its entry has expired
local stale = tonumber(t[1]) - math.ceil(tonumber(ARGV[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. stale .. '000000')
local evicted = 0
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if excess > 0 then
    local popped = redis.call('ZPOPMIN', KEYS[2], excess)
    for i = 1, #popped, 2 do
        evicted = evicted + redis.call('DEL', ARGV[5] .. popped[i])
    end
end
return evicted
"""

# KEYS[1] entry, KEYS[2] LRU zset. ARGV[1] member. Returns the entry or nil.
_GET_SCRIPT = f"""
local value = redis.call('GET', KEYS[1])
if value then
    {_NOW_US}
    redis.call('ZADD', KEYS[2], now, ARGV[1])
else
    redis.call('ZREM', KEYS[2], ARGV[1])
end
return value
"""

_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)
_SCAN_BATCH = 500


class RedisCache:
    """An LRU + TTL response cache in Redis, shared by every replica using ``prefix``.

    Args:
        client: the application's Redis client. Give it a ``socket_timeout`` and a
            ``socket_connect_timeout``; ``timeout_s`` below is the backstop.
        prefix: namespace of every key this cache writes (``"alice:"``).
        max_entries: live entries kept across all replicas, at least 1.
        ttl_s: seconds an answer stays valid after `set`, above 0.
        timeout_s: the most a `get` or `set` may wait for Redis.
        cooldown_s: after a failure, how long `get` and `set` skip Redis.
        clock: monotonic seconds, for the cool-down; injected by tests.
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str,
        max_entries: int = 500,
        ttl_s: float = 900.0,
        timeout_s: float = 0.5,
        cooldown_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        if not ttl_s > 0:
            raise ValueError("ttl_s must be above 0")
        if not timeout_s > 0:
            raise ValueError("timeout_s must be above 0")
        if cooldown_s < 0:
            raise ValueError("cooldown_s must not be negative")
        self._client = client
        self._entry_prefix = f"{prefix}cache:"
        self._lru_key = f"{prefix}cache:lru"
        self._max_entries = max_entries
        # At least 1 ms: PX 0 is an error.
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._timeout_s = timeout_s
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._retry_at = float("-inf")
        self._healthy = True
        self._stats = CacheStats()
        self._set_script = client.register_script(_SET_SCRIPT)
        self._get_script = client.register_script(_GET_SCRIPT)

    @property
    def name(self) -> str:
        """``"redis"``."""
        return "redis"

    @property
    def stats(self) -> CacheStats:
        """This replica's counters (each replica counts its own)."""
        return self._stats

    async def get(self, key: str) -> CachedAnswer | None:
        """The live answer under ``key``, now the most recently used; None on any failure."""
        if self._cooling_down():
            self._stats.misses += 1
            return None
        try:
            async with asyncio.timeout(self._timeout_s):
                raw = await self._get_script(keys=[self._entry(key), self._lru_key], args=[key])
        except (*_UNAVAILABLE, RedisError) as exc:
            self._failed("get", exc)
            self._stats.misses += 1
            return None
        self._recovered()
        if raw is None:
            self._stats.misses += 1
            return None
        try:
            answer = CachedAnswer.from_json(raw)
        except ValueError:
            # Written by something else under our prefix; leave it to expire.
            self._stats.errors += 1
            self._stats.misses += 1
            log.warning("cache.entry_unreadable", backend=self.name)
            return None
        self._stats.hits += 1
        return answer

    async def set(self, key: str, answer: CachedAnswer) -> None:
        """Store ``answer`` for ``ttl_s`` and trim to ``max_entries``; skipped on failure."""
        if self._cooling_down():
            return
        try:
            async with asyncio.timeout(self._timeout_s):
                evicted = await self._set_script(
                    keys=[self._entry(key), self._lru_key],
                    args=[
                        answer.to_json(),
                        self._ttl_ms,
                        self._max_entries,
                        key,
                        self._entry_prefix,
                    ],
                )
        except (*_UNAVAILABLE, RedisError) as exc:
            self._failed("set", exc)
            return
        self._recovered()
        self._stats.sets += 1
        self._stats.evictions += int(evicted)

    async def aclose(self) -> None:
        """Close the Redis client's connections (the cache owns the client it was given)."""
        await self._client.aclose()

    async def clear(self) -> None:
        """Delete every entry and the LRU set of this prefix.

        Unlike `get` and `set`, this is an operator action and raises when Redis fails.

        Raises:
            redis.exceptions.RedisError: Redis could not be reached or refused.
        """
        pattern = _glob_escape(self._entry_prefix) + "*"
        batch: list[bytes | str] = []
        async for name in self._client.scan_iter(match=pattern, count=_SCAN_BATCH):
            batch.append(name)
            if len(batch) >= _SCAN_BATCH:
                await self._client.unlink(*batch)
                batch.clear()
        if batch:
            await self._client.unlink(*batch)

    async def purge(self, scope: str) -> int:
        """Remove every entry of ``scope`` (and its LRU members); how many.

        Raises:
            redis.exceptions.RedisError: Redis could not be reached or refused.
        """
        tag = scope_tag(scope) + "."
        pattern = _glob_escape(self._entry_prefix + tag) + "*"
        removed = 0
        batch: list[str] = []
        async for name in self._client.scan_iter(match=pattern, count=_SCAN_BATCH):
            batch.append(name.decode() if isinstance(name, bytes) else name)
            if len(batch) >= _SCAN_BATCH:
                removed += await self._purge_batch(batch)
                batch = []
        if batch:
            removed += await self._purge_batch(batch)
        return removed

    async def _purge_batch(self, names: list[str]) -> int:
        members = [name.removeprefix(self._entry_prefix) for name in names]
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.unlink(*names)
            pipe.zrem(self._lru_key, *members)
            deleted, _ = await pipe.execute()
        return int(deleted)

    def _entry(self, key: str) -> str:
        return self._entry_prefix + key

    def _cooling_down(self) -> bool:
        return self._clock() < self._retry_at

    def _failed(self, operation: str, exc: BaseException) -> None:
        self._stats.errors += 1
        self._retry_at = self._clock() + self._cooldown_s
        event = "cache.redis_unavailable" if isinstance(exc, _UNAVAILABLE) else "cache.redis_error"
        # One warning per outage, not one per request while it lasts.
        if self._healthy:
            self._healthy = False
            log.warning(
                event,
                backend=self.name,
                operation=operation,
                error=type(exc).__name__,
                retry_in_s=self._cooldown_s,
            )

    def _recovered(self) -> None:
        if not self._healthy:
            self._healthy = True
            log.info("cache.redis_recovered", backend=self.name)


def _glob_escape(text: str) -> str:
    # SCAN MATCH is a glob: a prefix containing * ? [ ] or \ must match only itself.
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)
