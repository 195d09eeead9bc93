"""RedisCache against the real Redis server, each test under its own key prefix."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, MutableMapping
from typing import Any, TypeAlias

import pytest
import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from structlog.testing import capture_logs

import alice.cache.redis as redis_module
from alice.cache import CachedAnswer, CacheStats, RedisCache, ResponseCache
from tests.support.cache import answer
from tests.support.servers import free_port

Logs: TypeAlias = list[MutableMapping[str, Any]]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Logs]:
    """What alice.cache logs during the test (a fresh logger, whatever structlog caches)."""
    with capture_logs() as captured:
        monkeypatch.setattr(redis_module, "log", structlog.get_logger("alice.cache"))
        yield captured


async def test_round_trip_and_stats(client: Redis, redis_prefix: str) -> None:
    cache: ResponseCache = RedisCache(client, prefix=redis_prefix)
    assert cache.name == "redis"
    assert await cache.get("k") is None
    await cache.set("k", answer("hej"))
    assert await cache.get("k") == answer("hej")
    assert cache.stats == CacheStats(hits=1, misses=1, sets=1, evictions=0, errors=0)


async def test_key_layout(client: Redis, redis_prefix: str) -> None:
    cache = RedisCache(client, prefix=redis_prefix, ttl_s=60.0)
    await cache.set("abc", answer("hej"))
    assert CachedAnswer.from_json(await client.get(f"{redis_prefix}cache:abc")) == answer("hej")
    assert 0 < await client.pttl(f"{redis_prefix}cache:abc") <= 60_000
    assert await client.zrange(f"{redis_prefix}cache:lru", 0, -1) == [b"abc"]


async def test_entries_expire_after_ttl(client: Redis, redis_prefix: str) -> None:
    cache = RedisCache(client, prefix=redis_prefix, ttl_s=0.2)
    await cache.set("k", answer("k"))
    assert await cache.get("k") == answer("k")
    await asyncio.sleep(0.3)
    assert await cache.get("k") is None
    # the miss also dropped the expired entry from the LRU set
    assert await client.zcard(f"{redis_prefix}cache:lru") == 0


async def test_a_hit_refreshes_recency_but_not_the_ttl(client: Redis, redis_prefix: str) -> None:
    cache = RedisCache(client, prefix=redis_prefix, ttl_s=60.0)
    await cache.set("k", answer("k"))
    before = await client.zscore(f"{redis_prefix}cache:lru", "k")
    await asyncio.sleep(0.05)
    assert await cache.get("k") is not None
    after = await client.zscore(f"{redis_prefix}cache:lru", "k")
    assert before is not None
    assert after is not None
    assert after > before
    assert await client.pttl(f"{redis_prefix}cache:k") < 60_000 - 40


async def test_full_cache_evicts_the_least_recently_used(client: Redis, redis_prefix: str) -> None:
    cache = RedisCache(client, prefix=redis_prefix, max_entries=3)
    for key in ("a", "b", "c"):
        await cache.set(key, answer(key))
    assert await cache.get("a") is not None  # a is now more recent than b and c

    await cache.set("d", answer("d"))
    assert await client.exists(f"{redis_prefix}cache:b") == 0
    await cache.set("e", answer("e"))
    assert await client.exists(f"{redis_prefix}cache:c") == 0

    assert [await cache.get(k) for k in ("a", "d", "e")] == [answer(k) for k in "ade"]
    assert await client.zcard(f"{redis_prefix}cache:lru") == 3
    assert cache.stats.evictions == 2


async def test_overwriting_an_entry_evicts_nothing(client: Redis, redis_prefix: str) -> None:
    cache = RedisCache(client, prefix=redis_prefix, max_entries=2)
    await cache.set("a", answer("a"))
    await cache.set("b", answer("b"))
    await cache.set("a", answer("a2"))
    assert await cache.get("a") == answer("a2")
    assert await cache.get("b") == answer("b")
    assert cache.stats.evictions == 0


async def test_lru_members_of_long_expired_entries_are_dropped_without_counting(
    client: Redis, redis_prefix: str
) -> None:
    cache = RedisCache(client, prefix=redis_prefix, max_entries=2, ttl_s=60.0)
    await cache.set("live", answer("live"))
    # an entry last used long ago (score 1 µs after the epoch) whose key has expired
    await client.zadd(f"{redis_prefix}cache:lru", {"ghost": 1})
    await cache.set("new", answer("new"))
    assert await client.zrange(f"{redis_prefix}cache:lru", 0, -1) == [b"live", b"new"]
    assert cache.stats.evictions == 0


async def test_two_replicas_share_entries_and_the_limit(client: Redis, redis_prefix: str) -> None:
    one = RedisCache(client, prefix=redis_prefix, max_entries=2)
    two = RedisCache(client, prefix=redis_prefix, max_entries=2)
    await one.set("a", answer("a"))
    assert await two.get("a") == answer("a")
    await two.set("b", answer("b"))
    assert await one.get("b") == answer("b")

    await one.set("c", answer("c"))  # a was used before b: a goes
    assert await two.get("a") is None
    assert await two.get("c") == answer("c")
    assert one.stats.evictions == 1


async def test_concurrent_sets_from_replicas_never_exceed_the_limit(
    client: Redis, redis_url: str, redis_prefix: str
) -> None:
    other_client = Redis.from_url(redis_url)
    try:
        replicas = [
            RedisCache(c, prefix=redis_prefix, max_entries=5) for c in (client, other_client)
        ]
        await asyncio.gather(*(replicas[i % 2].set(f"k{i}", answer(str(i))) for i in range(40)))
    finally:
        await other_client.aclose()
    entries = [name async for name in client.scan_iter(match=f"{redis_prefix}cache:k*", count=100)]
    assert len(entries) == 5
    assert await client.zcard(f"{redis_prefix}cache:lru") == 5
    assert sum(r.stats.evictions for r in replicas) == 35


async def test_clear_removes_only_this_caches_keys(client: Redis, redis_prefix: str) -> None:
    # glob characters in the prefix must match only themselves
    prefix = f"{redis_prefix}[x]*:"
    cache = RedisCache(client, prefix=prefix)
    await cache.set("a", answer("a"))
    await cache.set("b", answer("b"))
    await client.set(f"{redis_prefix}xy:cache:a", "neighbour")
    await client.set(f"{prefix}sessions", "unrelated")

    await cache.clear()

    assert await cache.get("a") is None
    assert await client.exists(f"{prefix}cache:lru") == 0
    assert await client.get(f"{redis_prefix}xy:cache:a") == b"neighbour"
    assert await client.get(f"{prefix}sessions") == b"unrelated"


def unreachable() -> Redis:
    """A client of a closed port that fails at once (no retries)."""
    return Redis(host="127.0.0.1", port=free_port(), retry=Retry(NoBackoff(), 0))


async def test_an_unreachable_redis_never_fails_a_request(logs: Logs) -> None:
    # A default client: redis-py retries a refused connection for seconds, so what ends
    # the attempt is either its ConnectionError or the cache's own timeout.
    down = Redis(host="127.0.0.1", port=free_port())
    try:
        cache = RedisCache(down, prefix="alice-test:", cooldown_s=0)
        assert await cache.get("secret-key") is None
        await cache.set("secret-key", answer("secret content"))
    finally:
        await down.aclose()
    assert cache.stats == CacheStats(hits=0, misses=1, sets=0, evictions=0, errors=2)
    # one warning per outage, naming the error class but no key or content
    assert [e["event"] for e in logs] == ["cache.redis_unavailable"]
    assert logs[0]["log_level"] == "warning"
    assert logs[0]["operation"] == "get"
    assert logs[0]["error"] in {"ConnectionError", "TimeoutError"}
    assert "secret" not in repr(logs)


async def test_a_redis_that_never_answers_costs_at_most_the_timeout(
    logs: Logs,
) -> None:
    connections: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        await reader.read()  # swallow everything, answer nothing, until the client leaves

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    silent_client = Redis(host="127.0.0.1", port=port)
    try:
        cache = RedisCache(silent_client, prefix="alice-test:", timeout_s=0.1, cooldown_s=0)
        assert await asyncio.wait_for(cache.get("k"), 10) is None
        await asyncio.wait_for(cache.set("k", answer("k")), 10)
    finally:
        await silent_client.aclose()
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()
    assert cache.stats.errors == 2
    assert [(e["event"], e["error"]) for e in logs] == [("cache.redis_unavailable", "TimeoutError")]


async def test_after_a_failure_redis_is_left_alone_for_the_cooldown() -> None:
    clock = FakeClock()
    down = unreachable()
    try:
        cache = RedisCache(down, prefix="alice-test:", cooldown_s=5.0, clock=clock)
        assert await cache.get("k") is None
        assert cache.stats.errors == 1
        clock.now += 4.9
        assert await cache.get("k") is None
        await cache.set("k", answer("k"))
        assert cache.stats.errors == 1  # skipped, not tried
        assert cache.stats.misses == 2
        clock.now += 0.1
        assert await cache.get("k") is None
        assert cache.stats.errors == 2
    finally:
        await down.aclose()


async def test_a_refused_connection_is_logged_as_unavailable(logs: Logs) -> None:
    down = unreachable()
    try:
        cache = RedisCache(down, prefix="alice-test:")
        await cache.set("k", answer("k"))
    finally:
        await down.aclose()
    assert [(e["event"], e["operation"], e["error"]) for e in logs] == [
        ("cache.redis_unavailable", "set", "ConnectionError")
    ]


async def test_redis_errors_degrade_to_a_miss_and_recovery_is_logged(
    client: Redis, redis_prefix: str, logs: Logs
) -> None:
    cache = RedisCache(client, prefix=redis_prefix, cooldown_s=0)
    await client.rpush(f"{redis_prefix}cache:k", "a list, not a string")  # WRONGTYPE
    assert await cache.get("k") is None
    assert cache.stats.errors == 1

    await client.delete(f"{redis_prefix}cache:k")
    await cache.set("k", answer("k"))
    assert await cache.get("k") == answer("k")
    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("cache.redis_error", "warning"),
        ("cache.redis_recovered", "info"),
    ]
    assert logs[0]["error"] == "ResponseError"


async def test_an_unreadable_entry_is_a_miss(client: Redis, redis_prefix: str, logs: Logs) -> None:
    cache = RedisCache(client, prefix=redis_prefix)
    await client.set(f"{redis_prefix}cache:k", "{not json")
    assert await cache.get("k") is None
    assert cache.stats.errors == 1
    assert cache.stats.misses == 1
    assert [e["event"] for e in logs] == ["cache.entry_unreadable"]


async def test_decoded_responses_work_too(redis_url: str, redis_prefix: str) -> None:
    decoding = Redis.from_url(redis_url, decode_responses=True)
    try:
        cache = RedisCache(decoding, prefix=redis_prefix)
        await cache.set("k", answer("hej"))
        assert await cache.get("k") == answer("hej")
    finally:
        await decoding.aclose()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_entries": 0}, "max_entries"),
        ({"ttl_s": 0.0}, "ttl_s"),
        ({"timeout_s": 0.0}, "timeout_s"),
        ({"cooldown_s": -1.0}, "cooldown_s"),
    ],
)
async def test_invalid_configuration(client: Redis, kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RedisCache(client, prefix="p:", **kwargs)  # type: ignore[arg-type]
