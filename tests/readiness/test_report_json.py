"""The JSON report: validated against its published schema, stable, documented."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema

from readiness.model import Evidence
from readiness.report import render
from readiness.report.json_report import SCHEMA_VERSION, load_schema, report_dict
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

DOCS = Path(__file__).resolve().parents[2] / "docs" / "readiness-json.md"


def _validate(document: Any) -> None:
    validator = jsonschema.Draft202012Validator(
        load_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
    assert errors == []


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema())


def test_real_audit_validates_against_the_schema(make_repo: MakeRepo) -> None:
    report = audit(make_repo(SAMPLE_REPO))
    document = json.loads(render(report, "json"))
    _validate(document)
    assert document["schema_version"] == SCHEMA_VERSION == "1.0"
    assert [c["id"] for c in document["checks"]] == [r.id for r in report.results]
    assert document["summary"]["checks"]["total"] == len(report.results)
    assert any("app/broken.py could not be parsed" in n for n in document["notes"])
    assert document["stats"]["python_files"] == 5


def test_standard_report_validates_and_carries_every_number() -> None:
    document = json.loads(render(standard_report(), "json"))
    _validate(document)
    assert document["summary"] == {
        "overall": 43.5,
        "band": "significant-work",
        "weakest": {"id": "security", "title": "Security and compliance", "score": 0.0},
        "checks": {"total": 9, "pass": 1, "warn": 3, "fail": 3, "unknown": 1, "suppressed": 1},
        "gaps": {"total": 6, "critical": 2, "high": 1, "medium": 1, "low": 2},
    }
    assert document["url"] == "http://127.0.0.1:8000"
    assert document["tool"] == {"name": "alice-readiness", "version": "1.0.0"}
    llm = document["categories"][0]
    assert llm == {
        "id": "llm",
        "title": "LLM integration",
        "weight": 15.0,
        "score": 62.5,
        "pass": 1,
        "warn": 0,
        "fail": 1,
        "unknown": 0,
    }
    assert [c["id"] for c in document["categories"]] == [
        "llm",
        "resilience",
        "testing",
        "observability",
        "security",
        "deployment",
        "documentation",
        "performance",
    ]


def test_checks_carry_outcome_evidence_and_suppression() -> None:
    checks = {c["id"]: c for c in report_dict(standard_report())["checks"]}
    secrets = checks["security.hardcoded-secrets"]
    assert secrets["status"] == "fail"
    assert secrets["score"] == 0
    assert secrets["severity"] == "critical"  # raised by the outcome
    assert secrets["default_severity"] == "high"
    assert secrets["evidence"] == [
        {
            "path": "app/config.py",
            "line": 3,
            "location": "app/config.py:3",
            "strength": "code",
            "note": "OPENAI_API_KEY = 'sk-p****'",
        }
    ]
    assert checks["resilience.health-endpoint"]["severity"] == "medium"  # a warn: milder
    assert checks["security.endpoint-auth"]["score"] is None  # unknown is not 0
    runbook = checks["documentation.runbook"]
    assert runbook["suppressed"] is True
    assert runbook["suppression_reason"] == "the runbook | lives in the wiki"
    assert checks["llm.timeouts"]["strengths"] == ["LLM calls time out after 30 s."]
    assert checks["performance.live-latency"]["live"] is True
    assert checks["resilience.circuit-breaker"]["depends_on"] == ["resilience.health-endpoint"]


def test_gaps_and_roadmap_carry_effort_hours_and_order() -> None:
    document = report_dict(standard_report())
    assert [g["id"] for g in document["gaps"]] == [
        "resilience.circuit-breaker",
        "security.hardcoded-secrets",
        "llm.provider-fallback",
        "resilience.health-endpoint",
        "observability.metrics",
        "performance.live-latency",
    ]
    breaker = document["gaps"][0]
    assert breaker["effort"] == "L"
    assert breaker["effort_hours"] == {"min": 16, "max": 40}
    step = document["roadmap"][1]
    assert step == {
        "order": 2,
        "id": "resilience.health-endpoint",
        "title": "Health endpoint",
        "phase": "1. Blockers: fix before any production traffic",
        "priority": "critical",
        "severity": "medium",
        "effort": "S",
        "effort_hours": {"min": 1, "max": 4},
        "depends_on": [],
    }


def test_output_is_stable_apart_from_time_fields(make_repo: MakeRepo) -> None:
    root = make_repo(SAMPLE_REPO)
    first, second = report_dict(audit(root)), report_dict(audit(root))
    for document in (first, second):
        document.pop("generated_at")
        document.pop("duration_s")
    assert first == second
    assert list(first) == [
        "schema_version",
        "tool",
        "target",
        "url",
        "summary",
        "categories",
        "checks",
        "gaps",
        "roadmap",
        "analysers",
        "notes",
        "stats",
    ]


def test_notes_are_sorted() -> None:
    report = synthetic_report([], notes=("zeta note", "alpha note", "zeta note"))
    assert report_dict(report)["notes"] == ["alpha note", "zeta note"]


def test_schema_rejects_a_report_missing_a_field() -> None:
    document = report_dict(standard_report())
    del document["summary"]["weakest"]
    validator = jsonschema.Draft202012Validator(load_schema())
    assert not validator.is_valid(document)


def test_every_schema_field_is_documented() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    schema = load_schema()
    names: set[str] = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            names.update(node.get("properties", {}))
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(schema)
    documented = set(re.findall(r"`([a-z_]+)`", docs))
    assert names - documented == set()
    assert "schema_version" in docs and '"1.0"' in docs


def test_a_key_quoted_by_a_check_is_masked_in_json(make_repo: MakeRepo) -> None:
    leaky = result(
        spec("security.hardcoded-secrets"),
        "fail",
        0,
        f"found {RAW_KEY}",
        Evidence("app/config.py", 3, "code", f"key {RAW_KEY}"),
        notes=(RAW_KEY,),
    )
    text = render(synthetic_report([leaky], notes=(f"note {RAW_KEY}",)), "json")
    assert RAW_KEY not in text
    assert "sk-p****" in text
    assert RAW_KEY not in render(audit(make_repo(SAMPLE_REPO)), "json")
