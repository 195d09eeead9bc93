"""Checks: monitoring and observability.

Metrics are judged from the Python facts (instruments created and an exposition
endpoint registered), dashboards and alerts from parsed Grafana JSON, Prometheus rule
files and Terraform, and cross-checked: a dashboard or alert that watches none of the
metrics the service defines is not watching the service.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from readiness.checks._code import is_auxiliary, resolved_calls, served_routes
from readiness.context import AuditContext, grade
from readiness.model import Evidence, Outcome, Status, Strength
from readiness.pyindex import ModuleFacts
from readiness.registry import check

__all__ = ["alerts", "dashboards", "metrics", "structured_logs", "trace_ids"]

_INSTRUMENTS = tuple(
    f"prometheus_client.{kind}"
    for kind in ("Counter", "Histogram", "Gauge", "Summary", "Info", "Enum")
) + tuple(
    f"prometheus_client.metrics.{kind}" for kind in ("Counter", "Histogram", "Gauge", "Summary")
)
_OTEL_INSTRUMENTS = frozenset(
    {
        "create_counter",
        "create_histogram",
        "create_up_down_counter",
        "create_gauge",
        "create_observable_counter",
        "create_observable_gauge",
        "create_observable_up_down_counter",
    }
)
_EXPOSITION = (
    "prometheus_client.generate_latest",
    "prometheus_client.make_asgi_app",
    "prometheus_client.make_wsgi_app",
    "prometheus_client.start_http_server",
    "prometheus_client.start_wsgi_server",
    "prometheus_client.exposition",
    "opentelemetry.exporter.prometheus.PrometheusMetricReader",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter.OTLPMetricExporter",
    "opentelemetry.exporter.otlp.proto.grpc.metric_exporter.OTLPMetricExporter",
    "opentelemetry.sdk.metrics.export.PeriodicExportingMetricReader",
)
#: Libraries that both instrument every request and expose the result.
_AUTO_METRICS = (
    "prometheus_fastapi_instrumentator.Instrumentator",
    "starlette_exporter.PrometheusMiddleware",
    "prometheus_flask_exporter.PrometheusMetrics",
    "django_prometheus",
    "aioprometheus",
)
_METRIC_PACKAGES = (
    "prometheus-client",
    "opentelemetry-sdk",
    "prometheus-fastapi-instrumentator",
    "starlette-exporter",
    "prometheus-flask-exporter",
    "django-prometheus",
    "statsd",
    "datadog",
    "prom-client",
)
_TF_ALERTS = re.compile(
    r"^(aws_cloudwatch_(metric|composite)_alarm|google_monitoring_alert_policy|"
    r"azurerm_monitor_\w*alert\w*|datadog_monitor|newrelic_\w*alert_condition|grafana_rule_group|"
    r"opsgenie_\w+|pagerduty_service)$"
)
_TF_DASHBOARDS = re.compile(
    r"^(aws_cloudwatch_dashboard|google_monitoring_dashboard|datadog_dashboard(_json)?|"
    r"grafana_dashboard|azurerm_portal_dashboard|newrelic_one_dashboard(_json)?)$"
)
_ID_HEADER = re.compile(
    r"^(x-(request|correlation|trace|amzn-trace)-id|traceparent|request-id)$", re.I
)
_ID_KWARG = re.compile(r"^(request|trace|correlation|span)_?id$", re.I)


@dataclass(frozen=True, slots=True)
class _Metrics:
    instruments: list[Evidence]
    names: set[str]
    exposition: list[Evidence]
    auto: list[Evidence]


def _metrics(ctx: AuditContext) -> _Metrics:
    instruments: list[Evidence] = []
    names: set[str] = set()
    for found in resolved_calls(ctx, _INSTRUMENTS):
        name = found.call.args[0] if found.call.args else None
        if name:
            names.add(name)
        label = f"{found.qualified.rsplit('.', 1)[-1]} {name or ''}".strip()
        instruments.append(Evidence(found.module.path, found.call.line, "code", f"metric {label}"))
    otel = {m.path for m, _ in ctx.py.imports("opentelemetry")}
    for module in ctx.py.source:
        if module.path in otel and not is_auxiliary(module.path):
            for call in module.calls:
                if call.tail in _OTEL_INSTRUMENTS:
                    name = call.args[0] if call.args else None
                    if name:
                        names.add(name)
                    note = f"OpenTelemetry {call.tail} {name or ''}".strip()
                    instruments.append(Evidence(module.path, call.line, "code", note))
    exposition = [
        Evidence(f.module.path, f.call.line, "wired", f"exposes metrics: {f.qualified}()")
        for f in resolved_calls(ctx, _EXPOSITION)
    ]
    for route in served_routes(ctx):
        if route.path.rstrip("/") == "/metrics":
            note = f"serves {route.method} /metrics"
            exposition.append(Evidence(route.module.path, route.line, "wired", note))
    auto = [
        Evidence(f.module.path, f.call.line, "wired", f"request metrics: {f.qualified}()")
        for f in resolved_calls(ctx, _AUTO_METRICS)
    ]
    return _Metrics(instruments, names, exposition, auto)


def _ordered(evidence: list[Evidence], limit: int = 8) -> tuple[Evidence, ...]:
    seen: dict[tuple[str, int, str], Evidence] = {}
    for item in evidence:
        seen.setdefault((item.path, item.line, item.note), item)
    return tuple(list(seen.values())[:limit])


@check(
    id="observability.metrics",
    category="observability",
    title="Service metrics recorded and exposed",
    severity="high",
    effort="M",
    impact=(
        "Without request, error and latency metrics nobody sees an outage or a slow "
        "provider until users report it, and there is nothing to alert or set SLOs on."
    ),
    recommendation=(
        "Record request counts, errors and latency histograms (prometheus_client or "
        "OpenTelemetry metrics) on the request path and expose them on /metrics (or push "
        "them with an exporter)."
    ),
)
def metrics(ctx: AuditContext) -> Outcome:
    """Instruments created in source and an exposition endpoint or exporter."""
    found = _metrics(ctx)
    scraped = [
        Evidence(j.path, j.line, "config", f"Prometheus scrapes job {j.job}")
        for j in ctx.configs.scrape_jobs
    ] + [
        Evidence(o.path, o.line, "config", f"{o.kind} {o.name}")
        for o in ctx.configs.kube_objects
        if o.kind in ("ServiceMonitor", "PodMonitor")
    ]
    declared = ctx.deps.evidence(*_METRIC_PACKAGES)
    recorded = found.instruments or found.auto
    if recorded and (found.exposition or found.auto):
        wired = [Evidence(e.path, e.line, "wired", e.note) for e in found.instruments]
        count = len(found.instruments)
        return Outcome(
            "pass",
            100,
            f"metrics recorded ({count} instrument(s)) and exposed"
            if count
            else "request metrics recorded and exposed by middleware",
            _ordered(found.exposition + found.auto + wired + scraped),
            strengths=tuple(e.note for e in (found.exposition + found.auto)[:2]),
        )
    if found.instruments:
        return Outcome(
            "warn",
            55,
            "metrics are recorded but never exposed (no /metrics route or exporter)",
            _ordered(found.instruments + scraped + declared),
            gaps=("no exposition: Prometheus has nothing to scrape",),
        )
    if found.exposition:
        return Outcome(
            "warn",
            60,
            "a metrics endpoint exists, but the service defines no metrics of its own",
            _ordered(found.exposition + scraped),
            gaps=("only the client library's default process metrics are exposed",),
        )
    outcome = grade(
        declared + scraped,
        found="metrics libraries declared or scraped",
        missing="no metrics: no instruments, no /metrics endpoint, no exporter",
    )
    if outcome.status == "pass":  # a scrape config without any instrument in the code
        return Outcome(
            "warn",
            45,
            "Prometheus is configured, but the code records no metrics",
            outcome.evidence,
        )
    return outcome


@check(
    id="observability.dashboards",
    category="observability",
    title="Dashboards chart the service's metrics",
    severity="medium",
    effort="M",
    impact=(
        "During an incident, nobody has a shared view of traffic, errors and latency; "
        "each responder builds ad-hoc queries while the outage goes on."
    ),
    recommendation=(
        "Commit a Grafana dashboard (JSON, provisioned) with the golden signals: request "
        "rate, error ratio, latency percentiles and saturation, per dependency."
    ),
    depends_on=("observability.metrics",),
)
def dashboards(ctx: AuditContext) -> Outcome:
    """Grafana dashboards with panels (or dashboards in Terraform)."""
    configs = ctx.configs
    boards = [d for d in configs.dashboards if d.panels > 0]
    empty = [
        Evidence(d.path, d.line, "config", "dashboard without panels")
        for d in configs.dashboards
        if d.panels == 0
    ]
    declared = [
        Evidence(b.path, b.line, "config", f"Terraform {b.type}.{b.name}")
        for b in configs.terraform
        if b.block == "resource" and _TF_DASHBOARDS.match(b.type)
    ]
    evidence = [
        Evidence(d.path, d.line, "config", f"dashboard '{d.title}': {d.panels} panels")
        for d in boards
    ] + declared
    if not evidence:
        return Outcome(
            "fail",
            15 if empty else 0,
            "no dashboards" + (" with panels" if empty else ""),
            _ordered(empty),
            gaps=("no dashboard is committed to the repository",),
        )
    names = _metrics(ctx).names
    queries = [q for d in boards for q in d.queries]
    if boards and names and not any(name in q for q in queries for name in names):
        return Outcome(
            "warn",
            60,
            "dashboards exist, but none of their queries uses a metric the service defines",
            _ordered(evidence),
            gaps=(f"no panel queries {', '.join(sorted(names)[:4])}",),
        )
    panels = sum(d.panels for d in boards)
    return Outcome(
        "pass",
        100,
        f"{len(evidence)} dashboard(s)" + (f", {panels} panels" if panels else ""),
        _ordered(evidence),
        strengths=tuple(e.note for e in evidence[:2]),
    )


@check(
    id="observability.alerts",
    category="observability",
    title="Alerting rules, with runbooks",
    severity="medium",
    effort="M",
    impact=(
        "Without alerts an outage is found by users; alerts without runbooks page "
        "someone at 3 a.m. who then has to work out from scratch what the alert means."
    ),
    recommendation=(
        "Write Prometheus alerting rules on the SLIs (error ratio, latency, saturation, "
        "`up`), each with a severity label and a runbook_url annotation, route them in "
        "Alertmanager, and test them with `promtool test rules`."
    ),
    depends_on=("observability.metrics",),
)
def alerts(ctx: AuditContext) -> Outcome:
    """Prometheus alerting rules (or cloud alarms in Terraform), judged by their quality."""
    configs = ctx.configs
    rules = [r for r in configs.rules if r.kind == "alert"]
    alarms = [
        Evidence(b.path, b.line, "config", f"Terraform {b.type}.{b.name}")
        for b in configs.terraform
        if b.block == "resource" and _TF_ALERTS.match(b.type)
    ]
    if not rules and not alarms:
        recording = [
            Evidence(r.path, r.line, "config", f"recording rule {r.name}") for r in configs.rules
        ]
        if recording:
            return Outcome(
                "warn",
                35,
                "recording rules, but no alerting rule",
                _ordered(recording),
                gaps=("nothing pages when the recorded SLIs go bad",),
            )
        return Outcome("fail", 0, "no alerting rules", gaps=("no alert is defined anywhere",))
    evidence = [
        Evidence(r.path, r.line, "config", f"alert {r.name}" + (" (runbook)" if r.runbook else ""))
        for r in rules
    ] + alarms
    with_runbook = sum(1 for r in rules if r.runbook)
    with_severity = sum(1 for r in rules if r.severity)
    total = len(rules) + len(alarms)
    routed = [a for a in configs.alertmanagers if a.wired_receivers]
    score = 65.0 + 15 * with_runbook / total + 10 * with_severity / total
    score += 5 if routed else 0
    score += 5 if configs.rule_tests else 0
    strengths: list[str] = [f"{total} alert(s)"]
    gaps: list[str] = []
    if with_runbook < len(rules):
        gaps.append(f"{len(rules) - with_runbook} of {len(rules)} alerts have no runbook_url")
    else:
        strengths.append("every alert links a runbook")
    if configs.rule_tests:
        path, line = configs.rule_tests[0]
        evidence.append(Evidence(path, line, "config", "promtool rule tests"))
        strengths.append("alert rules are unit-tested with promtool")
    for manager in routed:
        evidence.append(Evidence(manager.path, manager.line, "config", "Alertmanager receivers"))
    names = _metrics(ctx).names
    if rules and names:
        watched = [r for r in rules if "up" in re.findall(r"[a-zA-Z_:][\w:]*", r.expr)]
        watched += [r for r in rules if any(n in r.expr for n in names)]
        # Recording rules in between: an alert on a recorded series built from the metrics.
        derived = {
            x.name for x in configs.rules if x.kind == "record" and any(n in x.expr for n in names)
        }
        watched += [r for r in rules if any(d in r.expr for d in derived)]
        if not watched:
            score -= 25
            gaps.append("no alert watches a metric the service defines (or `up`)")
    final = max(0, min(100, round(score)))
    status: Status = "pass" if final >= 75 else "warn"
    return Outcome(
        status,
        final,
        f"{total} alert(s)" + (f", {with_runbook} with runbooks" if rules else ""),
        _ordered(evidence),
        tuple(strengths),
        tuple(gaps),
    )


_JSON_RENDERERS = (
    "structlog.processors.JSONRenderer",
    "structlog.processors.LogfmtRenderer",
    "structlog.processors.EventRenamer",
)
_JSON_FORMATTERS = (
    "pythonjsonlogger.jsonlogger.JsonFormatter",
    "pythonjsonlogger.json.JsonFormatter",
    "pythonjsonlogger.orjson.OrjsonFormatter",
    "ecs_logging.StdlibFormatter",
    "json_log_formatter.JSONFormatter",
)
_DUMPS = ("json.dumps", "orjson.dumps", "ujson.dumps", "simplejson.dumps", "rapidjson.dumps")
_LOG_CONFIG = re.compile(r"jsonlogger|JsonFormatter|ecs_logging|JSONFormatter|json_log_formatter")
_LOG_PACKAGES = ("structlog", "python-json-logger", "loguru", "ecs-logging", "json-log-formatter")


def _json_formatter_classes(ctx: AuditContext) -> list[Evidence]:
    """``logging.Formatter`` subclasses whose body serialises records to JSON."""
    out = []
    for module in ctx.py.source:
        if is_auxiliary(module.path):
            continue
        for item in module.defs:
            if item.kind != "class" or not any(b.endswith("Formatter") for b in item.bases):
                continue
            dumps = [
                c
                for c in ctx.py.calls_in(module, item)
                if ctx.py.qualify(module, c.name) in _DUMPS
                or any(ctx.py.qualify(module, c.name).startswith(p) for p in _JSON_FORMATTERS)
            ]
            if dumps or any(
                b.rsplit(".", 1)[-1] in ("JsonFormatter", "JSONFormatter") for b in item.bases
            ):
                strength: Strength = "wired" if ctx.py.is_wired(module, item) else "code"
                note = f"JSON log formatter {item.name}"
                out.append(Evidence(module.path, item.line, strength, note))
    return out


def _loguru_serialized(ctx: AuditContext) -> list[Evidence]:
    loguru = {m.path for m, _ in ctx.py.imports("loguru")}
    return [
        Evidence(m.path, c.line, "wired", "loguru sink with serialize=True")
        for m in ctx.py.source
        if m.path in loguru and not is_auxiliary(m.path)
        for c in m.calls
        if c.tail == "add" and "serialize" in c.kwargs and "serialize" not in c.off
    ]


@check(
    id="observability.structured-logs",
    category="observability",
    title="Structured (JSON) logs",
    severity="medium",
    effort="S",
    impact=(
        "Free-text logs cannot be queried by field: finding every error of one tenant or "
        "one request during an incident means grepping and guessing."
    ),
    recommendation=(
        "Configure one logging setup at start-up that writes JSON (structlog's "
        "JSONRenderer, python-json-logger, or loguru with serialize=True), with the "
        "level, logger, event and context fields."
    ),
)
def structured_logs(ctx: AuditContext) -> Outcome:
    """A JSON renderer or formatter configured and used in source."""
    evidence: list[Evidence] = []
    configured = list(
        resolved_calls(ctx, ("structlog.configure", "structlog.stdlib.ProcessorFormatter"))
    )
    renderers = list(resolved_calls(ctx, _JSON_RENDERERS))
    loggers = list(resolved_calls(ctx, ("structlog.get_logger", "structlog.stdlib.get_logger")))
    strength: Strength = "wired" if configured and renderers else "code"
    for found in renderers:
        note = f"structlog {found.qualified.rsplit('.', 1)[-1]}"
        evidence.append(Evidence(found.module.path, found.call.line, strength, note))
    if not renderers:
        for found in configured + loggers[:1]:
            note = "structlog without a JSON renderer (console output)"
            evidence.append(Evidence(found.module.path, found.call.line, "code", note))
    for found in resolved_calls(ctx, _JSON_FORMATTERS):
        evidence.append(
            Evidence(found.module.path, found.call.line, "wired", f"{found.qualified}()")
        )
    evidence += _json_formatter_classes(ctx) + _loguru_serialized(ctx)
    files = [
        p
        for p in ctx.repo.files
        if "log" in p.rsplit("/", 1)[-1].lower()
        and p.endswith((".yaml", ".yml", ".json", ".ini", ".conf", ".cfg", ".toml"))
    ]
    evidence += [
        Evidence(m.path, m.line, "config", "logging config with a JSON formatter")
        for m in ctx.repo.grep(_LOG_CONFIG, files)
    ]
    evidence += ctx.deps.evidence(*_LOG_PACKAGES)
    return grade(
        evidence,
        found="logs are written as structured JSON",
        missing="no structured logging: no JSON renderer, formatter or serialising sink",
    )


def _header_reads(ctx: AuditContext) -> list[Evidence]:
    out = []
    for module in ctx.py.source:
        if is_auxiliary(module.path):
            continue
        for token, line in module.tokens:
            if _ID_HEADER.match(token):
                out.append(Evidence(module.path, line, "code", f"handles header {token}"))
        for call in module.calls:
            for arg in call.args:
                if arg and _ID_HEADER.match(arg):
                    out.append(Evidence(module.path, call.line, "code", f"reads header {arg}"))
    return out


def _ids_in_logs(ctx: AuditContext) -> list[Evidence]:
    """Places where a request or trace id is bound to the logging context."""
    out = []
    for module in ctx.py.source:
        if is_auxiliary(module.path):
            continue
        for call in module.calls:
            bound = [k for k in call.kwargs if _ID_KWARG.match(k)]
            if call.tail in ("bind_contextvars", "bind", "contextualize", "new") and bound:
                note = f"binds {', '.join(bound)} to the log context ({call.tail})"
                out.append(Evidence(module.path, call.line, "wired", note))
            elif call.tail == "ContextVar" and call.args and _ID_KWARG.match(call.args[0] or ""):
                out.append(Evidence(module.path, call.line, "code", f"ContextVar {call.args[0]}"))
        out += _span_ids(module)
    out += [
        Evidence(f.module.path, f.call.line, "wired", "trace ids injected into log records")
        for f in resolved_calls(
            ctx,
            (
                "opentelemetry.instrumentation.logging.LoggingInstrumentor",
                "asgi_correlation_id.CorrelationIdMiddleware",
                "asgi_correlation_id.CorrelationIdFilter",
                "ddtrace.patch",
            ),
        )
    ]
    return out


def _span_ids(module: ModuleFacts) -> list[Evidence]:
    # ``get_current_span().get_span_context().trace_id`` read inside a function that is a
    # log processor or filter: the id goes into the log event.
    if "trace_id" not in module.names and "span_id" not in module.names:
        return []
    return [
        Evidence(module.path, c.line, "wired", "trace id of the current span read for logs")
        for c in module.calls
        if c.tail == "get_current_span"
    ][:1]


_TRACING = (
    "opentelemetry.sdk.trace.TracerProvider",
    "opentelemetry.trace.set_tracer_provider",
    "opentelemetry.instrumentation",
    "opentelemetry.sdk.trace.export.BatchSpanProcessor",
    "ddtrace.patch_all",
    "ddtrace.patch",
)


@check(
    id="observability.trace-ids",
    category="observability",
    title="Request and trace ids in logs",
    severity="medium",
    effort="M",
    impact=(
        "Without a request or trace id on every log line, one user's failing request "
        "cannot be followed across log lines, services and the LLM provider call."
    ),
    recommendation=(
        "Accept or create an X-Request-ID per request, bind it (and the OpenTelemetry "
        "trace id) to the log context with contextvars, return it in the response, and "
        "export traces with OpenTelemetry."
    ),
    depends_on=("observability.structured-logs",),
)
def trace_ids(ctx: AuditContext) -> Outcome:
    """Tracing wired, and request/trace ids bound to the log context."""
    tracing = [
        Evidence(f.module.path, f.call.line, "wired", f"tracing: {f.qualified}()")
        for f in resolved_calls(ctx, _TRACING)
    ]
    in_logs = _ids_in_logs(ctx)
    bound = [e for e in in_logs if e.strength == "wired"]
    headers = _header_reads(ctx)
    evidence = _ordered(bound + tracing + headers + in_logs)
    if bound:
        return Outcome(
            "pass",
            100 if tracing else 90,
            "request/trace ids reach the logs" + (" and traces are exported" if tracing else ""),
            evidence,
            strengths=tuple(e.note for e in bound[:2]),
            gaps=() if tracing else ("no distributed tracing (OpenTelemetry) is set up",),
        )
    if tracing:
        return Outcome(
            "warn",
            65,
            "traces are set up, but their ids are not put into the logs",
            evidence,
            gaps=("log lines carry no trace or request id",),
        )
    if headers or in_logs:
        return Outcome(
            "warn",
            50,
            "a request id is handled, but not bound to the log context",
            evidence,
            gaps=("the id is not bound to the logger (contextvars / logger.bind)",),
        )
    outcome = grade(
        ctx.deps.evidence(
            "opentelemetry-sdk", "opentelemetry-api", "ddtrace", "asgi-correlation-id"
        ),
        found="tracing libraries are declared",
        missing="no request or trace ids: no tracing, no request id in logs",
    )
    return outcome
