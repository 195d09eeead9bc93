"""The gap engine and the roadmap.

Every failed or warned check (not suppressed) becomes a `Gap`: a failure carries the
check's severity (or the one its outcome names, e.g. a real leaked key is critical), a
warning one step milder. The roadmap orders gaps so that dependencies come first and,
among the gaps that are free to start, the most urgent first. Urgency is inherited: a
medium gap that a critical one depends on is scheduled as critical work (its
``priority``), since the critical fix cannot land without it.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from readiness.model import (
    EFFORT_HOURS,
    SEVERITY_ORDER,
    CheckResult,
    Gap,
    RoadmapStep,
    Severity,
)

__all__ = ["PHASES", "find_gaps", "roadmap"]

_MILDER: dict[Severity, Severity] = {
    "critical": "high",
    "high": "medium",
    "medium": "low",
    "low": "low",
}

PHASES: dict[Severity, str] = {
    "critical": "1. Blockers: fix before any production traffic",
    "high": "2. Before go-live",
    "medium": "3. Hardening after launch",
    "low": "4. Polish",
}


def find_gaps(results: Sequence[CheckResult]) -> tuple[Gap, ...]:
    """A gap per failed or warned check, most severe first."""
    gaps = []
    for result in results:
        if result.suppressed is not None or result.status not in ("fail", "warn"):
            continue
        spec, outcome = result.spec, result.outcome
        severity = outcome.severity or spec.severity
        if result.status == "warn" and outcome.severity is None:
            severity = _MILDER[severity]
        gaps.append(
            Gap(
                id=spec.id,
                category=spec.category,
                title=spec.title,
                severity=severity,
                impact=spec.impact,
                recommendation=spec.recommendation,
                effort=spec.effort,
                depends_on=spec.depends_on,
                summary=outcome.summary,
                evidence=outcome.evidence,
            )
        )
    gaps.sort(key=lambda g: (SEVERITY_ORDER[g.severity], g.category, g.id))
    return tuple(gaps)


def roadmap(gaps: Sequence[Gap]) -> tuple[RoadmapStep, ...]:
    """Gaps in the order to close them.

    Dependencies first, then by inherited urgency, own severity, smaller effort, id.
    """
    by_id = {g.id: g for g in gaps}
    # Dependencies that are gaps too; a dependency that passes is already satisfied.
    needs = {g.id: [d for d in g.depends_on if d in by_id] for g in gaps}
    dependants: dict[str, list[str]] = {g.id: [] for g in gaps}
    for gap_id, deps in needs.items():
        for dep in deps:
            dependants[dep].append(gap_id)

    priority: dict[str, Severity] = {}

    def inherit(gap_id: str, seen: frozenset[str]) -> Severity:
        if gap_id in priority:
            return priority[gap_id]
        best = by_id[gap_id].severity
        for child in dependants[gap_id]:
            if child in seen:
                continue  # a cycle: ignore the back edge
            child_priority = inherit(child, seen | {gap_id})
            if SEVERITY_ORDER[child_priority] < SEVERITY_ORDER[best]:
                best = child_priority
        priority[gap_id] = best
        return best

    for gap in gaps:
        inherit(gap.id, frozenset())

    def key(gap_id: str) -> tuple[int, int, int, str]:
        gap = by_id[gap_id]
        return (
            SEVERITY_ORDER[priority[gap_id]],
            SEVERITY_ORDER[gap.severity],
            EFFORT_HOURS[gap.effort][0],
            gap_id,
        )

    waiting = {gap_id: len(deps) for gap_id, deps in needs.items()}
    ready = [key(g) for g, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        gap_id = heapq.heappop(ready)[3]
        order.append(gap_id)
        for child in dependants[gap_id]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, key(child))
    # Gaps caught in a dependency cycle: appended by priority, so none is lost.
    order.extend(sorted((g for g in by_id if g not in set(order)), key=key))
    return tuple(
        RoadmapStep(i + 1, by_id[g], priority[g], PHASES[priority[g]]) for i, g in enumerate(order)
    )
