"""The JSON report: a stable, documented schema (``schema_version`` 1.0).

The schema is `readiness/report/schema.json` (JSON Schema draft 2020-12) and the fields
are described in ``docs/readiness-json.md``. Within a major version, fields are only
ever added; a removed or renamed field bumps the major version. Lists keep the report's
order (categories in report order, checks by category then id, gaps most severe first,
the roadmap in the order to do the work), notes are sorted, so two audits of the same
tree differ only in ``generated_at`` and ``duration_s``.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, cast

from readiness.model import (
    EFFORT_HOURS,
    AuditReport,
    CategoryScore,
    CheckResult,
    Effort,
    Evidence,
    Gap,
    RoadmapStep,
)
from readiness.report.common import (
    TOOL_NAME,
    check_counts,
    gap_counts,
    redact,
    result_severity,
    sorted_notes,
)

__all__ = ["SCHEMA_VERSION", "load_schema", "render_json", "report_dict"]

SCHEMA_VERSION = "1.0"


def _evidence(item: Evidence) -> dict[str, Any]:
    return {
        "path": item.path,
        "line": item.line,
        "location": item.location,
        "strength": item.strength,
        "note": redact(item.note),
    }


def _hours(effort: Effort) -> dict[str, int]:
    low, high = EFFORT_HOURS[effort]
    return {"min": low, "max": high}


def _category(cat: CategoryScore) -> dict[str, Any]:
    return {
        "id": cat.id,
        "title": cat.title,
        "weight": cat.weight,
        "score": cat.score,
        "pass": cat.passed,
        "warn": cat.warned,
        "fail": cat.failed,
        "unknown": cat.unknown,
    }


def _check(result: CheckResult) -> dict[str, Any]:
    spec, outcome = result.spec, result.outcome
    return {
        "id": spec.id,
        "category": spec.category,
        "title": spec.title,
        "status": outcome.status,
        "score": None if outcome.status == "unknown" else outcome.score,
        "severity": result_severity(result),
        "default_severity": spec.severity,
        "effort": spec.effort,
        "weight": spec.weight,
        "live": spec.live,
        "summary": redact(outcome.summary),
        "impact": spec.impact,
        "recommendation": spec.recommendation,
        "depends_on": list(spec.depends_on),
        "strengths": [redact(s) for s in outcome.strengths],
        "gaps": [redact(s) for s in outcome.gaps],
        "notes": [redact(s) for s in outcome.notes],
        "evidence": [_evidence(e) for e in outcome.evidence],
        "suppressed": result.suppressed is not None,
        "suppression_reason": result.suppressed,
    }


def _gap(gap: Gap) -> dict[str, Any]:
    return {
        "id": gap.id,
        "category": gap.category,
        "title": gap.title,
        "severity": gap.severity,
        "summary": redact(gap.summary),
        "impact": gap.impact,
        "recommendation": gap.recommendation,
        "effort": gap.effort,
        "effort_hours": _hours(gap.effort),
        "depends_on": list(gap.depends_on),
        "evidence": [_evidence(e) for e in gap.evidence],
    }


def _step(step: RoadmapStep) -> dict[str, Any]:
    return {
        "order": step.order,
        "id": step.gap.id,
        "title": step.gap.title,
        "phase": step.phase,
        "priority": step.priority,
        "severity": step.gap.severity,
        "effort": step.gap.effort,
        "effort_hours": _hours(step.gap.effort),
        "depends_on": list(step.gap.depends_on),
    }


def report_dict(report: AuditReport) -> dict[str, Any]:
    """The report as plain JSON-ready data (the documented schema)."""
    weakest = report.weakest
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": report.tool_version},
        "target": report.target,
        "url": report.url,
        "generated_at": report.generated_at,
        "duration_s": report.duration_s,
        "summary": {
            "overall": report.overall,
            "band": report.band,
            "weakest": None
            if weakest is None
            else {"id": weakest.id, "title": weakest.title, "score": weakest.score},
            "checks": check_counts(report),
            "gaps": gap_counts(report),
        },
        "categories": [_category(c) for c in report.categories],
        "checks": [_check(r) for r in report.results],
        "gaps": [_gap(g) for g in report.gaps],
        "roadmap": [_step(s) for s in report.roadmap],
        "analysers": dict(sorted(report.analysers.items())),
        "notes": [redact(n) for n in sorted_notes(report)],
        "stats": dict(sorted(report.stats.items())),
    }


def render_json(report: AuditReport) -> str:
    """The report as indented JSON (ends with a newline)."""
    return json.dumps(report_dict(report), indent=2, ensure_ascii=False) + "\n"


def load_schema() -> dict[str, Any]:
    """The report's JSON Schema (draft 2020-12), as shipped with the package."""
    text = resources.files("readiness.report").joinpath("schema.json").read_text("utf-8")
    return cast(dict[str, Any], json.loads(text))
