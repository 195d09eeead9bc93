"""The Markdown report: for people, in a terminal or on GitHub.

Sections, in order: executive summary (overall score and band, the weakest category
next to it, counts, top risks), category scores, findings per category (strengths, gaps,
recommendations), critical gaps, the roadmap, notes, and an appendix with every check and
its evidence. The output is a pure function of the report: the only line that changes
from run to run on the same repository is the one with ``generated_at``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePath

from readiness.model import (
    CATEGORIES,
    AuditReport,
    CheckResult,
    Evidence,
    Gap,
    RoadmapStep,
)
from readiness.report.common import (
    BAND_TITLES,
    TOOL_NAME,
    check_counts,
    effort_hours,
    gap_counts,
    redact,
    result_severity,
    sentence,
    sorted_notes,
    top_risks,
    total_hours,
)

__all__ = ["render_markdown"]

#: Evidence lines shown per gap in the findings and critical-gap sections.
_EVIDENCE_PER_GAP = 3
#: An analyser's run time in its status ("ran (3 findings, 1.2 s)"): left out of the
#: Markdown so that the committed report changes only when the findings do (JSON keeps it).
_DURATION = re.compile(r",? \d+(?:\.\d+)? ?s(?=\))")


def _inline(text: str) -> str:
    """One line of prose: secrets masked, whitespace collapsed."""
    return " ".join(redact(text).split())


def _sentence(text: str) -> str:
    """Prose that ends like a sentence, secrets masked."""
    return sentence(redact(text))


def _cell(text: str) -> str:
    """Text for a table cell (pipes escaped)."""
    return _inline(text).replace("|", "\\|")


def _code(text: str) -> str:
    """An inline code span that survives backticks inside ``text``."""
    text = _inline(text)
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _num(value: float | None) -> str:
    """A score or weight: ``72.4``, ``15`` (no trailing ``.0``), ``n/a`` for none."""
    if value is None:
        return "n/a"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _count(number: int, noun: str) -> str:
    """``1 file``, ``2 files``."""
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {noun}s"


def _evidence(item: Evidence) -> str:
    note = f": {_inline(item.note)}" if item.note else ""
    return f"{_code(item.location)} ({item.strength}){note}"


def _header(report: AuditReport) -> list[str]:
    name = PurePath(report.target).name or report.target
    stats = report.stats
    audited = (
        f"Audited {_code(name)}: {_count(stats.get('files', 0), 'file')}, "
        f"{_count(stats.get('python_lines', 0), 'Python line')} in "
        f"{_count(stats.get('python_files', 0), 'module')}, "
        f"{_count(stats.get('test_functions', 0), 'test function')}, "
        f"{_count(len(report.results), 'check')}"
    )
    if report.url:
        audited += f"; live deployment {_code(report.url)}"
    return [
        f"# Production readiness: {name}",
        "",
        f"Generated {report.generated_at} by {TOOL_NAME} {report.tool_version} "
        f"in {report.duration_s:.1f} s.",
        "",
        audited + ".",
    ]


def _summary(report: AuditReport) -> list[str]:
    checks, gaps = check_counts(report), gap_counts(report)
    if report.overall is None or report.band is None:
        overall = "no score (every check was inconclusive)"
    else:
        overall = f"**{_num(report.overall)} / 100**: {BAND_TITLES[report.band]}"
    weakest = report.weakest
    gate = (
        f"{weakest.title}: **{_num(weakest.score)} / 100**"
        if weakest is not None
        else "n/a (no category has a score)"
    )
    lines = [
        "## Executive summary",
        "",
        "| Measure | Value |",
        "| --- | --- |",
        f"| Overall score (weighted average) | {overall} |",
        f"| Weakest category (the gate) | {gate} |",
        f"| Checks | {checks['total']}: {checks['pass']} pass, {checks['warn']} warn, "
        f"{checks['fail']} fail, {checks['unknown']} unknown, "
        f"{checks['suppressed']} suppressed |",
        f"| Gaps | {gaps['total']}: {gaps['critical']} critical, {gaps['high']} high, "
        f"{gaps['medium']} medium, {gaps['low']} low |",
        f"| Critical gaps | {gaps['critical']} |",
        "",
        "Bands: 80 and above production-ready, 60-80 nearly ready, below 60 significant "
        "work. The weakest category is the gate: one weak area cannot hide behind strong "
        "ones (`--gate weakest --fail-under N`).",
        "",
        "### Top risks",
        "",
    ]
    risks = top_risks(report)
    if not risks:
        lines.append("None: no check failed or warned.")
    for number, gap in enumerate(risks, start=1):
        lines.append(
            f"{number}. **[{gap.severity}] {_inline(gap.title)}** ({_code(gap.id)}): "
            f"{_sentence(gap.summary)} Impact: {_sentence(gap.impact)}"
        )
    return lines


def _categories(report: AuditReport) -> list[str]:
    lines = [
        "## Category scores",
        "",
        "| Category | Score | Weight | Pass | Warn | Fail | Unknown |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    weakest = report.weakest.id if report.weakest is not None else None
    for cat in report.categories:
        title = f"{cat.title} (weakest)" if cat.id == weakest else cat.title
        lines.append(
            f"| {_cell(title)} | {_num(cat.score)} | {_num(cat.weight)} | {cat.passed} "
            f"| {cat.warned} | {cat.failed} | {cat.unknown} |"
        )
    overall = _num(report.overall)
    lines.append(f"| **Overall** | **{overall}** | | | | | |")
    return lines


def _bullets(title: str, items: Iterable[str]) -> list[str]:
    items = list(items)
    if not items:
        return []
    return [f"**{title}**", "", *(f"- {item}" for item in items), ""]


def _gap_line(gap: Gap, result: CheckResult | None) -> list[str]:
    lines = [
        f"- **[{gap.severity}]** {_inline(gap.title)} ({_code(gap.id)}): {_inline(gap.summary)}"
    ]
    if result is not None:
        lines.extend(f"  - {_inline(text)}" for text in result.outcome.gaps)
    lines.extend(f"  - {_evidence(e)}" for e in gap.evidence[:_EVIDENCE_PER_GAP])
    return lines


def _findings(report: AuditReport) -> list[str]:
    lines = ["## Findings by category", ""]
    by_id = {r.id: r for r in report.results}
    for cat in report.categories:
        mine = [r for r in report.results if r.spec.category == cat.id]
        if not mine:
            continue
        score = "no score" if cat.score is None else f"{_num(cat.score)} / 100"
        lines += [f"### {cat.title}: {score}", ""]
        start = len(lines)
        active = [r for r in mine if r.suppressed is None]
        strengths: list[str] = []
        for result in active:
            if result.outcome.strengths:
                strengths.extend(_inline(s) for s in result.outcome.strengths)
            elif result.status == "pass":
                strengths.append(f"{_inline(result.spec.title)}: {_inline(result.outcome.summary)}")
        lines += _bullets("Strengths", dict.fromkeys(strengths))
        gaps = [g for g in report.gaps if g.category == cat.id]
        if gaps:
            lines += ["**Gaps**", ""]
            for gap in gaps:
                lines += _gap_line(gap, by_id.get(gap.id))
            lines.append("")
        recommendations = dict.fromkeys(
            f"{_inline(g.title)}: {_inline(g.recommendation)}" for g in gaps
        )
        lines += _bullets("Recommendations", recommendations)
        lines += _bullets(
            "Inconclusive",
            (
                f"{_inline(r.spec.title)} ({_code(r.id)}): {_inline(r.outcome.summary)}"
                for r in active
                if r.status == "unknown"
            ),
        )
        lines += _bullets(
            "Suppressed",
            (
                f"{_inline(r.spec.title)} ({_code(r.id)}, {r.status}): {_inline(r.suppressed)}"
                for r in mine
                if r.suppressed is not None
            ),
        )
        if len(lines) == start:
            lines += ["Nothing to report.", ""]
    return lines[:-1] if lines[-1] == "" else lines


def _depends(gap: Gap, order: dict[str, int]) -> str:
    if not gap.depends_on:
        return "-"
    return ", ".join(
        f"{_code(d)} (#{order[d]})" if d in order else f"{_code(d)} (met)" for d in gap.depends_on
    )


def _critical(report: AuditReport) -> list[str]:
    lines = ["## Critical gaps", ""]
    critical = [g for g in report.gaps if g.severity == "critical"]
    if not critical:
        return [*lines, "None."]
    order = {step.gap.id: step.order for step in report.roadmap}
    for number, gap in enumerate(critical, start=1):
        lines += [
            f"### {number}. {_inline(gap.title)} ({_code(gap.id)})",
            "",
            f"- Category: {CATEGORIES.get(gap.category, gap.category)}; effort {gap.effort} "
            f"({effort_hours(gap.effort)}); depends on: {_depends(gap, order)}",
            f"- Finding: {_sentence(gap.summary)}",
            f"- Impact: {_sentence(gap.impact)}",
            f"- Fix: {_sentence(gap.recommendation)}",
        ]
        lines.extend(f"- Evidence: {_evidence(e)}" for e in gap.evidence[:_EVIDENCE_PER_GAP])
        lines.append("")
    return lines[:-1]


def _roadmap(report: AuditReport) -> list[str]:
    lines = ["## Roadmap", ""]
    if not report.roadmap:
        return [*lines, "Nothing to do: no check failed or warned."]
    low, high = total_hours(step.gap for step in report.roadmap)
    lines += [
        f"{len(report.roadmap)} steps, about {low}-{high} engineering hours in all. "
        "Dependencies come first; a gap that a more severe one depends on is scheduled at "
        "that severity (its priority).",
    ]
    order = {step.gap.id: step.order for step in report.roadmap}
    phase: str | None = None
    for step in report.roadmap:
        if step.phase != phase:
            phase = step.phase
            lines += [
                "",
                f"### {phase}",
                "",
                "| # | Gap | Severity | Priority | Effort | Depends on |",
                "| ---: | --- | --- | --- | --- | --- |",
            ]
        lines.append(_roadmap_row(step, order))
    return lines


def _roadmap_row(step: RoadmapStep, order: dict[str, int]) -> str:
    gap = step.gap
    return (
        f"| {step.order} | {_cell(gap.title)} ({_code(gap.id)}) | {gap.severity} "
        f"| {step.priority} | {gap.effort} ({effort_hours(gap.effort)}) "
        f"| {_depends(gap, order)} |"
    )


def _notes(report: AuditReport) -> list[str]:
    lines = ["## Notes", "", "### Analysers", ""]
    if report.analysers:
        lines += ["| Analyser | Status |", "| --- | --- |"]
        lines += [
            f"| {_cell(k)} | {_cell(_DURATION.sub('', v))} |"
            for k, v in sorted(report.analysers.items())
        ]
    else:
        lines.append("None configured.")
    lines += ["", "### Audit notes", ""]
    notes = sorted_notes(report)
    lines += [f"- {_inline(n)}" for n in notes] if notes else ["None."]
    return lines


def _appendix_entry(result: CheckResult) -> list[str]:
    spec, outcome = result.spec, result.outcome
    score = "n/a" if result.status == "unknown" else f"{result.score} / 100"
    severity = spec.severity
    if result.status in ("fail", "warn"):
        severity = result_severity(result)
    shown = severity if severity == spec.severity else f"{severity} (check default {spec.severity})"
    lines = [
        f"#### {_code(spec.id)}: {_inline(spec.title)}",
        "",
        f"Status **{result.status}**, score {score}; severity {shown}, effort "
        f"{spec.effort}, weight {_num(spec.weight)}.",
        "",
        _sentence(outcome.summary),
    ]
    if result.suppressed is not None:
        lines += ["", f"Suppressed: {_inline(result.suppressed)}"]
    if outcome.evidence:
        lines += ["", *(f"- {_evidence(e)}" for e in outcome.evidence)]
    else:
        lines += ["", "- no evidence (nothing found in the repository)"]
    if outcome.notes:
        lines += ["", *(f"- Note: {_inline(n)}" for n in outcome.notes)]
    return [*lines, ""]


def _appendix(report: AuditReport) -> list[str]:
    lines = ["## Appendix: every check", ""]
    for category, title in CATEGORIES.items():
        mine = [r for r in report.results if r.spec.category == category]
        if not mine:
            continue
        lines += [f"### {title}", ""]
        for result in mine:
            lines += _appendix_entry(result)
    return lines[:-1] if lines[-1] == "" else lines


def _sections(report: AuditReport) -> list[list[str]]:
    return [
        _header(report),
        _summary(report),
        _categories(report),
        _findings(report),
        _critical(report),
        _roadmap(report),
        _notes(report),
        _appendix(report),
    ]


def render_markdown(report: AuditReport) -> str:
    """The report as GitHub-flavoured Markdown (ends with a newline)."""
    return "\n\n".join("\n".join(section) for section in _sections(report)) + "\n"
