"""Concurrency limit per provider with a bounded priority queue.

At most `limit` calls run at once. Further callers wait in a queue ordered by priority
(lower number first), then arrival. When `max_queue` callers already wait, a new one is
refused at once with `OverloadedError` (429 + Retry-After): back-pressure, never an
unbounded pile-up of waiting requests.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
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

    def __init__(self, *, limit: int, max_queue: int, retry_after_s: int = 2) -> None:
        if limit < 1 or max_queue < 0:
            raise ValueError("limit must be at least 1 and max_queue not negative")
        self.limit = limit
        self.max_queue = max_queue
        self.retry_after_s = retry_after_s
        self.in_flight = 0
        self._waiters: list[_Waiter] = []
        self._seq = itertools.count()

    @property
    def queued(self) -> int:
        """Callers waiting for a slot."""
        return sum(1 for w in self._waiters if not w.future.done())

    @asynccontextmanager
    async def slot(self, priority: int = Priority.INTERACTIVE) -> AsyncIterator[None]:
        """Hold one of the ``limit`` slots for the body of the ``async with``.

        Raises:
            OverloadedError: the queue is full.
        """
        await self._acquire(priority)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, priority: int) -> None:
        if self.in_flight < self.limit and not self.queued:
            self.in_flight += 1
            return
        if self.queued >= self.max_queue:
            raise OverloadedError(
                f"All {self.limit} model slots are busy and {self.max_queue} requests wait.",
                retry_after=self.retry_after_s,
            )
        waiter = _Waiter(priority, next(self._seq), asyncio.get_running_loop().create_future())
        heapq.heappush(self._waiters, waiter)
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                self._release()  # the slot was handed over just as we gave up
            raise

    def _release(self) -> None:
        while self._waiters:
            waiter = heapq.heappop(self._waiters)
            if not waiter.future.done():
                waiter.future.set_result(None)  # the slot passes straight to the waiter
                return
        self.in_flight -= 1
