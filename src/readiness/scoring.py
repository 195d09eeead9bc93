"""Scores: per category, overall (weighted), the band, and the weakest category.

A check's score counts with its weight inside its category; ``unknown`` (inconclusive)
and suppressed checks do not count at all, so a repository is never marked down for
what the auditor could not tell. A category with no conclusive check has no score and
drops out of the overall average (its weight is not spread as zeros).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from readiness.model import CATEGORIES, Band, CategoryScore, CheckResult

__all__ = ["DEFAULT_WEIGHTS", "band", "category_scores", "overall_score", "weakest"]

#: Category weights (relative; they need not sum to 100). Override with ``--weights``.
DEFAULT_WEIGHTS: dict[str, float] = {
    "llm": 15,
    "resilience": 15,
    "testing": 15,
    "observability": 12,
    "security": 15,
    "deployment": 10,
    "documentation": 8,
    "performance": 10,
}


def category_scores(
    results: Sequence[CheckResult], weights: Mapping[str, float]
) -> tuple[CategoryScore, ...]:
    """Every category's score, in report order."""
    out = []
    for category, title in CATEGORIES.items():
        mine = [r for r in results if r.spec.category == category]
        counted = [r for r in mine if r.suppressed is None and r.status != "unknown"]
        total = sum(r.spec.weight for r in counted)
        score = (
            round(sum(r.spec.weight * r.score for r in counted) / total, 1) if total > 0 else None
        )
        out.append(
            CategoryScore(
                id=category,
                title=title,
                weight=float(weights.get(category, 0.0)),
                score=score,
                passed=sum(r.status == "pass" for r in mine if r.suppressed is None),
                warned=sum(r.status == "warn" for r in mine if r.suppressed is None),
                failed=sum(r.status == "fail" for r in mine if r.suppressed is None),
                unknown=sum(r.status == "unknown" for r in mine if r.suppressed is None),
            )
        )
    return tuple(out)


def overall_score(categories: Sequence[CategoryScore]) -> float | None:
    """Weighted mean of the categories that have a score."""
    scored = [c for c in categories if c.score is not None and c.weight > 0]
    total = sum(c.weight for c in scored)
    if total <= 0:
        return None
    return round(sum(c.weight * (c.score or 0.0) for c in scored) / total, 1)


def band(score: float | None) -> Band | None:
    """>= 80 production-ready, 60-80 nearly ready, < 60 significant work."""
    if score is None:
        return None
    if score >= 80:
        return "production-ready"
    if score >= 60:
        return "nearly-ready"
    return "significant-work"


def weakest(categories: Sequence[CategoryScore]) -> CategoryScore | None:
    """The lowest-scoring weighted category (the gate)."""
    scored = [c for c in categories if c.score is not None and c.weight > 0]
    return min(scored, key=lambda c: (c.score, c.id)) if scored else None
