"""The check registry: ``@check(...)`` turns a function of the context into a check.

A check is a function ``(ctx: AuditContext) -> Outcome`` plus its `CheckSpec`. Check
modules live in `readiness.checks` (one per category) and register on import;
`all_checks` imports them all and returns the checks in a stable order.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from readiness.model import CATEGORIES, CheckSpec, Effort, Outcome, Severity

if TYPE_CHECKING:
    from readiness.context import AuditContext

__all__ = ["CHECK_MODULES", "Check", "CheckFn", "all_checks", "check"]

CheckFn = Callable[["AuditContext"], Outcome]

#: The modules that define checks, imported by `all_checks`.
CHECK_MODULES = (
    "readiness.checks.llm",
    "readiness.checks.resilience",
    "readiness.checks.testing",
    "readiness.checks.observability",
    "readiness.checks.security",
    "readiness.checks.privacy",
    "readiness.checks.deployment",
    "readiness.checks.documentation",
    "readiness.checks.performance",
    "readiness.checks.live",
    "readiness.checks.analysed",
)


@dataclass(frozen=True, slots=True)
class Check:
    """A registered check."""

    spec: CheckSpec
    run: CheckFn


_REGISTRY: dict[str, Check] = {}


def check(
    *,
    id: str,
    category: str,
    title: str,
    severity: Severity,
    effort: Effort,
    impact: str,
    recommendation: str,
    weight: float = 1.0,
    depends_on: tuple[str, ...] = (),
    live: bool = False,
) -> Callable[[CheckFn], CheckFn]:
    """Register the decorated function as the check ``id``."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}")

    def register(fn: CheckFn) -> CheckFn:
        if id in _REGISTRY and _REGISTRY[id].run is not fn:
            raise ValueError(f"check {id!r} registered twice")
        spec = CheckSpec(
            id=id,
            category=category,
            title=title,
            weight=weight,
            severity=severity,
            effort=effort,
            impact=impact,
            recommendation=recommendation,
            depends_on=depends_on,
            live=live,
        )
        _REGISTRY[id] = Check(spec, fn)
        return fn

    return register


def all_checks() -> list[Check]:
    """Every check, ordered by category (report order), then id."""
    for name in CHECK_MODULES:
        importlib.import_module(name)
    order = {c: i for i, c in enumerate(CATEGORIES)}
    checks = sorted(_REGISTRY.values(), key=lambda c: (order[c.spec.category], c.spec.id))
    known = {c.spec.id for c in checks}
    for item in checks:
        missing = [d for d in item.spec.depends_on if d not in known]
        if missing:
            raise ValueError(f"check {item.spec.id!r} depends on unknown checks {missing}")
    return checks
