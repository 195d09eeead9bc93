"""Observability checks on small repositories."""

from __future__ import annotations

from readiness.model import Outcome

from .conftest import MakeRepo, check_outcome

METRICS_APP = """
    from fastapi import FastAPI
    from prometheus_client import Counter, Histogram, make_asgi_app

    REQUESTS = Counter("api_requests_total", "Requests")
    LATENCY = Histogram("api_latency_seconds", "Latency")

    app = FastAPI()
    app.mount("/metrics", make_asgi_app())


    @app.get("/chat")
    async def chat():
        REQUESTS.inc()
        return {}
"""


def _where(outcome: Outcome) -> list[tuple[str, str]]:
    return [(e.location, e.note) for e in outcome.evidence]


def test_metrics_recorded_and_exposed_pass(make_repo: MakeRepo) -> None:
    outcome = check_outcome("observability.metrics", make_repo({"app.py": METRICS_APP}))
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert _where(outcome) == [
        ("app.py:8", "exposes metrics: prometheus_client.make_asgi_app()"),
        ("app.py:8", "serves MOUNT /metrics"),
        ("app.py:4", "metric Counter api_requests_total"),
        ("app.py:5", "metric Histogram api_latency_seconds"),
    ]
    assert {e.strength for e in outcome.evidence} == {"wired"}


def test_metrics_never_exposed_warn(make_repo: MakeRepo) -> None:
    code = 'from prometheus_client import Counter\n\nHITS = Counter("hits_total", "Hits")\n'
    outcome = check_outcome("observability.metrics", make_repo({"app.py": code}))
    assert (outcome.status, outcome.score) == ("warn", 55)
    assert _where(outcome) == [("app.py:3", "metric Counter hits_total")]


def test_metrics_declared_only_warns_and_nothing_fails(make_repo: MakeRepo) -> None:
    declared = check_outcome(
        "observability.metrics",
        make_repo({"requirements.txt": "prometheus-client\n", "app.py": "x = 1\n"}),
    )
    assert (declared.status, declared.score) == ("warn", 45)
    assert [e.location for e in declared.evidence] == ["requirements.txt:1"]
    none = check_outcome("observability.metrics", make_repo({"app.py": "x = 1\n"}))
    assert (none.status, none.score) == ("fail", 0)


DASHBOARD = (
    '{\n  "title": "API",\n  "panels": [\n'
    '    {"type": "timeseries", "targets": [{"expr": "%s"}]}\n  ]\n}\n'
)


def test_dashboard_on_the_service_metrics_passes(make_repo: MakeRepo) -> None:
    board = DASHBOARD % "rate(api_requests_total[5m])"
    root = make_repo({"app.py": METRICS_APP, "grafana/api.json": board})
    outcome = check_outcome("observability.dashboards", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert _where(outcome) == [("grafana/api.json:3", "dashboard 'API': 1 panels")]


def test_dashboard_on_other_metrics_warns(make_repo: MakeRepo) -> None:
    board = DASHBOARD % "node_load1"
    outcome = check_outcome(
        "observability.dashboards", make_repo({"app.py": METRICS_APP, "grafana/api.json": board})
    )
    assert (outcome.status, outcome.score) == ("warn", 60)
    assert outcome.gaps == ("no panel queries api_latency_seconds, api_requests_total",)


def test_no_dashboard_fails_and_an_empty_one_barely_counts(make_repo: MakeRepo) -> None:
    none = check_outcome("observability.dashboards", make_repo({"app.py": METRICS_APP}))
    assert (none.status, none.score) == ("fail", 0)
    empty = '{"title": "API", "panels": []}'
    hollow = check_outcome("observability.dashboards", make_repo({"dashboards/a.json": empty}))
    assert (hollow.status, hollow.score) == ("fail", 15)
    assert _where(hollow) == [("dashboards/a.json:1", "dashboard without panels")]


RULES = """
    groups:
      - name: api
        rules:
          - alert: ApiDown
            expr: up{job="api"} == 0
            for: 2m
            labels:
              severity: page
            annotations:
              runbook_url: docs/runbook.md#apidown
          - alert: ApiErrors
            expr: rate(api_requests_total{code=~"5.."}[5m]) > 1
            labels:
              severity: ticket
            annotations:
              runbook_url: docs/runbook.md#apierrors
"""


def test_alerts_with_runbooks_and_severities_pass(make_repo: MakeRepo) -> None:
    outcome = check_outcome(
        "observability.alerts", make_repo({"app.py": METRICS_APP, "ops/alerts.yml": RULES})
    )
    assert (outcome.status, outcome.score) == ("pass", 90)
    assert _where(outcome) == [
        ("ops/alerts.yml:4", "alert ApiDown (runbook)"),
        ("ops/alerts.yml:11", "alert ApiErrors (runbook)"),
    ]
    assert outcome.strengths == ("2 alert(s)", "every alert links a runbook")


def test_bare_alert_on_nothing_the_service_exports_warns(make_repo: MakeRepo) -> None:
    bare = (
        "groups:\n  - name: x\n    rules:\n      - alert: DiskFull\n        expr: disk_free < 1\n"
    )
    outcome = check_outcome(
        "observability.alerts", make_repo({"app.py": METRICS_APP, "ops/alerts.yml": bare})
    )
    assert (outcome.status, outcome.score) == ("warn", 40)
    assert outcome.gaps == (
        "1 of 1 alerts have no runbook_url",
        "no alert watches a metric the service defines (or `up`)",
    )


def test_recording_rules_only_warn_and_nothing_fails(make_repo: MakeRepo) -> None:
    recording = "groups:\n  - name: x\n    rules:\n      - record: a:b\n        expr: sum(x)\n"
    warned = check_outcome("observability.alerts", make_repo({"rules.yml": recording}))
    assert (warned.status, warned.score, _where(warned)) == (
        "warn",
        35,
        [("rules.yml:4", "recording rule a:b")],
    )
    none = check_outcome("observability.alerts", make_repo({"app.py": METRICS_APP}))
    assert (none.status, none.score) == ("fail", 0)


def test_terraform_alarms_count_as_alerts(make_repo: MakeRepo) -> None:
    tf = 'resource "aws_cloudwatch_metric_alarm" "errors" {\n  threshold = 1\n}\n'
    outcome = check_outcome("observability.alerts", make_repo({"infra/alarms.tf": tf}))
    assert (outcome.status, outcome.score) == ("warn", 65)
    assert _where(outcome) == [
        ("infra/alarms.tf:1", "Terraform aws_cloudwatch_metric_alarm.errors")
    ]


STRUCTLOG = """
    import structlog

    structlog.configure(processors=[structlog.processors.JSONRenderer()])
    log = structlog.get_logger()
"""


def test_structlog_json_renderer_passes(make_repo: MakeRepo) -> None:
    outcome = check_outcome("observability.structured-logs", make_repo({"app/log.py": STRUCTLOG}))
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert _where(outcome) == [("app/log.py:3", "structlog JSONRenderer")]


def test_structlog_console_only_warns(make_repo: MakeRepo) -> None:
    code = "import structlog\n\nstructlog.configure(processors=[])\nlog = structlog.get_logger()\n"
    outcome = check_outcome("observability.structured-logs", make_repo({"app/log.py": code}))
    assert (outcome.status, outcome.score) == ("warn", 60)


def test_stdlib_json_formatter_class_passes_and_plain_logging_fails(make_repo: MakeRepo) -> None:
    formatter = """
        import json
        import logging


        class JsonLines(logging.Formatter):
            def format(self, record):
                return json.dumps({"msg": record.getMessage(), "level": record.levelname})


        handler = logging.StreamHandler()
        handler.setFormatter(JsonLines())
    """
    wired = check_outcome("observability.structured-logs", make_repo({"app/log.py": formatter}))
    assert (wired.status, _where(wired)) == (
        "pass",
        [("app/log.py:5", "JSON log formatter JsonLines")],
    )
    plain = "import logging\n\nlogging.basicConfig(level=logging.INFO)\n"
    none = check_outcome("observability.structured-logs", make_repo({"app/log.py": plain}))
    assert (none.status, none.score) == ("fail", 0)


TRACED = """
    import structlog
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    trace.set_tracer_provider(TracerProvider())


    async def middleware(request, call_next):
        request_id = request.headers.get("x-request-id")
        structlog.contextvars.bind_contextvars(request_id=request_id)
        return await call_next(request)
"""


def test_ids_bound_to_logs_with_tracing_pass(make_repo: MakeRepo) -> None:
    outcome = check_outcome("observability.trace-ids", make_repo({"app/mw.py": TRACED}))
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert _where(outcome)[:3] == [
        ("app/mw.py:10", "binds request_id to the log context (bind_contextvars)"),
        ("app/mw.py:5", "tracing: opentelemetry.trace.set_tracer_provider()"),
        ("app/mw.py:5", "tracing: opentelemetry.sdk.trace.TracerProvider()"),
    ]


def test_tracing_without_ids_in_logs_warns(make_repo: MakeRepo) -> None:
    code = TRACED.split("async def")[0]
    outcome = check_outcome("observability.trace-ids", make_repo({"app/mw.py": code}))
    assert (outcome.status, outcome.score) == ("warn", 65)
    assert outcome.gaps == ("log lines carry no trace or request id",)


def test_request_id_read_but_not_logged_warns_and_nothing_fails(make_repo: MakeRepo) -> None:
    code = "def rid(request):\n    return request.headers.get('X-Request-ID')\n"
    read = check_outcome("observability.trace-ids", make_repo({"app/mw.py": code}))
    assert (read.status, read.score) == ("warn", 50)
    assert ("app/mw.py:2", "reads header X-Request-ID") in _where(read)
    none = check_outcome("observability.trace-ids", make_repo({"app/mw.py": "x = 1\n"}))
    assert (none.status, none.score) == ("fail", 0)
