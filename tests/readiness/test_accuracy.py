"""Accuracy: four repositories with the findings a careful reviewer would record.

`fixtures.py` builds a toy chatbot (one file, a key in the code), a medium service
(two providers with a fallback, timeouts, retries, streaming, API keys, metrics, JSON
logs, a non-root container with a health check, CI running the tests), a mature one
(the medium service plus a circuit breaker, a Redis cache, PII masking, tenants,
retention, tracing, Kubernetes with probes and an autoscaler, dashboards, alerts with
runbooks, a wired load test, and the documents an operator needs) and one of traps
(a stubbed breaker, a breaker nobody calls, placeholder keys in test fixtures, a health
check probing a path the app does not serve, ``USER 0``, CI that only lints).

Every expected status below is what the fixture was written to show (see the comments
in `fixtures.py`), not a copy of the auditor's output.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from readiness import AuditOptions, AuditReport, run_audit
from readiness.model import CheckResult
from readiness.report import render

from . import fixtures
from .conftest import write_repo

# --- expected findings ----------------------------------------------------------------

TOY = {
    "llm.multi-provider": "warn",  # one provider (OpenAI)
    "llm.fallback": "fail",
    "llm.timeouts": "fail",  # OpenAI() without timeout
    "llm.retries": "warn",  # only the SDK's default retries
    "llm.streaming": "fail",
    "resilience.circuit-breaker": "fail",
    "resilience.health-endpoint": "fail",
    "resilience.readiness-endpoint": "fail",
    "resilience.failover": "fail",
    "resilience.graceful-degradation": "fail",
    "testing.test-suite": "fail",  # no tests at all
    "testing.ci": "fail",
    "testing.error-paths": "unknown",  # no tests to judge: not a zero
    "observability.metrics": "fail",
    "observability.dashboards": "fail",
    "observability.alerts": "fail",
    "observability.structured-logs": "fail",
    "observability.trace-ids": "fail",
    "deployment.container-image": "fail",
    "deployment.non-root-user": "unknown",  # no container to judge
    "deployment.container-healthcheck": "unknown",
    "deployment.iac": "fail",
    "deployment.rollback-docs": "fail",
    "deployment.backup-docs": "unknown",  # keeps no data
    "performance.load-tests": "fail",
    "performance.caching": "fail",
    "performance.capacity-docs": "fail",
    "performance.horizontal-scaling": "fail",
    "performance.blocking-in-async": "unknown",  # no async code
    "testing.code-complexity": "pass",
    "security.hardcoded-secrets": "fail",  # a real-looking OpenAI key in app.py
    "security.endpoint-auth": "fail",  # /chat is open
    "security.rate-limiting": "fail",
    "security.tenant-isolation": "fail",
    "security.pii-handling": "fail",
    "security.data-retention": "fail",
    "security.static-analysis": "fail",  # app.run(debug=True): the debugger is served
    "deployment.dockerfile-lint": "unknown",  # no Dockerfile
    "documentation.readme": "fail",  # "A bot."
    "documentation.api-docs": "fail",  # Flask generates no OpenAPI, no document
    "documentation.architecture": "fail",
    "documentation.runbook": "fail",
    "documentation.troubleshooting": "fail",
    "documentation.config-reference": "unknown",  # reads no environment variables
}

MEDIUM = {
    "llm.multi-provider": "pass",  # OpenAI and Anthropic, both called
    "llm.fallback": "pass",  # the loop over PROVIDERS moves on after an error
    "llm.timeouts": "pass",
    "llm.retries": "pass",  # tenacity with exponential backoff
    "llm.streaming": "pass",  # stream=True and a StreamingResponse
    "resilience.circuit-breaker": "fail",
    "resilience.health-endpoint": "pass",
    "resilience.readiness-endpoint": "warn",  # answers "ok" without checking anything
    "resilience.failover": "fail",
    "resilience.graceful-degradation": "fail",
    "testing.test-suite": "warn",  # six tests
    "testing.ci": "pass",  # pytest on push and pull_request
    "testing.error-paths": "warn",  # 401s and the fallback are tested, not retries/timeouts
    "observability.metrics": "pass",
    "observability.dashboards": "fail",
    "observability.alerts": "fail",
    "observability.structured-logs": "pass",  # structlog JSONRenderer
    "observability.trace-ids": "fail",
    "deployment.container-image": "pass",
    "deployment.non-root-user": "pass",  # USER app
    "deployment.container-healthcheck": "pass",  # probes /health, which the app serves
    "deployment.iac": "fail",  # a Dockerfile is not infrastructure as code
    "deployment.rollback-docs": "fail",
    "deployment.backup-docs": "unknown",
    "performance.load-tests": "fail",
    "performance.caching": "fail",
    "performance.capacity-docs": "fail",
    "performance.horizontal-scaling": "fail",
    "performance.blocking-in-async": "pass",
    "testing.code-complexity": "pass",
    "security.hardcoded-secrets": "pass",  # keys come from the environment
    "security.endpoint-auth": "pass",  # both chat routes depend on require_key
    "security.rate-limiting": "fail",
    "security.tenant-isolation": "fail",
    "security.pii-handling": "fail",
    "security.data-retention": "fail",
    "security.static-analysis": "pass",
    "deployment.dockerfile-lint": "pass",
    "documentation.readme": "pass",  # install, run, usage, configuration table
    "documentation.api-docs": "pass",  # FastAPI's OpenAPI and docs/api.md
    "documentation.architecture": "fail",
    "documentation.runbook": "fail",
    "documentation.troubleshooting": "fail",
    "documentation.config-reference": "pass",  # the three variables are in the README
}

MATURE = {
    **MEDIUM,
    "resilience.circuit-breaker": "pass",  # service.breaker, called around each provider
    "testing.test-suite": "pass",
    "testing.error-paths": "pass",  # the breaker's open state is tested
    "observability.dashboards": "pass",
    "observability.alerts": "pass",  # with runbook links
    "observability.trace-ids": "pass",  # trace id in every log line, OpenTelemetry
    "deployment.iac": "pass",  # Kubernetes Deployment + HPA
    "deployment.rollback-docs": "pass",
    "deployment.backup-docs": "pass",  # pg_dump / pg_restore steps
    "performance.load-tests": "pass",  # locustfile run by `make loadtest`
    "performance.caching": "pass",  # Redis answer cache on the chat path
    "performance.capacity-docs": "pass",  # req/s, p95 and cost per user
    # Three replicas and an autoscaler, but slowapi keeps its counters in each process.
    "performance.horizontal-scaling": "warn",
    "security.rate-limiting": "pass",  # slowapi limits on both chat routes
    "security.tenant-isolation": "pass",  # tenant_id from the key, in rows and queries
    "security.pii-handling": "pass",  # presidio masks the question before the model
    "security.data-retention": "pass",  # DELETE /conversations/{id}, apply_retention
    "documentation.architecture": "pass",
    "documentation.runbook": "pass",  # a section per alert, with steps
    "documentation.troubleshooting": "pass",
    "documentation.config-reference": "pass",  # .env.example
}

TRAPS = {
    "llm.multi-provider": "warn",  # one raw HTTP provider
    "llm.fallback": "fail",
    "llm.timeouts": "fail",  # httpx.AsyncClient() without a timeout
    "llm.retries": "warn",  # tenacity declared, never used
    "llm.streaming": "fail",
    "resilience.circuit-breaker": "fail",  # a stub, and a real one nobody calls
    "resilience.health-endpoint": "pass",  # /health exists ...
    "resilience.readiness-endpoint": "fail",
    "resilience.failover": "fail",
    "resilience.graceful-degradation": "fail",
    "testing.test-suite": "warn",  # one test
    "testing.ci": "fail",  # CI only lints
    "testing.error-paths": "fail",
    "observability.metrics": "fail",  # the README's claims are not metrics
    "observability.dashboards": "fail",
    "observability.alerts": "fail",
    "observability.structured-logs": "fail",
    "observability.trace-ids": "fail",
    "deployment.container-image": "pass",
    "deployment.non-root-user": "fail",  # USER 0 is root
    "deployment.container-healthcheck": "fail",  # ... but the container probes /healthz
    "deployment.iac": "fail",
    "deployment.rollback-docs": "fail",
    "deployment.backup-docs": "unknown",
    "performance.load-tests": "fail",
    "performance.caching": "fail",
    "performance.capacity-docs": "fail",
    "performance.horizontal-scaling": "fail",
    "performance.blocking-in-async": "pass",
    "testing.code-complexity": "pass",
    # Three placeholders in tests/fixtures/settings.py are not leaks.
    "security.hardcoded-secrets": "pass",
    "security.endpoint-auth": "fail",  # /chat is open
    "security.rate-limiting": "fail",
    "security.tenant-isolation": "fail",
    "security.pii-handling": "fail",  # the README's claim is not masking
    "security.data-retention": "fail",
    "security.static-analysis": "pass",
    "deployment.dockerfile-lint": "pass",
    "documentation.readme": "warn",  # what it is and how to start; no usage, no config
    "documentation.api-docs": "pass",  # FastAPI's OpenAPI
    "documentation.architecture": "fail",
    "documentation.runbook": "fail",
    "documentation.troubleshooting": "fail",
    "documentation.config-reference": "unknown",
}

EXPECTED = {"TOY": TOY, "MEDIUM": MEDIUM, "MATURE": MATURE, "TRAPS": TRAPS}


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, AuditReport]:
    """Each fixture repository audited once (built-in checks only)."""
    out = {}
    for name in EXPECTED:
        root = write_repo(tmp_path_factory.mktemp(name.lower()), getattr(fixtures, name))
        out[name] = run_audit(root, AuditOptions(analysers=False))
    return out


def _result(report: AuditReport, check_id: str) -> CheckResult:
    return next(r for r in report.results if r.id == check_id)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_expected_finding(reports: dict[str, AuditReport], name: str) -> None:
    report = reports[name]
    got = {r.id: r.status for r in report.results if r.id in EXPECTED[name]}
    assert got == EXPECTED[name]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_check_has_an_expectation(reports: dict[str, AuditReport], name: str) -> None:
    """A new check must be judged on the fixtures too (no check ships untested here)."""
    ids = {r.id for r in reports[name].results}
    assert ids - set(EXPECTED[name]) == set()


def test_bands_order_the_repositories(reports: dict[str, AuditReport]) -> None:
    scores = {name: report.overall for name, report in reports.items()}
    assert reports["TOY"].band == "significant-work"
    assert reports["TRAPS"].band == "significant-work"
    assert reports["MATURE"].band == "production-ready"
    assert scores["TOY"] < scores["MEDIUM"] < scores["MATURE"]  # type: ignore[operator]


def test_traps_cite_both_breakers(reports: dict[str, AuditReport]) -> None:
    outcome = _result(reports["TRAPS"], "resilience.circuit-breaker").outcome
    by_location = {e.location: e.note for e in outcome.evidence}
    assert "stub" in by_location["src/trap/breaker.py:4"]
    assert "never called" in by_location["src/trap/resilience.py:6"]
    assert all(e.strength != "wired" for e in outcome.evidence)


def test_traps_health_check_cites_probe_and_route(reports: dict[str, AuditReport]) -> None:
    outcome = _result(reports["TRAPS"], "deployment.container-healthcheck").outcome
    assert [e.location for e in outcome.evidence] == ["Dockerfile:5", "src/trap/app.py:12"]
    assert "/healthz" in outcome.evidence[0].note


def test_traps_root_user_is_line_four(reports: dict[str, AuditReport]) -> None:
    outcome = _result(reports["TRAPS"], "deployment.non-root-user").outcome
    assert [e.location for e in outcome.evidence] == ["Dockerfile:4"]


def test_docs_only_claims_do_not_pass(reports: dict[str, AuditReport]) -> None:
    """The traps README claims breakers, retries, dashboards: none of it counts."""
    for check_id in ("observability.dashboards", "observability.alerts", "llm.retries"):
        result = _result(reports["TRAPS"], check_id)
        assert result.status != "pass"
        assert not any(
            e.path == "README.md" and e.strength != "docs" for e in result.outcome.evidence
        )


def test_unknown_does_not_count_as_zero(reports: dict[str, AuditReport]) -> None:
    """The toy's unknown checks are left out of their category, not scored 0."""
    toy = reports["TOY"]
    performance = next(c for c in toy.categories if c.id == "performance")
    assert performance.unknown == 1
    counted = [
        r
        for r in toy.results
        if r.spec.category == "performance" and r.status != "unknown" and r.suppressed is None
    ]
    expected = sum(r.spec.weight * r.score for r in counted) / sum(r.spec.weight for r in counted)
    assert performance.score == round(expected, 1)


def test_written_files_are_what_the_fixture_says(tmp_path: Path) -> None:
    """The fixture writer keeps Makefile tabs (the load test target must parse)."""
    root = write_repo(tmp_path, {"Makefile": fixtures.MATURE["Makefile"]})
    assert "\tlocust -f" in (root / "Makefile").read_text()


def test_the_toys_key_is_critical_and_masked(reports: dict[str, AuditReport]) -> None:
    result = _result(reports["TOY"], "security.hardcoded-secrets")
    assert result.outcome.severity == "critical"
    assert [e.location for e in result.outcome.evidence] == ["app.py:6"]
    gap = next(g for g in reports["TOY"].gaps if g.id == "security.hardcoded-secrets")
    assert gap.severity == "critical"
    for fmt in ("md", "json", "sarif"):
        text = render(reports["TOY"], fmt)
        assert fixtures.LEAKED_KEY not in text
        assert fixtures.LEAKED_KEY[:4] in text  # shown masked: its prefix and length


def test_placeholder_keys_in_test_fixtures_are_not_leaks(reports: dict[str, AuditReport]) -> None:
    result = _result(reports["TRAPS"], "security.hardcoded-secrets")
    assert result.status == "pass"
    assert not [e for e in result.outcome.evidence if e.path == "tests/fixtures/settings.py"]
    assert "3 placeholder" in result.outcome.summary


def test_critical_gaps_come_first_in_the_roadmap(reports: dict[str, AuditReport]) -> None:
    roadmap = reports["TOY"].roadmap
    critical = {"resilience.health-endpoint", "security.endpoint-auth", "testing.test-suite"}
    critical.add("security.hardcoded-secrets")
    assert {step.gap.id for step in roadmap if step.gap.severity == "critical"} == critical
    priorities = [step.priority for step in roadmap]
    assert priorities[: priorities.count("critical")] == ["critical"] * priorities.count("critical")
    for step in roadmap:  # every dependency that is a gap comes earlier
        earlier = {s.gap.id for s in roadmap if s.order < step.order}
        gap_ids = {s.gap.id for s in roadmap}
        assert {d for d in step.gap.depends_on if d in gap_ids} <= earlier
