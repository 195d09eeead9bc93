"""What every report format shares: effective severities, counts, top risks, redaction.

The formats are pure functions of an `AuditReport`; these helpers keep them agreeing on
what a result's severity is, which gaps are the top risks and how free text is cleaned
before it is written anywhere.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from readiness.model import (
    CATEGORIES,
    EFFORT_HOURS,
    SEVERITY_ORDER,
    AuditReport,
    CheckResult,
    Effort,
    Gap,
    Severity,
)

__all__ = [
    "BAND_TITLES",
    "MILDER",
    "TOOL_NAME",
    "check_counts",
    "effort_hours",
    "gap_counts",
    "redact",
    "result_severity",
    "sentence",
    "sorted_notes",
    "top_risks",
    "total_hours",
]

TOOL_NAME = "alice-readiness"

BAND_TITLES: dict[str, str] = {
    "production-ready": "production-ready",
    "nearly-ready": "nearly ready",
    "significant-work": "significant work needed",
}

#: A warning is one step milder than the failure of the same check.
MILDER: dict[Severity, Severity] = {
    "critical": "high",
    "high": "medium",
    "medium": "low",
    "low": "low",
}

# Well-known credential formats. Checks mask what they find already; this is the second
# line of defence, so that no report format can ever carry a live key verbatim even if a
# check quotes one by mistake.
_SECRET_PATTERNS = re.compile(
    r"AKIA[0-9A-Z]{16}"
    r"|sk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}"
    r"|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|github_pat_[A-Za-z0-9_]{30,}"
    r"|xox[abprs]-[A-Za-z0-9\-]{10,}"
    r"|AIza[0-9A-Za-z_\-]{35}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
)


def redact(text: str) -> str:
    """``text`` with well-known credential formats masked (first 4 characters kept)."""
    return _SECRET_PATTERNS.sub(lambda m: m.group(0)[:4] + "****", text)


def sentence(text: str) -> str:
    """One line of prose ending like a sentence (summaries often lack the period)."""
    text = " ".join(text.split())
    return text if not text or text[-1] in ".!?:" else f"{text}."


def result_severity(result: CheckResult) -> Severity:
    """The severity of a result's finding, as the gap engine sees it.

    A failure carries the outcome's severity (or the check's); a warning without an
    explicit severity is one step milder.
    """
    severity = result.outcome.severity or result.spec.severity
    if result.status == "warn" and result.outcome.severity is None:
        return MILDER[severity]
    return severity


def check_counts(report: AuditReport) -> dict[str, int]:
    """Checks per status (suppressed ones counted apart), plus ``total``."""
    counts = Counter(r.status for r in report.results if r.suppressed is None)
    return {
        "total": len(report.results),
        "pass": counts["pass"],
        "warn": counts["warn"],
        "fail": counts["fail"],
        "unknown": counts["unknown"],
        "suppressed": sum(r.suppressed is not None for r in report.results),
    }


def gap_counts(report: AuditReport) -> dict[str, int]:
    """Gaps per severity, plus ``total``."""
    counts = Counter(g.severity for g in report.gaps)
    return {"total": len(report.gaps), **{s: counts[s] for s in SEVERITY_ORDER}}


def top_risks(report: AuditReport, limit: int = 3) -> list[Gap]:
    """The ``limit`` gaps that matter most: most severe, then lowest score, then category."""
    scores = {r.id: r.score for r in report.results}
    order = {c: i for i, c in enumerate(CATEGORIES)}
    ranked = sorted(
        report.gaps,
        key=lambda g: (
            SEVERITY_ORDER[g.severity],
            scores.get(g.id, 0),
            order.get(g.category, len(order)),
            g.id,
        ),
    )
    return ranked[:limit]


def effort_hours(effort: Effort) -> str:
    """``"4-16 h"`` for an effort size."""
    low, high = EFFORT_HOURS[effort]
    return f"{low}-{high} h"


def total_hours(gaps: Iterable[Gap]) -> tuple[int, int]:
    """The roadmap's total effort range in hours."""
    low = high = 0
    for gap in gaps:
        lo, hi = EFFORT_HOURS[gap.effort]
        low, high = low + lo, high + hi
    return low, high


def sorted_notes(report: AuditReport) -> list[str]:
    """The report's notes in a stable order (checks add them from threads)."""
    return sorted(set(report.notes))
