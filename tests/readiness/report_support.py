"""Shared by the report and CLI tests: real audits, and reports assembled from outcomes.

`synthetic_report` runs the real scoring, gap and roadmap code over results whose
outcomes a test chooses, so the format tests can assert exact output without depending
on which checks the registry holds. The specs it uses are never registered.
"""

from __future__ import annotations

from pathlib import Path

from readiness.context import AuditOptions
from readiness.engine import run_audit
from readiness.gaps import find_gaps, roadmap
from readiness.model import AuditReport, CheckResult, CheckSpec, Effort, Evidence, Outcome, Severity
from readiness.scoring import DEFAULT_WEIGHTS, band, category_scores, overall_score, weakest

__all__ = [
    "LIVE_URL",
    "RAW_KEY",
    "SAMPLE_REPO",
    "audit",
    "result",
    "spec",
    "standard_report",
    "synthetic_report",
]

#: A realistic (fake) provider key: it must never reach a report verbatim. Built from two
#: parts so that this file holds no key-shaped literal (the self-audit would rightly flag
#: one, test or not).
RAW_KEY = "sk-proj-" + "Q7vX2mLk9PzR4tYw8NbC3dFh6JsA1eGu"

#: A small service: an HTTP app with a health route, an LLM call, tests, a Dockerfile,
#: a workflow, a README, a leaked key and a file that does not parse.
SAMPLE_REPO: dict[str, str] = {
    "README.md": """
        # Chatbot

        A small chatbot service. Run it with `uvicorn app.main:app`.
        """,
    "pyproject.toml": """
        [project]
        name = "chatbot"
        version = "0.1.0"
        dependencies = ["fastapi>=0.110", "openai>=1.30", "httpx>=0.27"]
        """,
    "app/__init__.py": "",
    "app/config.py": f"""
        import os

        OPENAI_API_KEY = "{RAW_KEY}"
        MODEL = os.environ.get("MODEL", "gpt-4o-mini")
        """,
    "app/main.py": """
        from fastapi import FastAPI
        from openai import OpenAI

        from app.config import MODEL, OPENAI_API_KEY

        app = FastAPI()
        client = OpenAI(api_key=OPENAI_API_KEY)


        @app.get("/healthz")
        def health() -> dict[str, str]:
            return {"status": "ok"}


        @app.post("/chat")
        def chat(question: str) -> str:
            answer = client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": question}]
            )
            return answer.choices[0].message.content or ""
        """,
    "app/broken.py": "def oops(:\n    pass\n",
    "tests/test_main.py": """
        from app.main import health


        def test_health():
            assert health() == {"status": "ok"}
        """,
    "Dockerfile": """
        FROM python:3.11-slim
        WORKDIR /app
        COPY . .
        RUN pip install .
        CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0"]
        """,
    ".github/workflows/ci.yml": """
        name: ci
        on: [push, pull_request]
        jobs:
          test:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
              - run: pip install . pytest && pytest
        """,
}


def audit(root: Path, **options: object) -> AuditReport:
    """A real audit of ``root`` (external analysers off)."""
    options.setdefault("analysers", False)
    return run_audit(root, AuditOptions(**options))  # type: ignore[arg-type]


def spec(
    check_id: str,
    *,
    severity: Severity = "high",
    effort: Effort = "M",
    weight: float = 1.0,
    depends_on: tuple[str, ...] = (),
    live: bool = False,
) -> CheckSpec:
    """A check spec for a synthetic report (never registered)."""
    category = check_id.split(".", 1)[0]
    name = check_id.split(".", 1)[1].replace("-", " ")
    return CheckSpec(
        id=check_id,
        category=category,
        title=name.capitalize(),
        weight=weight,
        severity=severity,
        effort=effort,
        impact=f"Without {name}, users see failures.",
        recommendation=f"Add {name}.",
        depends_on=depends_on,
        live=live,
    )


def result(
    check_spec: CheckSpec,
    status: str,
    score: int,
    summary: str = "",
    *evidence: Evidence,
    suppressed: str | None = None,
    **outcome: object,
) -> CheckResult:
    """A result for ``check_spec`` with the given outcome."""
    return CheckResult(
        check_spec,
        Outcome(  # type: ignore[arg-type]
            status,
            score,
            summary or f"{check_spec.title} is {status}",
            tuple(evidence),
            **outcome,
        ),
        suppressed=suppressed,
    )


def synthetic_report(
    results: list[CheckResult],
    *,
    target: str = "/srv/repos/service",
    url: str | None = None,
    notes: tuple[str, ...] = (),
    analysers: dict[str, str] | None = None,
    weights: dict[str, float] | None = None,
) -> AuditReport:
    """An `AuditReport` made by the real scoring and gap code from ``results``."""
    categories = category_scores(results, {**DEFAULT_WEIGHTS, **(weights or {})})
    overall = overall_score(categories)
    gaps = find_gaps(results)
    return AuditReport(
        tool_version="1.0.0",
        target=target,
        url=url,
        generated_at="2026-11-21T12:00:00+00:00",
        duration_s=0.25,
        categories=categories,
        overall=overall,
        band=band(overall),
        weakest=weakest(categories),
        results=tuple(results),
        gaps=gaps,
        roadmap=roadmap(gaps),
        analysers=analysers if analysers is not None else {"all": "disabled"},
        notes=notes,
        stats={"files": 7, "python_files": 4, "python_lines": 120, "test_functions": 2},
    )


#: The live URL in `standard_report`.
LIVE_URL = "http://127.0.0.1:8000"


def standard_report() -> AuditReport:
    """A report with every kind of finding; its numbers are worked out in the tests.

    llm 62.5 (fail 25, pass 100), resilience 45 (fail 30, warn 60), security 0 (fail 0,
    one unknown), observability 50, performance 70 (a live warn), documentation only a
    suppressed check, testing and deployment nothing: overall 43.5, weakest security.
    """
    breaker = spec(
        "resilience.circuit-breaker",
        severity="critical",
        effort="L",
        depends_on=("resilience.health-endpoint",),
    )
    results = [
        result(
            spec("llm.provider-fallback", severity="high", effort="M"),
            "fail",
            25,
            "Only one LLM provider; fallback is only described in docs",
            Evidence("README.md", 3, "docs", "mentions a fallback provider"),
            gaps=("No second provider is configured.",),
        ),
        result(
            spec("llm.timeouts", severity="high", effort="S"),
            "pass",
            100,
            "Every LLM call has a timeout",
            Evidence("app/main.py", 12, "wired", "timeout=30"),
            strengths=("LLM calls time out after 30 s.",),
        ),
        result(
            breaker,
            "fail",
            30,
            "The circuit breaker is a stub",
            Evidence("app/breaker.py", 4, "code", "raises NotImplementedError"),
        ),
        result(
            spec("resilience.health-endpoint", severity="high", effort="S"),
            "warn",
            60,
            "A health route exists but checks nothing",
            Evidence("app/main.py", 10, "wired", "GET /healthz"),
        ),
        result(
            spec("security.hardcoded-secrets", severity="high", effort="S"),
            "fail",
            0,
            "1 hard-coded secret in source",
            Evidence("app/config.py", 3, "code", "OPENAI_API_KEY = 'sk-p****'"),
            severity="critical",
        ),
        result(
            spec("security.endpoint-auth", severity="critical", effort="M"),
            "unknown",
            0,
            "No HTTP endpoints to judge",
        ),
        result(
            spec("documentation.runbook", severity="low", effort="S"),
            "fail",
            0,
            "No runbook",
            suppressed="the runbook | lives in the wiki",
        ),
        result(
            spec("observability.metrics", severity="medium", effort="S"),
            "warn",
            50,
            "prometheus-client is declared but no metric is exported",
            Evidence("pyproject.toml", 0, "dependency", "prometheus-client"),
        ),
        result(
            spec("performance.live-latency", severity="medium", effort="M", live=True),
            "warn",
            70,
            "p95 latency 850 ms over 20 requests",
            Evidence(f"{LIVE_URL}/healthz", 0, "live", "p50 120 ms, p95 850 ms"),
        ),
    ]
    return synthetic_report(
        results,
        url=LIVE_URL,
        notes=(
            "hadolint is not installed; Dockerfiles checked by the built-in rules",
            "app/broken.py could not be parsed (SyntaxError); left out",
        ),
        analysers={"bandit": "ran", "hadolint": "not installed"},
    )
