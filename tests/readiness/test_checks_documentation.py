"""Documentation checks on small repositories: documents judged by structure and content."""

from __future__ import annotations

from pathlib import Path

from tests.readiness.conftest import MakeRepo, check_outcome

_GOOD_README = """
    # Ticketbot

    Ticketbot answers support questions from the knowledge base and hands hard ones to a
    human. It serves an HTTP API for the web widget.

    ## Install

    1. Install Python 3.11.
    2. Run the installer:

    ```sh
    pip install -e .
    ```

    ## Usage

    Ask it something over HTTP, with your key:

    ```sh
    curl -H 'X-API-Key: ...' http://localhost:8000/ask -d '{"q": "refund?"}'
    ```

    ## Configuration

    Every setting is an environment variable; the full list is in `.env.example`. The
    important ones are the model and the knowledge base location.

    ```sh
    TICKETBOT_MODEL=gpt-4o-mini
    ```
"""


def test_readme_covering_the_four_questions_passes(make_repo: MakeRepo) -> None:
    outcome = check_outcome("documentation.readme", make_repo({"README.md": _GOOD_README}))
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert [(e.location, e.note) for e in outcome.evidence] == [
        ("README.md:1", "overview: 24 words"),
        ("README.md:6", "getting started: 'Install'"),
        ("README.md:15", "usage: 'Usage'"),
        ("README.md:23", "configuration: 'Configuration'"),
    ]


def test_readme_partial_empty_or_missing(make_repo: MakeRepo) -> None:
    partial = make_repo(
        {
            "README.md": """
                # tool

                A command line tool that summarises long documents with a local model, so
                reports can be read in a minute.

                ## Install

                `pip install tool`
            """
        }
    )
    outcome = check_outcome("documentation.readme", partial)
    assert (outcome.status, outcome.score) == ("warn", 50)
    assert outcome.gaps == (
        "the README does not cover usage",
        "the README does not cover configuration",
    )
    empty = make_repo({"README.md": "# x\n\nTODO\n"})
    assert (check_outcome("documentation.readme", empty).score, 0) == (10, 0)
    missing = make_repo({"app.py": "x = 1\n"})
    outcome = check_outcome("documentation.readme", missing)
    assert (outcome.status, outcome.score, outcome.summary) == (
        "fail",
        0,
        "no README at the repository root",
    )


_FLASK = """
    from flask import Flask

    app = Flask(__name__)


    @app.get("/orders")
    def orders():
        return []


    @app.post("/orders")
    def create():
        return {}


    @app.get("/orders/<int:order_id>")
    def order(order_id):
        return {}


    @app.delete("/orders/<int:order_id>")
    def cancel(order_id):
        return {}
"""


def test_api_docs_must_describe_routes_that_exist(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "shop/app.py": _FLASK,
            "docs/api.md": """
                # API

                ## GET /orders

                Lists orders.

                ## GET /orders/{order_id}

                One order.

                ## GET /invoices

                (not served: describing it covers nothing)
            """,
        }
    )
    outcome = check_outcome("documentation.api-docs", root)
    assert (outcome.status, outcome.score) == ("warn", 60)
    assert outcome.summary == "2 of 4 API routes described in documents"
    assert [e.location for e in outcome.evidence] == [
        "docs/api.md:1",
        "shop/app.py:11",
        "shop/app.py:21",
    ]
    assert outcome.gaps == (
        "POST /orders is undocumented",
        "DELETE /orders/<int:order_id> is undocumented",
    )


def test_api_docs_from_a_spec_or_the_framework(make_repo: MakeRepo) -> None:
    spec = make_repo(
        {
            "shop/app.py": _FLASK,
            "api/openapi.yaml": """
                openapi: 3.1.0
                info: {title: shop, version: "1"}
                paths:
                  /orders: {get: {responses: {"200": {description: ok}}}}
            """,
        }
    )
    outcome = check_outcome("documentation.api-docs", spec)
    assert (outcome.status, outcome.score) == ("pass", 90)
    assert outcome.evidence[0].location == "api/openapi.yaml:1"
    assert outcome.evidence[0].note == "OpenAPI 3.1.0 document with 1 paths"
    fastapi = make_repo(
        {
            "svc.py": """
                from fastapi import FastAPI

                app = FastAPI(openapi_url=None)


                @app.post("/chat")
                def chat() -> dict:
                    return {}
            """
        }
    )
    outcome = check_outcome("documentation.api-docs", fastapi)
    assert (outcome.status, outcome.score) == ("fail", 0)
    assert outcome.evidence[0].note == (
        "FastAPI(openapi_url=None): the OpenAPI document is switched off"
    )
    library = make_repo({"lib.py": "def f():\n    return 1\n"})
    assert check_outcome("documentation.api-docs", library).status == "unknown"


def test_architecture_document_with_diagram_short_or_missing(make_repo: MakeRepo) -> None:
    prose = " ".join(["The gateway forwards each request to the worker pool."] * 20)
    root = make_repo(
        {
            "docs/architecture.md": f"""
                # Architecture

                {prose}

                ```mermaid
                graph LR; client --> gateway --> worker --> db
                ```
            """,
        }
    )
    outcome = check_outcome("documentation.architecture", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert outcome.evidence[0].note == "architecture.md: 180 words, 1 diagram(s)"
    short = make_repo({"README.md": "# x\n\n## Design\n\nIt is a monolith.\n"})
    outcome = check_outcome("documentation.architecture", short)
    assert (outcome.status, outcome.evidence[0].location) == ("warn", "README.md:3")
    assert check_outcome("documentation.architecture", make_repo({"a.py": ""})).status == "fail"


_RULES = """
    groups:
      - name: svc
        rules:
          - alert: ServiceDown
            expr: up == 0
          - alert: HighLatency
            expr: histogram_quantile(0.95, rate(x[5m])) > 2
"""


def test_runbook_is_judged_by_the_alerts_it_covers(make_repo: MakeRepo) -> None:
    runbook = """
        # Runbook

        ## ServiceDown

        1. `kubectl get pods -l app=svc` and read the events of pods not Ready.
        2. Roll back the last deploy with `kubectl rollout undo deployment/svc`.
    """
    root = make_repo({"deploy/alerts.yml": _RULES, "docs/runbook.md": runbook})
    outcome = check_outcome("documentation.runbook", root)
    assert (outcome.status, outcome.score) == ("warn", 55)
    assert outcome.summary == (
        "1 runbook procedure(s) with steps; 1 of 2 alerts have a runbook section or link"
    )
    assert [e.location for e in outcome.evidence] == ["docs/runbook.md:3", "deploy/alerts.yml:6"]
    assert outcome.gaps == ("alert HighLatency has no runbook",)
    covered = (
        runbook
        + """
        ## HighLatency

        1. Open the latency dashboard and find the slow dependency.
        2. Scale out with `kubectl scale deployment/svc --replicas=6`.
    """
    )
    root = make_repo({"deploy/alerts.yml": _RULES, "docs/runbook.md": covered})
    assert check_outcome("documentation.runbook", root).score == 100
    assert check_outcome("documentation.runbook", make_repo({"a.py": ""})).status == "fail"


def test_troubleshooting_needs_symptoms_with_fixes(make_repo: MakeRepo) -> None:
    good = make_repo(
        {
            "docs/troubleshooting.md": """
                # Troubleshooting

                ## Every request answers 401

                The key is not in `API_KEYS`; add it and restart the service.

                ## Answers are slow

                Check the provider latency panel; the cache hit rate should be above 20%.
            """
        }
    )
    assert (check_outcome("documentation.troubleshooting", good).status, 1) == ("pass", 1)
    thin = make_repo({"README.md": "# x\n\n## Troubleshooting\n\nAsk on chat.\n"})
    outcome = check_outcome("documentation.troubleshooting", thin)
    assert (outcome.status, outcome.evidence[0].location) == ("warn", "README.md:3")
    assert check_outcome("documentation.troubleshooting", make_repo({"a": ""})).status == "fail"


def test_config_reference_lists_undocumented_variables(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "svc/settings.py": """
                import os

                from pydantic_settings import BaseSettings, SettingsConfigDict

                PREFIX = "SVC_"


                class Settings(BaseSettings):
                    model_config = SettingsConfigDict(env_prefix=PREFIX)

                    model: str = "gpt-4o-mini"
                    timeout_s: float = 30.0


                TOKEN_TTL = int(os.environ.get("SVC_TOKEN_TTL", "3600"))
                HOME = os.environ["HOME"]
            """,
            ".env.example": "SVC_MODEL=gpt-4o-mini\n# SVC_TIMEOUT_S=30\n",
        }
    )
    outcome = check_outcome("documentation.config-reference", root)
    assert (outcome.status, outcome.score) == ("warn", 67)
    assert outcome.summary == "2 of 3 environment variables are documented"
    assert [(e.location, e.note) for e in outcome.evidence] == [
        ("svc/settings.py:15", "SVC_TOKEN_TTL is read here but documented nowhere"),
        (".env.example:1", "2 variables"),
    ]
    none = make_repo({"a.py": "x = 1\n"})
    assert check_outcome("documentation.config-reference", none).status == "unknown"


def test_markdown_without_markdown_it_falls_back_to_lines(tmp_path: Path) -> None:
    from readiness.checks import _docs

    text = "# T\n\nintro words here\n\n## Install\n\n```sh\npip install x\n```\n"
    parsed = _docs.parse("README.md", text)
    saved = _docs._PARSER
    try:
        _docs._PARSER = None
        fallback = _docs.parse("README.md", text)
    finally:
        _docs._PARSER = saved
    assert [(s.line, s.level, s.title) for s in parsed] == [
        (1, 0, ""),
        (1, 1, "T"),
        (5, 2, "Install"),
    ]
    assert [(s.line, s.level, s.title) for s in fallback] == [
        (1, 0, ""),
        (1, 1, "T"),
        (5, 2, "Install"),
    ]
    assert parsed[2].code == ("pip install x",)
