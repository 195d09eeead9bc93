"""Token buckets: in memory with an injected clock, and in the real Redis."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio

from alice.security.ratelimit import BucketSpec, MemoryRateLimiter, RedisRateLimiter

SIX_PER_TEN = BucketSpec(requests=6, window_s=10, burst=6)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_bucket_allows_its_burst_then_refuses_until_a_token_is_back() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock=clock)
    decisions = [await limiter.hit("k", SIX_PER_TEN) for _ in range(7)]
    assert [d.allowed for d in decisions] == [True] * 6 + [False]
    assert [d.remaining for d in decisions] == [5, 4, 3, 2, 1, 0, 0]
    refused = decisions[-1]
    # One token every 10/6 s: the refused request may retry in 2 s (rounded up).
    assert (refused.retry_after_s, refused.limit) == (2, 6)
    # A client that waits Retry-After gets through; the one after it does not.
    clock.now += refused.retry_after_s
    assert (await limiter.hit("k", SIX_PER_TEN)).allowed
    assert not (await limiter.hit("k", SIX_PER_TEN)).allowed


async def test_buckets_are_per_key_and_refill_to_the_burst_only() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock=clock)
    for _ in range(6):
        await limiter.hit("a", SIX_PER_TEN)
    assert (await limiter.hit("b", SIX_PER_TEN)).allowed
    clock.now += 3600
    decisions = [await limiter.hit("a", SIX_PER_TEN) for _ in range(7)]
    assert sum(d.allowed for d in decisions) == 6


async def test_headers_name_the_policy_and_retry_after_only_when_refused() -> None:
    limiter = MemoryRateLimiter(clock=Clock())
    spec = BucketSpec(requests=6, window_s=10, burst=2)
    allowed = dict((await limiter.hit("k", spec)).headers(spec))
    await limiter.hit("k", spec)
    refused = dict((await limiter.hit("k", spec)).headers(spec))
    assert allowed[b"ratelimit-policy"] == b"6;w=10;burst=2"
    assert allowed[b"ratelimit-remaining"] == b"1" and b"retry-after" not in allowed
    assert refused[b"ratelimit-remaining"] == b"0" and refused[b"retry-after"] == b"2"


async def test_the_memory_limiter_forgets_the_least_recently_used_buckets() -> None:
    limiter = MemoryRateLimiter(max_keys=2, clock=Clock())
    spec = BucketSpec(requests=1, window_s=60, burst=1)
    for key in ("a", "b", "c"):
        assert (await limiter.hit(key, spec)).allowed
    # "a" was forgotten (a forgotten bucket is a full one); "c" is remembered.
    assert (await limiter.hit("a", spec)).allowed
    assert not (await limiter.hit("c", spec)).allowed


@pytest.fixture
async def redis_limiter(redis_url: str, redis_prefix: str) -> RedisRateLimiter:
    return RedisRateLimiter(redis.asyncio.Redis.from_url(redis_url), prefix=redis_prefix)


async def test_redis_takes_exactly_the_burst_from_concurrent_callers(
    redis_limiter: RedisRateLimiter,
) -> None:
    slow = BucketSpec(requests=6, window_s=3600, burst=6)  # no refill during the test
    decisions = await asyncio.gather(*(redis_limiter.hit("k", slow) for _ in range(40)))
    await redis_limiter.aclose()
    assert sum(d.allowed for d in decisions) == 6
    assert sorted(d.remaining for d in decisions if d.allowed) == [0, 1, 2, 3, 4, 5]
    assert all(d.retry_after_s >= 1 for d in decisions if not d.allowed)


async def test_two_redis_limiters_share_one_bucket(
    redis_url: str, redis_prefix: str, redis_limiter: RedisRateLimiter
) -> None:
    other = RedisRateLimiter(redis.asyncio.Redis.from_url(redis_url), prefix=redis_prefix)
    slow = BucketSpec(requests=4, window_s=3600, burst=4)
    first = [await redis_limiter.hit("k", slow) for _ in range(2)]
    second = [await other.hit("k", slow) for _ in range(3)]
    await redis_limiter.aclose()
    await other.aclose()
    assert [d.allowed for d in first + second] == [True, True, True, True, False]


async def test_redis_buckets_expire_once_full_again(
    redis_url: str, redis_prefix: str, redis_limiter: RedisRateLimiter
) -> None:
    fast = BucketSpec(requests=10, window_s=1, burst=10)
    await redis_limiter.hit("k", fast)
    client = redis.asyncio.Redis.from_url(redis_url)
    ttl_ms = await client.pttl(f"{redis_prefix}rl:k")
    await client.aclose()
    await redis_limiter.aclose()
    # Refilling one token takes 0.1 s; the key lives that long plus a second of slack.
    assert 0 < ttl_ms <= 1100


async def test_a_dead_redis_falls_back_to_a_local_bucket() -> None:
    client = redis.asyncio.Redis.from_url(
        "redis://127.0.0.1:1/0", socket_connect_timeout=0.2, socket_timeout=0.2
    )
    limiter = RedisRateLimiter(client, prefix="x:")
    decisions = [await limiter.hit("k", SIX_PER_TEN) for _ in range(7)]
    await limiter.aclose()
    assert [d.allowed for d in decisions] == [True] * 6 + [False]
