"""Token-bucket rate limits: in memory (one process) or in Redis (every replica).

A bucket holds up to ``burst`` tokens and refills at ``requests / window_s`` tokens per
second; each request takes one token or is refused with the time until the next one.
The Redis limiter runs the whole check-and-take as one Lua script, with Redis's own
clock, so replicas share one bucket per caller and never race or disagree about time.

When Redis cannot be reached the Redis limiter falls back to its in-memory twin (each
replica then limits on its own) and says so in the log: a cache of counters failing
must not turn into refusing every request. See docs/decisions/0010.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio
import structlog
from redis.exceptions import RedisError

__all__ = [
    "BucketSpec",
    "MemoryRateLimiter",
    "RateDecision",
    "RateLimiter",
    "RedisRateLimiter",
]

log = structlog.get_logger("alice.ratelimit")


@dataclass(frozen=True, slots=True)
class BucketSpec:
    """``requests`` per ``window_s`` on average, up to ``burst`` at once."""

    requests: int
    window_s: float
    burst: int

    @property
    def rate(self) -> float:
        """Tokens added per second."""
        return self.requests / self.window_s

    @property
    def policy(self) -> str:
        """The ``RateLimit-Policy`` header value."""
        policy = f"{self.requests};w={self.window_s:g}"
        return policy if self.burst == self.requests else f"{policy};burst={self.burst}"


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The outcome of one request against its bucket."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: int  # until the bucket is full again
    retry_after_s: int  # until a refused request may succeed (0 when allowed)

    def headers(self, spec: BucketSpec) -> list[tuple[bytes, bytes]]:
        """``RateLimit-*`` headers (and ``Retry-After`` when refused)."""
        headers = [
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(self.reset_s).encode()),
            (b"ratelimit-policy", spec.policy.encode()),
        ]
        if not self.allowed:
            headers.append((b"retry-after", str(self.retry_after_s).encode()))
        return headers


def _decision(spec: BucketSpec, tokens: float, allowed: bool) -> RateDecision:
    # ``tokens`` is the level after this request (taken from when allowed).
    reset = (spec.burst - tokens) / spec.rate
    retry = 0 if allowed else (1 - tokens) / spec.rate
    return RateDecision(
        allowed=allowed,
        limit=spec.burst,
        remaining=max(0, math.floor(tokens)),
        reset_s=max(0, math.ceil(reset)),
        retry_after_s=max(1, math.ceil(retry)) if not allowed else 0,
    )


class RateLimiter(Protocol):
    """Takes one token for ``key`` from a bucket shaped like ``spec``."""

    async def hit(self, key: str, spec: BucketSpec) -> RateDecision:
        """Take a token, or say how long until one is free."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class MemoryRateLimiter:
    """Buckets in this process, at most ``max_keys`` of them (least recently used go)."""

    def __init__(
        self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._max_keys = max_keys
        self._clock = clock

    async def hit(self, key: str, spec: BucketSpec) -> RateDecision:
        """Take a token from ``key``'s bucket (no awaiting inside: atomic in asyncio)."""
        return self.hit_now(key, spec)

    def hit_now(self, key: str, spec: BucketSpec) -> RateDecision:
        """`hit`, synchronously."""
        now = self._clock()
        state = self._buckets.pop(key, None)
        if state is None:
            tokens = float(spec.burst)
        else:
            level, at = state
            tokens = min(float(spec.burst), level + max(0.0, now - at) * spec.rate)
        allowed = tokens >= 1
        if allowed:
            tokens -= 1
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self._max_keys:
            # A bucket forgotten is a full one: the oldest-touched are the likeliest full.
            self._buckets.popitem(last=False)
        return _decision(spec, tokens, allowed)

    async def aclose(self) -> None:
        """Nothing to release."""
        return None


# KEYS[1]: the bucket; ARGV: burst, rate (tokens/s). Returns {allowed, level} with the
# level as a string (Lua numbers become integers on the way out).
_BUCKET_SCRIPT = """
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
if tokens == nil then
  tokens = burst
else
  tokens = math.min(burst, tokens + math.max(0, now - tonumber(state[2])) * rate)
end
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
"""


class RedisRateLimiter:
    """Buckets in Redis under ``{prefix}rl:{key}``, shared by every replica."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        prefix: str,
        fallback: MemoryRateLimiter | None = None,
        warn_every_s: float = 30.0,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_BUCKET_SCRIPT)
        self._fallback = fallback or MemoryRateLimiter()
        self._warn_every_s = warn_every_s
        self._warned_at = -math.inf

    async def hit(self, key: str, spec: BucketSpec) -> RateDecision:
        """Take a token in Redis; on a Redis failure, from the local fallback bucket."""
        try:
            allowed, level = await self._script(
                keys=[f"{self._prefix}rl:{key}"], args=[spec.burst, spec.rate]
            )
        except (RedisError, OSError) as exc:
            now = time.monotonic()
            if now - self._warned_at >= self._warn_every_s:
                self._warned_at = now
                log.warning("ratelimit.redis_unavailable", error_class=type(exc).__name__)
            return self._fallback.hit_now(key, spec)
        return _decision(spec, float(level), bool(int(allowed)))

    async def aclose(self) -> None:
        """Close the Redis connection pool."""
        await self._client.aclose()
