from __future__ import annotations

import pytest

from alice.cache import CacheStats, MemoryCache, ResponseCache
from tests.support.cache import answer


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def test_round_trip_and_stats(clock: FakeClock) -> None:
    cache: ResponseCache = MemoryCache(clock=clock)
    assert cache.name == "memory"
    assert await cache.get("k") is None
    await cache.set("k", answer("hej"))
    assert await cache.get("k") == answer("hej")
    assert await cache.get("k") == answer("hej")
    assert cache.stats == CacheStats(hits=2, misses=1, sets=1, evictions=0, errors=0)


async def test_full_cache_evicts_the_least_recently_used(clock: FakeClock) -> None:
    cache = MemoryCache(max_entries=3, clock=clock)
    for key in ("a", "b", "c"):
        await cache.set(key, answer(key))
    assert await cache.get("a") is not None  # a is now more recent than b and c

    await cache.set("d", answer("d"))
    assert await cache.get("b") is None
    await cache.set("e", answer("e"))
    assert await cache.get("c") is None

    assert [await cache.get(k) for k in ("a", "d", "e")] == [answer(k) for k in "ade"]
    assert len(cache) == 3
    assert cache.stats.evictions == 2


async def test_overwriting_an_entry_evicts_nothing(clock: FakeClock) -> None:
    cache = MemoryCache(max_entries=2, clock=clock)
    await cache.set("a", answer("a"))
    await cache.set("b", answer("b"))
    await cache.set("a", answer("a2"))
    assert await cache.get("a") == answer("a2")
    assert await cache.get("b") == answer("b")
    assert cache.stats.evictions == 0
    assert cache.stats.sets == 3


async def test_entries_expire_after_ttl(clock: FakeClock) -> None:
    cache = MemoryCache(ttl_s=10.0, clock=clock)
    await cache.set("k", answer("k"))
    clock.advance(9.9)
    assert await cache.get("k") == answer("k")
    clock.advance(0.1)
    assert await cache.get("k") is None
    assert len(cache) == 0


async def test_a_hit_does_not_extend_the_ttl(clock: FakeClock) -> None:
    cache = MemoryCache(ttl_s=10.0, clock=clock)
    await cache.set("k", answer("k"))
    for _ in range(3):
        clock.advance(3)
        assert await cache.get("k") is not None
    clock.advance(1)
    assert await cache.get("k") is None


async def test_setting_again_restarts_the_ttl(clock: FakeClock) -> None:
    cache = MemoryCache(ttl_s=10.0, clock=clock)
    await cache.set("k", answer("k"))
    clock.advance(8)
    await cache.set("k", answer("k2"))
    clock.advance(8)
    assert await cache.get("k") == answer("k2")


async def test_expired_entries_make_room_without_counting_as_evictions(clock: FakeClock) -> None:
    cache = MemoryCache(max_entries=2, ttl_s=10.0, clock=clock)
    await cache.set("old", answer("old"))
    clock.advance(5)
    await cache.set("mid", answer("mid"))
    clock.advance(6)  # old has expired, mid has not
    await cache.set("new", answer("new"))
    assert cache.stats.evictions == 0
    assert await cache.get("mid") == answer("mid")
    assert await cache.get("new") == answer("new")


async def test_clear_empties_but_keeps_counting(clock: FakeClock) -> None:
    cache = MemoryCache(clock=clock)
    await cache.set("a", answer("a"))
    await cache.clear()
    assert len(cache) == 0
    assert await cache.get("a") is None
    assert cache.stats.sets == 1
    assert cache.stats.misses == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_entries": 0}, "max_entries"),
        ({"ttl_s": 0.0}, "ttl_s"),
        ({"ttl_s": float("nan")}, "ttl_s"),
    ],
)
def test_invalid_configuration(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MemoryCache(**kwargs)  # type: ignore[arg-type]
