"""Collapse concurrent identical calls into one: the first caller runs, the rest wait.

In-process only: it deduplicates the calls of one event loop. Replicas share work
through the Redis cache itself (whoever finishes first stores the answer, later requests
hit it); identical requests that arrive at two replicas at the same moment both run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["SingleFlight"]

T = TypeVar("T")


class _LeaderGone(Exception):
    """The leader stopped without an outcome (cancelled): a follower must run ``fn``."""


class SingleFlight(Generic[T]):
    """Share one call of ``fn`` among concurrent callers with the same key.

    The first caller of `do` for a key is the leader: it runs ``fn`` in its own task.
    Callers that arrive while that call is in flight are followers: they wait for it and
    get the same result or the same exception object. The key is released when the call
    finishes, so a later `do` runs ``fn`` again (cache the result elsewhere).

    Cancellation: a follower that is cancelled just stops waiting; the call goes on for
    the others. If the leader is cancelled (its client went away), its ``fn`` is
    cancelled with it, and the followers, which were not cancelled, do not inherit the
    cancellation: the first of them to wake becomes the new leader and runs ``fn``
    again, the others follow it. The same happens if ``fn`` raises a `BaseException`
    that is not an `Exception`.
    """

    def __init__(self) -> None:
        self._flights: dict[str, asyncio.Future[T]] = {}

    @property
    def in_flight(self) -> int:
        """How many keys have a call running now."""
        return len(self._flights)

    async def do(self, key: str, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn`` unless a call for ``key`` is in flight; either way return its result.

        Raises:
            Exception: whatever the shared call of ``fn`` raised.
        """
        while True:
            flight = self._flights.get(key)
            if flight is None:
                return await self._lead(key, fn)
            try:
                # shield: a follower's own cancellation must not cancel the shared future.
                return await asyncio.shield(flight)
            except _LeaderGone:
                continue

    async def _lead(self, key: str, fn: Callable[[], Awaitable[T]]) -> T:
        flight: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._flights[key] = flight
        try:
            result = await fn()
        except Exception as exc:
            _settle(flight, exc)
            raise
        except BaseException:
            _settle(flight, _LeaderGone())
            raise
        else:
            flight.set_result(result)
            return result
        finally:
            # Runs before any follower wakes up, so the first to wake finds the key free.
            if self._flights.get(key) is flight:
                del self._flights[key]


def _settle(flight: asyncio.Future[T], exc: BaseException) -> None:
    flight.set_exception(exc)
    # Mark it retrieved: with no followers nobody awaits it, and asyncio would log
    # "Future exception was never retrieved" when it is collected.
    flight.exception()
