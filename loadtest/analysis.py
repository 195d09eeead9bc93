"""Numbers from the request records and resource samples (pure: data in, data out).

Requests are grouped by their *due* time (when the schedule said to send them), so a
window holds what was offered in it, whatever happened to the answers later. Latency
percentiles are over successful answers only (``ok``); the error ratio is everything
else (refusals, errors, offline answers, broken streams, no response).
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from loadtest.records import RequestRecord

__all__ = [
    "MemoryGrowth",
    "Recovery",
    "WindowStats",
    "between",
    "memory_growth",
    "percentile",
    "recovery",
    "summarize",
    "timeline",
]

_MB = 1024 * 1024


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (linear interpolation), None without values."""
    if not values:
        return None
    return float(np.percentile(np.asarray(values, dtype=float), q))


@dataclass(frozen=True, slots=True)
class WindowStats:
    """What happened to the requests due in one stretch of time.

    Attributes:
        start_s: window start, seconds after the first arrival.
        end_s: window end.
        requests: requests due in it.
        ok: successful answers (a model's answer, stored).
        acknowledged: ok plus offline answers (stored, ids returned).
        refused: 429/503 refusals.
        server_faults: 5xx other than refusals, broken streams, no response.
        late: sent later than ``late_after_s`` after their due time.
        p50_s: latency percentiles of the successful answers (None without any).
        outcomes: requests per outcome.
        modes: responses per ``X-Guardian-Mode``.
    """

    start_s: float
    end_s: float
    requests: int
    ok: int
    acknowledged: int
    refused: int
    server_faults: int
    late: int
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    outcomes: dict[str, int] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)

    @property
    def error_ratio(self) -> float | None:
        """Share of requests without a successful answer."""
        return (self.requests - self.ok) / self.requests if self.requests else None

    @property
    def server_fault_ratio(self) -> float | None:
        """Share of requests that failed on the server's side."""
        return self.server_faults / self.requests if self.requests else None

    @property
    def late_ratio(self) -> float | None:
        """Share of arrivals sent late."""
        return self.late / self.requests if self.requests else None

    @property
    def offered_rps(self) -> float:
        """Requests due per second."""
        span = self.end_s - self.start_s
        return self.requests / span if span > 0 else 0.0

    def mode_share(self, mode: str) -> float | None:
        """Share of responses that carried ``X-Guardian-Mode: mode``."""
        total = sum(self.modes.values())
        return self.modes.get(mode, 0) / total if total else None


def between(
    records: Sequence[RequestRecord], t0: float, start_s: float, end_s: float
) -> list[RequestRecord]:
    """The records due in ``[start_s, end_s)`` seconds after ``t0``."""
    return [r for r in records if start_s <= r.due - t0 < end_s]


def summarize(
    records: Sequence[RequestRecord], start_s: float, end_s: float, *, late_after_s: float
) -> WindowStats:
    """Counts and latency percentiles of ``records`` (already selected for the window)."""
    latencies = [r.latency_s for r in records if r.success]
    return WindowStats(
        start_s=start_s,
        end_s=end_s,
        requests=len(records),
        ok=len(latencies),
        acknowledged=sum(1 for r in records if r.acknowledged),
        refused=sum(1 for r in records if r.refused),
        server_faults=sum(1 for r in records if r.server_fault),
        late=sum(1 for r in records if r.late_s > late_after_s),
        p50_s=percentile(latencies, 50),
        p95_s=percentile(latencies, 95),
        p99_s=percentile(latencies, 99),
        outcomes=dict(Counter(r.outcome for r in records)),
        modes=dict(Counter(r.guardian_mode for r in records if r.guardian_mode)),
    )


def timeline(
    records: Sequence[RequestRecord],
    t0: float,
    *,
    window_s: float,
    end_s: float,
    late_after_s: float,
) -> list[WindowStats]:
    """Consecutive windows of ``window_s`` from 0 to ``end_s`` (for the plots)."""
    count = max(1, math.ceil(end_s / window_s))
    buckets: list[list[RequestRecord]] = [[] for _ in range(count)]
    for record in records:
        index = int((record.due - t0) // window_s)
        if 0 <= index < count:
            buckets[index].append(record)
    return [
        summarize(bucket, i * window_s, min(end_s, (i + 1) * window_s), late_after_s=late_after_s)
        for i, bucket in enumerate(buckets)
    ]


@dataclass(frozen=True, slots=True)
class Recovery:
    """How Alice came back from one fault.

    Attributes:
        fault_at_s: when the fault took effect, seconds after the first arrival.
        recovered: a healthy window followed the fault before the load ended.
        recovery_s: fault to the first success that began the healthy window.
        affected: requests in flight or sent between the fault and recovery (or the
            end of the load) that did not succeed, per outcome.
        lost: acknowledged-and-lost requests among those in flight in that time.
    """

    fault_at_s: float
    recovered: bool
    recovery_s: float | None
    affected: dict[str, int]
    lost: int

    @property
    def affected_total(self) -> int:
        """All requests the outage cost."""
        return sum(self.affected.values())


def recovery(
    records: Sequence[RequestRecord],
    t0: float,
    fault_at: float,
    *,
    window_s: float,
    success_ratio: float,
    horizon: float,
    lost_tickets: frozenset[int] = frozenset(),
    tolerate_overload: bool = False,
) -> Recovery:
    """Recovery from a fault at ``fault_at`` (epoch seconds).

    Recovered at the first successful answer that ended after the fault, such that of
    the requests *sent* in the ``window_s`` seconds after it ended at least
    ``success_ratio`` were healthy (at least one was sent): a successful answer, or,
    with ``tolerate_overload``, a 429 refusal. Windows reaching past ``horizon`` (the
    last arrival) cannot be judged.
    """

    def healthy(record: RequestRecord) -> bool:
        overload = record.outcome == "refused" and record.status == 429
        return record.success or (tolerate_overload and overload)

    by_sent = sorted(records, key=lambda r: r.sent)
    sent_times = [r.sent for r in by_sent]
    recovered_at: float | None = None
    for candidate in sorted((r for r in records if r.success and r.done >= fault_at), key=_done):
        if candidate.done + window_s > horizon:
            break
        lo = bisect.bisect_left(sent_times, candidate.done)
        hi = bisect.bisect_left(sent_times, candidate.done + window_s)
        following = by_sent[lo:hi]
        if following and sum(map(healthy, following)) / len(following) >= success_ratio:
            recovered_at = candidate.done
            break
    until = recovered_at if recovered_at is not None else horizon
    overlapping = [r for r in records if r.done >= fault_at and r.sent <= until]
    affected = Counter(r.outcome for r in overlapping if not r.success)
    lost = sum(1 for r in overlapping if r.ticket in lost_tickets)
    return Recovery(
        fault_at_s=fault_at - t0,
        recovered=recovered_at is not None,
        recovery_s=recovered_at - fault_at if recovered_at is not None else None,
        affected=dict(affected),
        lost=lost,
    )


def _done(record: RequestRecord) -> float:
    return record.done


@dataclass(frozen=True, slots=True)
class MemoryGrowth:
    """Resident memory after the warm-up.

    Attributes:
        samples: readings used.
        span_s: time they cover.
        slope_mb_per_hour: least-squares slope.
        growth_mb: median of the last ``edge_s`` minus median of the first ``edge_s``.
        edge_s: length of the two stretches compared.
        start_mb: median of the first stretch.
        end_mb: median of the last stretch.
        peak_mb: highest reading of the whole run.
    """

    samples: int
    span_s: float
    slope_mb_per_hour: float
    growth_mb: float
    edge_s: float
    start_mb: float
    end_mb: float
    peak_mb: float


def memory_growth(
    times_s: Sequence[float], rss_bytes: Sequence[int], *, warmup_s: float, end_s: float
) -> MemoryGrowth | None:
    """Growth of RSS between ``warmup_s`` and ``end_s`` (None with fewer than 3 readings).

    The compared stretches are a minute each, or a quarter of the span when it is
    shorter than four minutes.
    """
    t = np.asarray(times_s, dtype=float)
    mb = np.asarray(rss_bytes, dtype=float) / _MB
    keep = (t >= warmup_s) & (t <= end_s) & (mb > 0)
    t_kept, mb_kept = t[keep], mb[keep]
    if t_kept.size < 3:
        return None
    span = float(t_kept[-1] - t_kept[0])
    if span <= 0:
        return None
    slope_per_s = float(np.polyfit(t_kept, mb_kept, 1)[0])
    edge = min(60.0, span / 4)
    first = mb_kept[t_kept <= t_kept[0] + edge]
    last = mb_kept[t_kept >= t_kept[-1] - edge]
    start_mb, end_mb = float(np.median(first)), float(np.median(last))
    return MemoryGrowth(
        samples=int(t_kept.size),
        span_s=span,
        slope_mb_per_hour=slope_per_s * 3600,
        growth_mb=end_mb - start_mb,
        edge_s=edge,
        start_mb=start_mb,
        end_mb=end_mb,
        peak_mb=float(mb[mb > 0].max()) if (mb > 0).any() else 0.0,
    )
