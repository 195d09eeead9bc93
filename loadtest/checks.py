"""Pass/fail checks of one run, from its measurements and `loadtest/thresholds.toml`.

Every check has a target, the measured value and a verdict. *Gating* checks decide the
run's verdict (and the exit status of ``python -m loadtest``). In a smoke run only the
behavioural checks gate (Alice alive, nothing acknowledged and lost, a chaos drill
recovered at all, a drill in force, the fault took effect); latency, error, arrival and
memory checks are still computed and shown, marked advisory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from loadtest.analysis import MemoryGrowth, Recovery, WindowStats
from loadtest.durability import DurabilityResult
from loadtest.faults import FaultEvent
from loadtest.plan import Plan
from loadtest.thresholds import Thresholds

__all__ = ["Check", "Verdict", "chaos_checks", "common_checks", "ramp_checks", "soak_checks"]

Verdict = Literal["pass", "fail", "info"]

MEANINGS = {
    "alive": "The alice serve process was still running when the load ended: no crash.",
    "lost": "Every request Alice acknowledged (HTTP 200 with ids, or a stream's done event) "
    "has its question and its complete answer in the database, looked up directly.",
    "answered": "At least one request was acknowledged, so the durability check had "
    "something to check.",
    "arrivals": "The load generator kept its schedule: arrivals sent more than "
    "late_after_s late, and arrivals never finished, show that the target rate was not "
    "offered; latency and error numbers then understate the load.",
    "latency": "Client-side latency (request sent to the last byte) of successful answers "
    "due in the window; the target applies at and below the sized rate.",
    "errors": "Share of requests due in the window that got no model answer: refusals "
    "(429/503), errors, offline answers, broken streams, no response.",
    "server-faults": "Overload step: share of requests that failed on the server's side "
    "(5xx other than a 503 refusal, a stream that ended in an error, no HTTP response). "
    "Above the sized rate Alice should refuse cleanly, not fail.",
    "brownout-mode": "During the brownout drill responses carry X-Guardian-Mode: brownout.",
    "brownout-latency": "p95 of successful answers due in the drill window after its "
    "settle period: the brownout (small tier, capped max_tokens) must bring latency down.",
    "memory": "RSS of Alice's process tree (server + model worker) after the warm-up: the "
    "least-squares slope and the growth between the first and last minute. A leak shows "
    "as steady growth.",
    "recovered": "After the fault, a successful answer was followed by a window_s window "
    "in which at least success_ratio of the requests sent were healthy: answered by a "
    "model, or (overload_refusals_are_healthy) refused with 429 overloaded.",
    "recovery-time": "Seconds from the fault to the first success of that healthy window.",
    "effect": "The fault took effect: a new model worker process appeared after it.",
    "outage": "Requests the outage cost (in flight at the fault or sent before recovery, "
    "without a successful answer), by outcome, and acknowledged-and-lost among them.",
}


@dataclass(frozen=True, slots=True)
class Check:
    """One verdict.

    Attributes:
        name: stable identifier (``step-3-6rps-p95``).
        kind: which entry of `MEANINGS` explains it.
        target: the target, in words.
        measured: the measurement, in words.
        verdict: pass, fail, or info (reported, not judged).
        gating: decides the run's verdict.
        value: the measured number, if one.
        limit: the target number, if one.
    """

    name: str
    kind: str
    target: str
    measured: str
    verdict: Verdict
    gating: bool
    value: float | None = None
    limit: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """For report.json (with the meaning spelt out)."""
        return {**asdict(self), "meaning": MEANINGS[self.kind]}


def _at_most(
    name: str,
    kind: str,
    value: float | None,
    limit: float,
    *,
    unit: str,
    gating: bool,
    scale: float = 1.0,
) -> Check:
    """``value <= limit``; no value (nothing to measure) fails."""
    target = f"<= {_fmt(limit * scale)} {unit}".rstrip()
    if value is None:
        return Check(name, kind, target, "no data", "fail", gating, None, limit)
    verdict: Verdict = "pass" if value <= limit else "fail"
    measured = f"{_fmt(value * scale)} {unit}".rstrip()
    return Check(name, kind, target, measured, verdict, gating, value, limit)


def _ratio(name: str, kind: str, value: float | None, limit: float, *, gating: bool) -> Check:
    return _at_most(name, kind, value, limit, unit="%", gating=gating, scale=100.0)


def _info(name: str, kind: str, measured: str, value: float | None = None) -> Check:
    return Check(name, kind, "-", measured, "info", False, value, None)


def common_checks(
    plan: Plan,
    thresholds: Thresholds,
    *,
    alive: bool,
    durability: DurabilityResult,
    overall: WindowStats,
    unfinished: int,
) -> list[Check]:
    """Checks every scenario has: alive, durability, arrivals."""
    lost = durability.requests_lost
    checks = [
        Check(
            "alice-alive",
            "alive",
            "running at the end",
            "running" if alive else "NOT running (crashed or killed)",
            "pass" if alive else "fail",
            True,
        ),
        Check(
            "acknowledged-lost",
            "lost",
            f"<= {thresholds.max_acknowledged_lost}",
            f"{lost} of {durability.acknowledged} acknowledged "
            f"({durability.ids_checked} ids looked up; {len(durability.missing)} missing, "
            f"{len(durability.mismatched)} with another role/status)",
            "pass" if lost <= thresholds.max_acknowledged_lost else "fail",
            True,
            float(lost),
            float(thresholds.max_acknowledged_lost),
        ),
        Check(
            "answered",
            "answered",
            ">= 1 acknowledged",
            f"{durability.acknowledged} of {overall.requests}",
            "pass" if durability.acknowledged > 0 else "fail",
            True,
            float(durability.acknowledged),
        ),
    ]
    late = _ratio(
        "arrivals-late", "arrivals", overall.late_ratio, thresholds.max_late_ratio, gating=False
    )
    checks.append(
        Check(
            late.name,
            late.kind,
            f"{late.target} sent > {thresholds.late_after_s:g} s late, 0 unfinished",
            f"{late.measured} late ({overall.late} of {overall.requests}), {unfinished} unfinished",
            "pass" if late.verdict == "pass" and unfinished == 0 else "fail",
            not plan.smoke,
            late.value,
            late.limit,
        )
    )
    return checks


def ramp_checks(plan: Plan, thresholds: Thresholds, stages: Sequence[WindowStats]) -> list[Check]:
    """Per ramp step: p95, p99 and errors at or below the sized rate, else server faults."""
    gating = not plan.smoke
    checks: list[Check] = []
    for number, (stats, stage) in enumerate(zip(stages, plan.stages, strict=True), start=1):
        prefix = f"step-{number}-{stage.rate_rps:g}rps"
        if stage.rate_rps <= thresholds.sized_rps:
            checks += [
                _at_most(
                    f"{prefix}-p95",
                    "latency",
                    stats.p95_s,
                    thresholds.p95_s,
                    unit="s",
                    gating=gating,
                ),
                _at_most(
                    f"{prefix}-p99",
                    "latency",
                    stats.p99_s,
                    thresholds.p99_s,
                    unit="s",
                    gating=gating,
                ),
                _ratio(
                    f"{prefix}-errors",
                    "errors",
                    stats.error_ratio,
                    thresholds.max_error_ratio,
                    gating=gating,
                ),
            ]
        else:
            checks += [
                _ratio(
                    f"{prefix}-server-faults",
                    "server-faults",
                    stats.server_fault_ratio,
                    thresholds.max_server_fault_ratio,
                    gating=gating,
                ),
                _info(f"{prefix}-p95", "latency", _seconds(stats.p95_s), stats.p95_s),
                _info(f"{prefix}-errors", "errors", _percent(stats.error_ratio), stats.error_ratio),
            ]
    return checks


def soak_checks(
    plan: Plan,
    thresholds: Thresholds,
    *,
    steady: WindowStats,
    brownout: WindowStats | None,
    memory: MemoryGrowth | None,
) -> list[Check]:
    """Soak: latency and errors outside the drill, the brownout drill, memory growth."""
    gating = not plan.smoke
    checks = [
        _at_most("soak-p95", "latency", steady.p95_s, thresholds.p95_s, unit="s", gating=gating),
        _at_most("soak-p99", "latency", steady.p99_s, thresholds.p99_s, unit="s", gating=gating),
        _ratio(
            "soak-errors", "errors", steady.error_ratio, thresholds.max_error_ratio, gating=gating
        ),
    ]
    if brownout is not None:
        share = brownout.mode_share("brownout")
        checks.append(
            Check(
                "brownout-in-force",
                "brownout-mode",
                f">= {thresholds.brownout_min_mode_share:.0%} of responses",
                _percent(share) + f" of {sum(brownout.modes.values())} responses",
                "pass"
                if share is not None and share >= thresholds.brownout_min_mode_share
                else "fail",
                True,
                share,
                thresholds.brownout_min_mode_share,
            )
        )
        checks.append(
            _at_most(
                "brownout-p95",
                "brownout-latency",
                brownout.p95_s,
                thresholds.brownout_p95_s,
                unit="s",
                gating=gating,
            )
        )
    checks += [
        _at_most(
            "memory-slope",
            "memory",
            memory.slope_mb_per_hour if memory else None,
            thresholds.max_slope_mb_per_hour,
            unit="MB/h",
            gating=gating,
        ),
        _at_most(
            "memory-growth",
            "memory",
            memory.growth_mb if memory else None,
            thresholds.max_growth_mb,
            unit="MB",
            gating=gating,
        ),
    ]
    return checks


def chaos_checks(
    plan: Plan,
    thresholds: Thresholds,
    *,
    events: Sequence[FaultEvent],
    recoveries: Sequence[Recovery],
    workers_seen: int,
) -> list[Check]:
    """Per fault: recovered at all, recovery time, what the outage cost."""
    checks: list[Check] = []
    for number, (event, rec) in enumerate(zip(events, recoveries, strict=True), start=1):
        limit = thresholds.max_recovery_s[event.kind]
        checks.append(
            Check(
                f"recovered-{number}",
                "recovered",
                f">= {thresholds.recovery_success_ratio:.0%} healthy over "
                f"{thresholds.recovery_window_s:g} s"
                + (" (429 counts)" if thresholds.recovery_tolerates_overload else ""),
                f"yes, {rec.recovery_s:.2f} s after the fault"
                if rec.recovery_s is not None
                else "no (not before the load ended)",
                "pass" if rec.recovered else "fail",
                True,
            )
        )
        checks.append(
            _at_most(
                f"recovery-time-{number}",
                "recovery-time",
                rec.recovery_s,
                limit,
                unit="s",
                gating=not plan.smoke,
            )
        )
        cost = ", ".join(f"{n} {outcome}" for outcome, n in sorted(rec.affected.items()))
        checks.append(
            _info(
                f"outage-{number}",
                "outage",
                f"{rec.affected_total} requests ({cost or 'none'}); {rec.lost} lost",
                float(rec.affected_total),
            )
        )
    if events and events[0].kind in ("killswitch", "upstream"):
        wanted = len(events) + 1
        checks.append(
            Check(
                "fault-took-effect",
                "effect",
                f">= {wanted} model worker processes seen",
                f"{workers_seen} seen",
                "pass" if workers_seen >= wanted else "fail",
                True,
                float(workers_seen),
                float(wanted),
            )
        )
    return checks


def _fmt(value: float) -> str:
    """Three significant digits, without exponents for large values."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _seconds(value: float | None) -> str:
    return "no data" if value is None else f"{_fmt(value)} s"


def _percent(value: float | None) -> str:
    return "no data" if value is None else f"{_fmt(value * 100)} %"
