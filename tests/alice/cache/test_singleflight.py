"""SingleFlight: one call per key at a time, its outcome shared by every waiting caller.

``asyncio.wait_for`` only guards against a hang; the assertions are about behaviour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from alice.cache import SingleFlight

GUARD_S = 10


class Gated:
    """An ``fn`` that counts its calls and finishes when the test opens the gate."""

    def __init__(self, result: str = "svar", error: Exception | None = None) -> None:
        self.calls = 0
        self.started = asyncio.Event()
        self.gate = asyncio.Event()
        self.result = result
        self.error = error

    async def __call__(self) -> str:
        self.calls += 1
        call = self.calls
        self.started.set()
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        return f"{self.result}-{call}"


async def settle() -> None:
    """Let every ready task run up to its next wait."""
    for _ in range(5):
        await asyncio.sleep(0)


def spawn(
    flight: SingleFlight[str], key: str, fn: Callable[[], Awaitable[str]], n: int
) -> list[asyncio.Task[str]]:
    return [asyncio.create_task(flight.do(key, fn)) for _ in range(n)]


async def test_concurrent_callers_share_one_call() -> None:
    flight: SingleFlight[str] = SingleFlight()
    fn = Gated()
    tasks = spawn(flight, "k", fn, 10)
    await settle()
    assert flight.in_flight == 1

    fn.gate.set()
    results = await asyncio.wait_for(asyncio.gather(*tasks), GUARD_S)

    assert results == ["svar-1"] * 10
    assert fn.calls == 1
    assert flight.in_flight == 0


async def test_the_exception_is_shared() -> None:
    flight: SingleFlight[str] = SingleFlight()
    error = RuntimeError("modellen svarade inte")
    fn = Gated(error=error)
    tasks = spawn(flight, "k", fn, 5)
    await settle()
    fn.gate.set()
    outcomes = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), GUARD_S)

    assert outcomes == [error] * 5
    assert all(outcome is error for outcome in outcomes)
    assert fn.calls == 1
    assert flight.in_flight == 0


async def test_a_later_call_runs_again() -> None:
    flight: SingleFlight[str] = SingleFlight()
    fn = Gated()
    fn.gate.set()
    assert await flight.do("k", fn) == "svar-1"
    assert await flight.do("k", fn) == "svar-2"
    assert fn.calls == 2


async def test_a_later_call_runs_again_after_a_failure() -> None:
    flight: SingleFlight[str] = SingleFlight()
    fn = Gated(error=ValueError("x"))
    fn.gate.set()
    with pytest.raises(ValueError, match="x"):
        await flight.do("k", fn)
    fn.error = None
    assert await flight.do("k", fn) == "svar-2"


async def test_different_keys_do_not_share() -> None:
    flight: SingleFlight[str] = SingleFlight()
    fn = Gated()
    tasks = [asyncio.create_task(flight.do(key, fn)) for key in ("a", "b", "a", "b")]
    await settle()
    assert flight.in_flight == 2
    fn.gate.set()
    results = await asyncio.wait_for(asyncio.gather(*tasks), GUARD_S)
    assert fn.calls == 2
    assert results[0] == results[2]
    assert results[1] == results[3]
    assert results[0] != results[1]


async def test_when_the_leader_is_cancelled_a_follower_runs_fn_again() -> None:
    flight: SingleFlight[str] = SingleFlight()
    fn = Gated()
    leader = asyncio.create_task(flight.do("k", fn))
    await asyncio.wait_for(fn.started.wait(), GUARD_S)
    followers = spawn(flight, "k", fn, 3)
    await settle()

    leader.cancel()
    await settle()
    assert fn.calls == 2  # the first follower took over; the other two follow it
    assert flight.in_flight == 1
    fn.gate.set()
    results = await asyncio.wait_for(asyncio.gather(*followers), GUARD_S)

    assert results == ["svar-2"] * 3
    assert fn.calls == 2
    assert leader.cancelled()
    assert flight.in_flight == 0


async def test_a_cancelled_leader_without_followers_frees_the_key() -> None:
    flight: SingleFlight[str] = SingleFlight()
    fn = Gated()
    leader = asyncio.create_task(flight.do("k", fn))
    await asyncio.wait_for(fn.started.wait(), GUARD_S)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert flight.in_flight == 0


async def test_a_cancelled_follower_does_not_disturb_the_others() -> None:
    flight: SingleFlight[str] = SingleFlight()
    fn = Gated()
    leader, quitter, stayer = spawn(flight, "k", fn, 3)
    await settle()
    quitter.cancel()
    await settle()
    fn.gate.set()
    results = await asyncio.wait_for(asyncio.gather(leader, stayer), GUARD_S)
    assert list(results) == ["svar-1", "svar-1"]
    assert quitter.cancelled()
    assert fn.calls == 1
