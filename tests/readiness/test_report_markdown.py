"""The Markdown report: sections, numbers, evidence, determinism, masking."""

from __future__ import annotations

import re

from readiness.model import Evidence
from readiness.report import render
from readiness.report.markdown import render_markdown
from tests.readiness.conftest import MakeRepo
from tests.readiness.report_support import (
    RAW_KEY,
    SAMPLE_REPO,
    audit,
    result,
    spec,
    standard_report,
    synthetic_report,
)


def _section(text: str, heading: str) -> str:
    """The body of the ``## heading`` section (up to the next ``## ``)."""
    start = text.index(f"## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_sections_come_in_report_order() -> None:
    text = render_markdown(standard_report())
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert headings == [
        "Executive summary",
        "Category scores",
        "Findings by category",
        "Critical gaps",
        "Roadmap",
        "Notes",
        "Appendix: every check",
    ]
    assert text.startswith("# Production readiness: service\n")
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_executive_summary_shows_score_band_gate_counts_and_top_risks() -> None:
    summary = _section(render_markdown(standard_report()), "Executive summary")
    assert "| Overall score (weighted average) | **43.5 / 100**: significant work needed |" in (
        summary
    )
    assert "| Weakest category (the gate) | Security and compliance: **0 / 100** |" in summary
    assert "| Checks | 9: 1 pass, 3 warn, 3 fail, 1 unknown, 1 suppressed |" in summary
    assert "| Gaps | 6: 2 critical, 1 high, 1 medium, 2 low |" in summary
    assert "| Critical gaps | 2 |" in summary
    risks = re.findall(r"^\d\. \*\*\[(\w+)\] [^*]+\*\* \(`([\w.-]+)`\)", summary, re.MULTILINE)
    # Most severe first; among equals the lower score (the leaked key scores 0).
    assert risks == [
        ("critical", "security.hardcoded-secrets"),
        ("critical", "resilience.circuit-breaker"),
        ("high", "llm.provider-fallback"),
    ]
    assert "1 hard-coded secret in source. Impact: Without hardcoded secrets" in summary


def test_category_table_has_score_weight_and_counts_and_marks_the_weakest() -> None:
    table = _section(render_markdown(standard_report()), "Category scores")
    assert "| Category | Score | Weight | Pass | Warn | Fail | Unknown |" in table
    assert "| LLM integration | 62.5 | 15 | 1 | 0 | 1 | 0 |" in table
    assert "| Infrastructure resilience | 45 | 15 | 0 | 1 | 1 | 0 |" in table
    assert "| Security and compliance (weakest) | 0 | 15 | 0 | 0 | 1 | 1 |" in table
    # A category with only a suppressed check has no score (not 0).
    assert "| Documentation | n/a | 8 | 0 | 0 | 0 | 0 |" in table
    assert "| **Overall** | **43.5** | | | | | |" in table


def test_findings_list_strengths_gaps_recommendations_and_suppressions() -> None:
    findings = _section(render_markdown(standard_report()), "Findings by category")
    llm = findings[findings.index("### LLM integration: 62.5 / 100") :]
    llm = llm[: llm.index("\n### ", 1)]
    assert "**Strengths**\n\n- LLM calls time out after 30 s." in llm
    assert (
        "- **[high]** Provider fallback (`llm.provider-fallback`): "
        "Only one LLM provider; fallback is only described in docs\n"
        "  - No second provider is configured.\n"
        "  - `README.md:3` (docs): mentions a fallback provider"
    ) in llm
    assert "**Recommendations**\n\n- Provider fallback: Add provider fallback." in llm
    assert "**Inconclusive**\n\n- Endpoint auth (`security.endpoint-auth`)" in findings
    assert (
        "### Documentation: no score\n\n**Suppressed**\n\n"
        "- Runbook (`documentation.runbook`, fail): the runbook | lives in the wiki"
    ) in findings
    # Categories with no check at all are left out, not shown empty.
    assert "### Testing" not in findings


def test_critical_gaps_section_has_impact_fix_effort_dependencies_and_evidence() -> None:
    critical = _section(render_markdown(standard_report()), "Critical gaps")
    assert critical.count("\n### ") == 2
    assert (
        "### 1. Circuit breaker (`resilience.circuit-breaker`)\n\n"
        "- Category: Infrastructure resilience; effort L (16-40 h); depends on: "
        "`resilience.health-endpoint` (#2)\n"
        "- Finding: The circuit breaker is a stub.\n"
        "- Impact: Without circuit breaker, users see failures.\n"
        "- Fix: Add circuit breaker.\n"
        "- Evidence: `app/breaker.py:4` (code): raises NotImplementedError"
    ) in critical


def test_roadmap_orders_phases_with_effort_hours_and_dependencies() -> None:
    roadmap = _section(render_markdown(standard_report()), "Roadmap")
    assert "6 steps, about 27-84 engineering hours in all." in roadmap
    rows = re.findall(r"^\| (\d) \| [^|]+ \(`([\w.-]+)`\) \| (\w+) \| (\w+) \|", roadmap, re.M)
    assert rows == [
        ("1", "security.hardcoded-secrets", "critical", "critical"),
        # A medium gap that the critical breaker depends on is done as critical work.
        ("2", "resilience.health-endpoint", "medium", "critical"),
        ("3", "resilience.circuit-breaker", "critical", "critical"),
        ("4", "llm.provider-fallback", "high", "high"),
        ("5", "observability.metrics", "low", "low"),
        ("6", "performance.live-latency", "low", "low"),
    ]
    assert "| L (16-40 h) | `resilience.health-endpoint` (#2) |" in roadmap
    phases = re.findall(r"^### (.+)$", roadmap, re.MULTILINE)
    assert phases == [
        "1. Blockers: fix before any production traffic",
        "2. Before go-live",
        "4. Polish",
    ]


def test_dependency_that_passes_is_shown_as_met() -> None:
    report = synthetic_report(
        [
            result(spec("resilience.health-endpoint"), "pass", 100),
            result(
                spec("resilience.failover", depends_on=("resilience.health-endpoint",)),
                "fail",
                0,
            ),
        ]
    )
    roadmap = _section(render_markdown(report), "Roadmap")
    assert "| `resilience.health-endpoint` (met) |" in roadmap


def test_notes_list_analysers_and_audit_notes_sorted() -> None:
    notes = _section(render_markdown(standard_report()), "Notes")
    assert "| bandit | ran |\n| hadolint | not installed |" in notes
    assert (
        "- app/broken.py could not be parsed (SyntaxError); left out\n"
        "- hadolint is not installed; Dockerfiles checked by the built-in rules"
    ) in notes


def test_analyser_run_times_are_left_out_of_the_markdown() -> None:
    report = synthetic_report(
        [], analysers={"bandit": "ran (3 findings, 1.2 s)", "radon": "timed out after 45 s"}
    )
    notes = _section(render_markdown(report), "Notes")
    assert "| bandit | ran (3 findings) |" in notes
    assert "| radon | timed out after 45 s |" in notes


def test_appendix_lists_every_check_with_status_score_and_evidence() -> None:
    report = standard_report()
    appendix = _section(render_markdown(report), "Appendix: every check")
    ids = re.findall(r"^#### `([\w.-]+)`", appendix, re.MULTILINE)
    assert sorted(ids) == sorted(r.id for r in report.results)
    assert (
        "#### `security.hardcoded-secrets`: Hardcoded secrets\n\n"
        "Status **fail**, score 0 / 100; severity critical (check default high), effort S, "
        "weight 1.\n\n"
        "1 hard-coded secret in source.\n\n"
        "- `app/config.py:3` (code): OPENAI_API_KEY = 'sk-p****'"
    ) in appendix
    assert "Status **unknown**, score n/a;" in appendix
    assert "- `pyproject.toml` (dependency): prometheus-client" in appendix
    assert "- `http://127.0.0.1:8000/healthz` (live): p50 120 ms, p95 850 ms" in appendix
    assert "Suppressed: the runbook | lives in the wiki" in appendix


def test_table_cells_escape_pipes() -> None:
    report = synthetic_report(
        [result(spec("llm.streaming"), "fail", 0)],
        analysers={"radon": "failed: exit 2 | see log"},
    )
    assert "| radon | failed: exit 2 \\| see log |" in render_markdown(report)


def test_report_without_checks_says_there_is_no_score() -> None:
    text = render_markdown(synthetic_report([]))
    assert "| Overall score (weighted average) | no score (every check was inconclusive) |" in (
        text
    )
    assert "None: no check failed or warned." in text
    assert "## Critical gaps\n\nNone." in text
    assert "Nothing to do: no check failed or warned." in text


def test_real_audit_renders_every_check_and_is_deterministic(make_repo: MakeRepo) -> None:
    root = make_repo(SAMPLE_REPO)
    first, second = audit(root), audit(root)
    text = render(first, "md")
    # The only line that may differ between two audits of the same tree.
    strip = re.compile(r"^Generated .*$", re.MULTILINE)
    assert strip.sub("", text) == strip.sub("", render(second, "md"))
    for item in first.results:
        assert f"#### `{item.id}`" in text
    for step in first.roadmap:
        assert f"| {step.order} | " in text
    assert "app/broken.py could not be parsed" in text
    assert text.count("## Appendix: every check") == 1


def test_real_audit_never_shows_the_raw_key(make_repo: MakeRepo) -> None:
    report = audit(make_repo(SAMPLE_REPO))
    assert RAW_KEY not in render(report, "md")


def test_a_key_quoted_by_a_check_is_masked_anyway() -> None:
    # Checks mask secrets themselves; a check that forgot must not leak the key.
    leaky = result(
        spec("security.hardcoded-secrets"),
        "fail",
        0,
        f"found {RAW_KEY}",
        Evidence("app/config.py", 3, "code", f"OPENAI_API_KEY = '{RAW_KEY}'"),
        gaps=(f"rotate {RAW_KEY}",),
    )
    text = render_markdown(synthetic_report([leaky]))
    assert RAW_KEY not in text
    assert "OPENAI_API_KEY = 'sk-p****'" in text


def test_masked_value_in_an_outcome_stays_masked() -> None:
    report = standard_report()
    masked = next(r for r in report.results if r.id == "security.hardcoded-secrets")
    assert masked.outcome.evidence[0].note == "OPENAI_API_KEY = 'sk-p****'"
    text = render_markdown(report)
    assert text.count("sk-p****") == 3  # findings, critical gaps, appendix
    assert RAW_KEY not in text
