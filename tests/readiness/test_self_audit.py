"""Alice audits itself: the committed docs/readiness.md must match a fresh audit.

`make audit` writes the report; this test audits the repository again (external
analysers included, as `make audit` runs them) and compares what the report states:
the overall score, the band, the weakest category, the critical-gap count, and every
check's status and score. Evidence line numbers are not compared (any edit moves them).
When a change to the code changes a finding, the test fails until the report is
regenerated and committed, so the published score stays the real one.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from readiness import AuditOptions, AuditReport, run_audit
from readiness.report import render

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "docs" / "readiness.md"

_CHECK = re.compile(
    r"^#### `([\w.-]+)`.*?\n\nStatus \*\*(\w+)\*\*, score ([\w/ .]+?)[;.]", re.M | re.S
)
_OVERALL = re.compile(r"Overall score \(weighted average\) \| \*\*([\d.]+) / 100\*\*: ([\w-]+)")
_WEAKEST = re.compile(r"Weakest category \(the gate\) \| (.+?): \*\*([\d.]+) / 100\*\*")
_CRITICAL = re.compile(r"^\| Critical gaps \| (\d+) \|$", re.M)


def facts(markdown: str) -> dict[str, object]:
    """What a report states, parsed from its Markdown."""
    overall = _OVERALL.search(markdown)
    weakest = _WEAKEST.search(markdown)
    critical = _CRITICAL.search(markdown)
    assert overall and weakest and critical, "the report's summary table changed its format"
    return {
        "overall": overall.groups(),
        "weakest": weakest.groups(),
        "critical": critical.group(1),
        "checks": {m.group(1): (m.group(2), m.group(3).strip()) for m in _CHECK.finditer(markdown)},
    }


@pytest.fixture(scope="module")
def fresh() -> AuditReport:
    """Alice's repository, audited now."""
    return run_audit(REPO, AuditOptions())


def test_committed_report_matches_a_fresh_audit(fresh: AuditReport) -> None:
    committed = facts(COMMITTED.read_text(encoding="utf-8"))
    now = facts(render(fresh, "md"))
    assert len(now["checks"]) == len(fresh.results)  # type: ignore[arg-type]
    assert committed == now, "docs/readiness.md is out of date: run `make audit` and commit it"


def test_report_states_the_score_and_critical_gaps_honestly(fresh: AuditReport) -> None:
    """The headline numbers are the audit's own, not edited by hand."""
    stated = facts(COMMITTED.read_text(encoding="utf-8"))
    score, band = stated["overall"]  # type: ignore[misc]
    assert (float(score), band) == (fresh.overall, fresh.band)
    critical = sum(g.severity == "critical" for g in fresh.gaps)
    assert stated["critical"] == str(critical)


def test_self_audit_runs_the_analysers_or_says_why(fresh: AuditReport) -> None:
    """Every analyser is accounted for (ran, or the reason it did not)."""
    assert set(fresh.analysers) >= {"detect-secrets", "bandit", "radon", "hadolint"}
    assert all(status for status in fresh.analysers.values())
