"""Concurrency limit per provider with a bounded, wait-aware priority queue.

At most `limit` calls run at once. Further callers wait in a queue ordered by priority
(lower number first), then arrival. A caller is refused at once with `OverloadedError`
(429 + Retry-After) when

- `max_queue` callers already wait (a hard bound: never an unbounded pile-up), or
- its *predicted* wait is longer than `max_wait_share` of the average time a call holds
  its slot. The prediction knows when each running call started and how long calls take
  on average (an exponentially weighted mean of finished holds): the k-th caller in line
  gets the k-th slot release, each slot re-held for the mean hold time once it comes
  round again. Under overload this keeps an accepted call's latency within
  ``1 + max_wait_share`` of an unloaded one, and the slots busy, instead of letting
  everyone queue for ``max_queue`` holds (``docs/decisions/0009-admission-by-wait.md``).

Until the first call finishes nothing is known about hold times, and only `max_queue`
applies.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from alice.errors import OverloadedError

__all__ = ["Admission", "Priority"]


class Priority:
    """Request priorities (lower is served first)."""

    INTERACTIVE = 0
    BACKGROUND = 10


@dataclass(order=True)
class _Waiter:
    priority: int
    seq: int
    future: asyncio.Future[None] = field(compare=False)


class Admission:
    """Admits calls to one provider."""

    def __init__(
        self,
        *,
        limit: int,
        max_queue: int,
        retry_after_s: int = 2,
        max_wait_share: float | None = None,
        smoothing: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or max_queue < 0:
            raise ValueError("limit must be at least 1 and max_queue not negative")
        if max_wait_share is not None and max_wait_share < 0:
            raise ValueError("max_wait_share must not be negative")
        if not 0 < smoothing <= 1:
            raise ValueError("smoothing must be in (0, 1]")
        self.limit = limit
        self.max_queue = max_queue
        self.retry_after_s = retry_after_s
        self.max_wait_share = max_wait_share
        self._smoothing = smoothing
        self._clock = clock
        self.in_flight = 0
        self.mean_hold_s: float | None = None
        self._holds: dict[int, float] = {}  # slot token -> when it was granted
        self._waiters: list[_Waiter] = []
        self._seq = itertools.count()

    @property
    def queued(self) -> int:
        """Callers waiting for a slot."""
        return sum(1 for w in self._waiters if not w.future.done())

    @property
    def max_wait_s(self) -> float | None:
        """The longest predicted wait a caller is queued for; None until it is known."""
        if self.max_wait_share is None or self.mean_hold_s is None:
            return None
        return self.max_wait_share * self.mean_hold_s

    def predicted_wait_s(self, priority: int = Priority.INTERACTIVE) -> float | None:
        """Seconds a caller of ``priority`` arriving now would wait; None if unknown."""
        mean = self.mean_hold_s
        if mean is None:
            return None
        if self.in_flight < self.limit and not self.queued:
            return 0.0
        now = self._clock()
        # When each running call should give its slot back (an overrunning one: now).
        releases = sorted(max(start + mean, now) for start in self._holds.values())
        releases += [now] * (self.limit - len(releases))  # slots being handed over
        ahead = sum(1 for w in self._waiters if not w.future.done() and w.priority <= priority)
        rounds, index = divmod(ahead, self.limit)
        return releases[index] + rounds * mean - now

    @asynccontextmanager
    async def slot(self, priority: int = Priority.INTERACTIVE) -> AsyncIterator[None]:
        """Hold one of the ``limit`` slots for the body of the ``async with``.

        Raises:
            OverloadedError: the queue is full, or the wait would be too long.
        """
        token = await self._acquire(priority)
        try:
            yield
        finally:
            self._release(token)

    def check(self, priority: int = Priority.INTERACTIVE) -> None:
        """Raise what `slot` would raise if asked now; hold nothing.

        Lets a caller refuse before it does work of its own (the chat service checks
        before it stores the user's message). `slot` still decides.

        Raises:
            OverloadedError: the queue is full, or the wait would be too long.
        """
        if self.in_flight < self.limit and not self.queued:
            return
        self._refusal(priority)

    def _refusal(self, priority: int) -> None:
        if self.queued >= self.max_queue:
            raise OverloadedError(
                f"All {self.limit} model slots are busy and {self.max_queue} requests wait.",
                retry_after=self.retry_after_s,
            )
        limit_s = self.max_wait_s
        if limit_s is not None:
            wait_s = self.predicted_wait_s(priority)
            if wait_s is not None and wait_s > limit_s:
                raise OverloadedError(
                    f"All {self.limit} model slots are busy; the wait would be about "
                    f"{wait_s * 1000:.0f} ms (at most {limit_s * 1000:.0f} ms is queued).",
                    retry_after=max(self.retry_after_s, math.ceil(wait_s)),
                )

    async def _acquire(self, priority: int) -> int:
        token = next(self._seq)
        if self.in_flight < self.limit and not self.queued:
            self.in_flight += 1
            self._holds[token] = self._clock()
            return token
        self._refusal(priority)
        waiter = _Waiter(priority, token, asyncio.get_running_loop().create_future())
        heapq.heappush(self._waiters, waiter)
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                self._release(token)  # the slot was handed over just as we gave up
            raise
        return token

    def _release(self, token: int) -> None:
        now = self._clock()
        started = self._holds.pop(token, None)
        if started is not None:
            held = now - started
            mean = self.mean_hold_s
            self.mean_hold_s = held if mean is None else mean + self._smoothing * (held - mean)
        while self._waiters:
            waiter = heapq.heappop(self._waiters)
            if not waiter.future.done():
                # The slot passes straight to the waiter.
                self._holds[waiter.seq] = now
                waiter.future.set_result(None)
                return
        self.in_flight -= 1
