from __future__ import annotations

import asyncio

import pytest

from alice.errors import OverloadedError
from alice.llm.router.admission import Admission, Priority


async def test_at_most_limit_run_at_once_and_the_rest_wait() -> None:
    admission = Admission(limit=2, max_queue=5)
    running = 0
    peak = 0
    release = asyncio.Event()

    async def work() -> None:
        nonlocal running, peak
        async with admission.slot():
            running += 1
            peak = max(peak, running)
            await release.wait()
            running -= 1

    tasks = [asyncio.create_task(work()) for _ in range(5)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert admission.in_flight == 2
    assert admission.queued == 3
    release.set()
    await asyncio.gather(*tasks)
    assert peak == 2
    assert admission.in_flight == 0 and admission.queued == 0


async def test_a_full_queue_refuses_at_once_with_retry_after() -> None:
    admission = Admission(limit=1, max_queue=1, retry_after_s=3)
    hold = asyncio.Event()

    async def holder() -> None:
        async with admission.slot():
            await hold.wait()

    first = asyncio.create_task(holder())
    second = asyncio.create_task(holder())
    await asyncio.sleep(0)
    with pytest.raises(OverloadedError) as info:
        async with admission.slot():
            pass
    assert info.value.status == 429
    assert info.value.retry_after == 3
    hold.set()
    await asyncio.gather(first, second)


async def test_waiters_are_served_by_priority_then_arrival() -> None:
    admission = Admission(limit=1, max_queue=10)
    order: list[str] = []
    gate = asyncio.Event()

    async def job(name: str, priority: int) -> None:
        async with admission.slot(priority):
            order.append(name)
            await gate.wait() if name == "first" else None

    first = asyncio.create_task(job("first", Priority.INTERACTIVE))
    await asyncio.sleep(0)
    waiting = [
        asyncio.create_task(job("bg-1", Priority.BACKGROUND)),
        asyncio.create_task(job("int-1", Priority.INTERACTIVE)),
        asyncio.create_task(job("bg-2", Priority.BACKGROUND)),
        asyncio.create_task(job("int-2", Priority.INTERACTIVE)),
    ]
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(first, *waiting)
    assert order == ["first", "int-1", "int-2", "bg-1", "bg-2"]


async def test_a_waiter_that_gives_up_does_not_leak_its_slot() -> None:
    admission = Admission(limit=1, max_queue=5)
    hold = asyncio.Event()

    async def holder() -> None:
        async with admission.slot():
            await hold.wait()

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    quitter = asyncio.create_task(holder())
    await asyncio.sleep(0)
    quitter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await quitter
    hold.set()
    await first
    assert admission.in_flight == 0
    async with admission.slot():
        assert admission.in_flight == 1
