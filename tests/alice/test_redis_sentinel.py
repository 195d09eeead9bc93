"""Redis Sentinel: the cache and the rate limiter find the master and follow a failover.

Each test starts its own master, replica and sentinel (real ``redis-server`` processes on
free ports, `tests.support.redis.sentinel_group`) and builds the cache and the limiter
with the factories the app uses, from settings as a deployment would set them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis
from structlog.testing import capture_logs

from alice.app import build_cache, build_rate_limiter
from alice.cache import RedisCache
from alice.security.ratelimit import BucketSpec, RedisRateLimiter
from alice.settings import Settings, load_settings
from tests.support.cache import answer
from tests.support.redis import SentinelGroup, sentinel_group

#: No refill during a test: every hit takes a token for good.
FOUR = BucketSpec(requests=4, window_s=3600, burst=4)


@pytest.fixture
def group() -> Iterator[SentinelGroup]:
    with sentinel_group() as started:
        yield started


def sentinel_settings(group: SentinelGroup, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("ALICE_CACHE", "redis")
    monkeypatch.setenv("ALICE_RATE_LIMIT", "redis")
    monkeypatch.setenv("ALICE_REDIS_SENTINELS", f"127.0.0.1:1,{group.sentinels}")
    monkeypatch.setenv("ALICE_REDIS_SENTINEL_MASTER", group.master_name)
    # The host is nobody's: with sentinels the URL gives only the database (and auth).
    monkeypatch.setenv("ALICE_REDIS_URL", "redis://127.0.0.1:1/3")
    monkeypatch.setenv("ALICE_REDIS_PREFIX", "sentinel-test:")
    return load_settings(_env_file=None)


def keys_on(port: int) -> set[str]:
    """The keys in database 3 of the server on ``port``."""
    client = redis.Redis(port=port, db=3, decode_responses=True)
    try:
        return set(client.scan_iter(match="sentinel-test:*"))
    finally:
        client.close()


def limiter_of(settings: Settings) -> RedisRateLimiter:
    limiter = build_rate_limiter(settings)
    assert isinstance(limiter, RedisRateLimiter)
    return limiter


def cache_of(settings: Settings) -> RedisCache:
    cache = build_cache(settings)
    assert isinstance(cache, RedisCache)
    return cache


async def test_the_cache_and_the_limiter_use_the_master_the_sentinel_names(
    group: SentinelGroup, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = sentinel_settings(group, monkeypatch)
    cache, limiter = cache_of(settings), limiter_of(settings)
    await cache.set("q", answer("Stockholm."))
    got = await cache.get("q")
    decision = await limiter.hit("key-1", FOUR)
    await cache.aclose()
    await limiter.aclose()
    assert got is not None and got.text == "Stockholm."
    assert cache.stats.errors == 0
    assert decision.allowed and decision.remaining == 3
    on_master = keys_on(group.master_port)
    assert "sentinel-test:rl:key-1" in on_master
    assert any(k.startswith("sentinel-test:cache:") for k in on_master)


@pytest.mark.parametrize(
    "failover",
    [
        # The process exits: its connections are closed.
        SentinelGroup.lose_master,
        # The process stops, its sockets left open (a hung host): the pooled connection's
        # command times out, and its retry must ask the sentinel rather than reconnect to
        # the hung host.
        SentinelGroup.freeze_master,
    ],
    ids=["lost", "hung"],
)
async def test_the_limiter_follows_the_master_to_the_promoted_replica(
    group: SentinelGroup,
    monkeypatch: pytest.MonkeyPatch,
    failover: Callable[[SentinelGroup], int],
) -> None:
    limiter = limiter_of(sentinel_settings(group, monkeypatch))
    before = [await limiter.hit("key-1", FOUR) for _ in range(2)]
    group.replicated()
    promoted = failover(group)
    with capture_logs() as logs:
        after = [await limiter.hit("key-1", FOUR) for _ in range(3)]
    await limiter.aclose()
    assert promoted == group.replica_port
    # The bucket lived through the failover: a fresh local bucket would allow all three.
    assert [d.allowed for d in before + after] == [True, True, True, True, False]
    assert not [e for e in logs if e["event"] == "ratelimit.redis_unavailable"]
    assert "sentinel-test:rl:key-1" in keys_on(promoted)


async def test_the_cache_reads_through_a_hung_master_failover_within_its_budget(
    group: SentinelGroup, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = cache_of(sentinel_settings(group, monkeypatch))
    await cache.set("before", answer("Stockholm."))
    group.replicated()
    group.freeze_master()
    # The command on the hung master times out and the retry on the promoted replica
    # must both fit in the cache's own timeout, or the cache skips Redis for seconds.
    kept = await cache.get("before")
    await cache.aclose()
    assert kept is not None and kept.text == "Stockholm."
    assert cache.stats.errors == 0


async def test_a_demoted_master_is_left_for_the_new_one(
    group: SentinelGroup, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = cache_of(sentinel_settings(group, monkeypatch))
    await cache.set("before", answer("Stockholm."))
    group.replicated()
    # A coordinated failover: the old master lives on as a replica of the new one, so
    # the cache's pooled connection to it now meets READONLY on its next write.
    promoted = group.fail_over()
    kept = await cache.get("before")
    await cache.set("after", answer("Oslo."))
    await cache.aclose()
    assert promoted == group.replica_port
    assert kept is not None and kept.text == "Stockholm."
    assert cache.stats.errors == 0
    assert any(k.endswith(":after") for k in keys_on(promoted))
