"""Open-loop arrivals: when each request is due, independent of how fast Alice answers.

Arrivals are a Poisson process (exponential gaps, as independent users produce) whose
rate is constant within a stage. The exponential distribution has no memory, so at a
stage boundary the draw simply restarts with the next stage's rate: the result is an
exact piecewise-constant Poisson process. Seeded, so a run can be repeated.

`Dispenser` hands the arrivals out as tickets to whichever simulated user is free; a
ticket taken after its time is sent at once and recorded as late.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

__all__ = ["Dispenser", "arrival_offsets"]


def arrival_offsets(stages: Sequence[tuple[float, float]], *, seed: int) -> Iterator[float]:
    """Arrival times, seconds from the start, for ``(rate_rps, duration_s)`` stages.

    Args:
        stages: consecutive stages; a rate of 0 is a pause.
        seed: seeds the exponential gaps.

    Yields:
        Increasing offsets, all before the end of the last stage.
    """
    rng = random.Random(seed)
    start = 0.0
    for rate, duration in stages:
        end = start + duration
        t = start
        if rate > 0:
            while True:
                t += rng.expovariate(rate)
                if t >= end:
                    break
                yield t
        start = end


class Dispenser:
    """Arrival tickets for a pool of users (cooperative greenlets: no locking needed).

    Args:
        offsets: arrival offsets from `arrival_offsets`.
    """

    def __init__(self, offsets: Iterator[float]) -> None:
        self._offsets = offsets
        self._t0: float | None = None
        self.issued = 0
        self.outstanding = 0
        self.exhausted = False

    @property
    def t0(self) -> float | None:
        """Wall-clock time (epoch seconds) of offset 0, once started."""
        return self._t0

    def start(self, t0: float) -> None:
        """Fix the wall-clock time of offset 0."""
        self._t0 = t0

    def take(self) -> tuple[int, float] | None:
        """The next ticket ``(index, due_epoch_s)``, or None when there are no more.

        The caller must call `done` once it has finished with a ticket it got.
        """
        if self._t0 is None or self.exhausted:
            return None
        offset = next(self._offsets, None)
        if offset is None:
            self.exhausted = True
            return None
        index = self.issued
        self.issued += 1
        self.outstanding += 1
        return index, self._t0 + offset

    def done(self) -> None:
        """A ticket's request has finished (or was given up)."""
        self.outstanding -= 1

    def finished(self) -> bool:
        """Every arrival has been handed out and finished."""
        return self.exhausted and self.outstanding == 0
