"""Windows, recovery and memory growth, on records and samples made here."""

from __future__ import annotations

import numpy as np
import pytest

from loadtest.analysis import between, memory_growth, recovery, summarize, timeline
from loadtest.records import RequestRecord

T0 = 1_000_000.0


def _record(
    ticket: int, sent_s: float, latency_s: float, outcome: str = "ok", **kw: object
) -> RequestRecord:
    status = {"ok": 200, "offline": 200, "refused": 429, "error": 500}.get(outcome, 0)
    return RequestRecord(
        ticket=ticket,
        due=T0 + sent_s,
        sent=T0 + sent_s + kw.pop("late_s", 0.0),
        latency_s=latency_s,
        outcome=outcome,
        status=kw.pop("status", status),
        error_code=None,
        stream=False,
        follow_up=False,
        guardian_mode=kw.pop("mode", "ok"),
        **kw,
    )


def test_summarize_counts_outcomes_and_takes_percentiles_of_successes() -> None:
    latencies = [0.1 * i for i in range(1, 21)]
    records = [_record(i, i, lat) for i, lat in enumerate(latencies)]
    records += [
        _record(100, 1, 0.01, "refused"),
        _record(101, 2, 5.0, "error"),
        _record(102, 3, 9.0, "transport"),
        _record(103, 4, 0.5, "offline"),
        _record(104, 5, 0.2, late_s=3.0),
    ]
    ok = [*latencies, 0.2]

    stats = summarize(records, 0, 30, late_after_s=1.0)

    assert stats.requests == len(records)
    assert stats.ok == len(ok)
    assert stats.acknowledged == len(ok) + 1  # the offline answer is stored too
    assert stats.refused == 1
    assert stats.server_faults == 2  # the 500 and the missing response
    assert stats.late == 1
    assert stats.p95_s == pytest.approx(float(np.percentile(ok, 95)))
    assert stats.p99_s == pytest.approx(float(np.percentile(ok, 99)))
    assert stats.error_ratio == pytest.approx((len(records) - len(ok)) / len(records))
    assert stats.modes == {"ok": len(records)}


def test_windows_group_requests_by_due_time() -> None:
    records = [_record(i, i * 0.5, 0.1) for i in range(40)]  # due at 0 .. 19.5 s

    assert len(between(records, T0, 5, 10)) == 10
    windows = timeline(records, T0, window_s=5, end_s=20, late_after_s=1)
    assert [w.requests for w in windows] == [10, 10, 10, 10]
    assert [w.offered_rps for w in windows] == [2.0, 2.0, 2.0, 2.0]


def _outage(fail_from: float, fail_until: float, end: float) -> list[RequestRecord]:
    """One request every 0.5 s, each taking 0.2 s; those sent in the outage fail."""
    records = []
    for i in range(int(end / 0.5)):
        sent = i * 0.5
        failed = fail_from <= sent < fail_until
        records.append(_record(i, sent, 0.2, "error" if failed else "ok"))
    return records


def test_recovery_is_the_first_success_followed_by_a_healthy_window() -> None:
    fault, back = 30.0, 36.0
    records = _outage(fault, back, 100.0)
    first_success_after = min(r.done for r in records if r.sent - T0 >= back)

    result = recovery(records, T0, T0 + fault, window_s=5, success_ratio=0.99, horizon=T0 + 100)

    assert result.recovered
    assert result.recovery_s == pytest.approx(first_success_after - (T0 + fault))
    assert result.affected == {"error": sum(1 for r in records if r.outcome == "error")}
    assert result.lost == 0


def test_a_success_inside_the_outage_does_not_count_as_recovery() -> None:
    records = _outage(30.0, 50.0, 100.0)
    # One lucky success in the middle of the outage.
    records[80] = _record(80, 40.0, 0.2, "ok")

    result = recovery(records, T0, T0 + 30, window_s=5, success_ratio=0.99, horizon=T0 + 100)

    assert result.recovery_s == pytest.approx(50.0 + 0.2 - 30.0)


def test_no_recovery_before_the_load_ends() -> None:
    records = _outage(30.0, 100.0, 100.0)
    lost = frozenset({61, 62})

    result = recovery(
        records, T0, T0 + 30, window_s=5, success_ratio=0.99, horizon=T0 + 100, lost_tickets=lost
    )

    assert not result.recovered
    assert result.recovery_s is None
    assert result.lost == len(lost)


def test_memory_growth_finds_the_slope_after_the_warm_up() -> None:
    mb = 1024 * 1024
    times = [float(t) for t in range(0, 3600)]
    # A fast rise during the warm-up, then 30 MB/hour, plus a repeating wobble.
    rss = [int((500 + (200 if t < 120 else 0) + 30 * t / 3600 + (t % 7) * 0.1) * mb) for t in times]

    growth = memory_growth(times, rss, warmup_s=120, end_s=3600)

    assert growth is not None
    assert growth.slope_mb_per_hour == pytest.approx(30, abs=0.5)
    # Median of the last minute minus that of the first minute after the warm-up.
    assert growth.growth_mb == pytest.approx(30 * (3599 - 30 - (120 + 30)) / 3600, abs=0.5)
    assert growth.peak_mb == pytest.approx(max(rss) / mb)
    assert memory_growth(times[:2], rss[:2], warmup_s=0, end_s=10) is None


def test_overload_refusals_can_count_as_healthy_after_a_fault() -> None:
    records = _outage(30.0, 36.0, 100.0)
    # After the outage every third request is shed with 429 (the backlog drains).
    records = [
        _record(r.ticket, r.sent - T0, 0.002, "refused", status=429)
        if r.sent - T0 >= 36.0 and r.ticket % 3 == 0
        else r
        for r in records
    ]
    first_success_after = min(r.done for r in records if r.sent - T0 >= 36.0 and r.success)

    strict = recovery(records, T0, T0 + 30, window_s=5, success_ratio=0.99, horizon=T0 + 100)
    tolerant = recovery(
        records,
        T0,
        T0 + 30,
        window_s=5,
        success_ratio=0.99,
        horizon=T0 + 100,
        tolerate_overload=True,
    )

    assert not strict.recovered
    assert tolerant.recovered
    assert tolerant.recovery_s == pytest.approx(first_success_after - (T0 + 30))
