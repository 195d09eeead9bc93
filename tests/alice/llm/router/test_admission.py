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


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _hold(admission: Admission, release: asyncio.Event) -> None:
    async with admission.slot():
        await release.wait()


async def _learn_mean_hold(admission: Admission, clock: _Clock, seconds: float) -> None:
    async with admission.slot():
        clock.now += seconds


async def test_the_mean_hold_time_is_learnt_from_finished_calls() -> None:
    clock = _Clock()
    admission = Admission(limit=2, max_queue=8, max_wait_share=0.5, smoothing=0.5, clock=clock)
    assert admission.mean_hold_s is None and admission.max_wait_s is None
    await _learn_mean_hold(admission, clock, 2.0)
    assert admission.mean_hold_s == pytest.approx(2.0)
    await _learn_mean_hold(admission, clock, 4.0)
    assert admission.mean_hold_s == pytest.approx(3.0)  # 2 + 0.5 * (4 - 2)
    assert admission.max_wait_s == pytest.approx(1.5)


async def test_the_predicted_wait_follows_the_running_calls_and_the_line() -> None:
    clock = _Clock()
    admission = Admission(limit=2, max_queue=8, max_wait_share=10.0, smoothing=1.0, clock=clock)
    await _learn_mean_hold(admission, clock, 1.0)
    assert admission.predicted_wait_s() == 0.0  # a slot is free
    release = asyncio.Event()
    first = asyncio.create_task(_hold(admission, release))
    await asyncio.sleep(0)
    clock.now += 0.25
    second = asyncio.create_task(_hold(admission, release))
    await asyncio.sleep(0)
    clock.now += 0.25
    # Slots free at +0.5 s and +0.75 s from now.
    assert admission.predicted_wait_s() == pytest.approx(0.5)
    waiters = [asyncio.create_task(_hold(admission, release)) for _ in range(2)]
    await asyncio.sleep(0)
    assert admission.queued == 2
    # The third in line gets the first slot's second round; a more urgent caller goes
    # before the two waiting.
    assert admission.predicted_wait_s() == pytest.approx(1.5)
    assert admission.predicted_wait_s(Priority.INTERACTIVE - 1) == pytest.approx(0.5)
    clock.now += 5.0  # every running call is overdue: it may end any moment
    assert admission.predicted_wait_s() == pytest.approx(1.0)
    release.set()
    await asyncio.gather(first, second, *waiters)


async def test_a_caller_whose_wait_would_be_too_long_is_refused_at_once() -> None:
    clock = _Clock()
    admission = Admission(
        limit=1, max_queue=16, retry_after_s=2, max_wait_share=0.5, smoothing=1.0, clock=clock
    )
    await _learn_mean_hold(admission, clock, 1.0)
    release = asyncio.Event()
    holder = asyncio.create_task(_hold(admission, release))
    await asyncio.sleep(0)
    # The slot frees in 1 s: longer than half a call, so nobody queues.
    with pytest.raises(OverloadedError) as refused:
        async with admission.slot():
            pass
    assert refused.value.retry_after == 2
    assert "1000 ms" in refused.value.message
    clock.now += 0.6  # now it frees in 0.4 s: one caller may wait for it
    waiter = asyncio.create_task(_hold(admission, release))
    await asyncio.sleep(0)
    assert admission.queued == 1
    with pytest.raises(OverloadedError):  # the next one would wait 1.4 s
        async with admission.slot():
            pass
    release.set()
    await asyncio.gather(holder, waiter)
    assert admission.in_flight == 0


async def test_without_a_wait_bound_only_the_queue_length_limits() -> None:
    clock = _Clock()
    admission = Admission(limit=1, max_queue=3, max_wait_share=None, clock=clock)
    await _learn_mean_hold(admission, clock, 10.0)
    release = asyncio.Event()
    tasks = [asyncio.create_task(_hold(admission, release)) for _ in range(4)]
    await asyncio.sleep(0)
    assert (admission.in_flight, admission.queued) == (1, 3)
    release.set()
    await asyncio.gather(*tasks)


async def test_check_refuses_exactly_when_a_slot_would_and_holds_nothing() -> None:
    admission = Admission(limit=1, max_queue=1, retry_after_s=3)
    admission.check()  # a free slot: no refusal
    hold = asyncio.Event()

    async def holder() -> None:
        async with admission.slot():
            await hold.wait()

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    admission.check()  # busy, but the queue has room
    second = asyncio.create_task(holder())
    await asyncio.sleep(0)
    with pytest.raises(OverloadedError) as checked:
        admission.check()
    with pytest.raises(OverloadedError) as slotted:
        async with admission.slot():
            pass
    assert checked.value.retry_after == slotted.value.retry_after == 3
    assert (admission.in_flight, admission.queued) == (1, 1)  # check took nothing
    hold.set()
    await asyncio.gather(first, second)
