"""Reading what a running service answered.

Prometheus exposition text, OpenAPI documents, health bodies that name their components,
and stack traces in error bodies.

Pure functions of text, so `readiness.live` can keep its observations as frozen data and
the live checks judge them without another request.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "FAILING_STATES",
    "MetricsScan",
    "OpenApiDoc",
    "Operation",
    "components",
    "parse_metrics",
    "parse_openapi",
    "stack_trace",
]

#: Component states that mean "this dependency is not usable now".
FAILING_STATES = frozenset(
    {
        "down",
        "fail",
        "failed",
        "failing",
        "unhealthy",
        "not-ready",
        "not_ready",
        "notready",
        "error",
        "unavailable",
        "false",
        "critical",
    }
)
_STATE_WORDS = FAILING_STATES | {
    "ok",
    "up",
    "pass",
    "passed",
    "healthy",
    "ready",
    "degraded",
    "warn",
    "warning",
    "available",
    "true",
    "skipped",
}
#: Keys under which health bodies usually group their per-dependency results.
_GROUP_KEYS = ("checks", "components", "dependencies", "details", "services", "probes")
_STATE_KEYS = ("status", "state", "health", "healthy", "ok", "ready")
_HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@dataclass(frozen=True, slots=True)
class MetricsScan:
    """A Prometheus (or OpenMetrics) exposition as the official parser read it."""

    format: str  # "prometheus" or "openmetrics"
    families: int
    samples: int
    #: The parser's complaint (None: valid).
    error: str | None
    #: The first family names, for the report.
    names: tuple[str, ...] = ()


def parse_metrics(text: str, content_type: str) -> MetricsScan:
    """Parse an exposition with ``prometheus_client``'s own parser (the format it declares)."""
    openmetrics = "openmetrics" in content_type.lower()
    fmt = "openmetrics" if openmetrics else "prometheus"
    try:
        if openmetrics:
            from prometheus_client.openmetrics.parser import (
                text_string_to_metric_families as parse_om,
            )

            families = list(parse_om(text))  # type: ignore[no-untyped-call]
        else:
            from prometheus_client.parser import text_string_to_metric_families

            families = list(text_string_to_metric_families(text))
    except Exception as exc:  # the parsers raise ValueError, IndexError, KeyError, ...
        reason = str(exc).strip() or "unparseable"
        return MetricsScan(fmt, 0, 0, f"{type(exc).__name__}: {reason[:200]}")
    samples = sum(len(f.samples) for f in families)
    names = tuple(f.name for f in families[:12])
    return MetricsScan(fmt, len(families), samples, None, names)


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of an OpenAPI document."""

    method: str  # upper case
    #: The path to request (server prefix included, templates as written).
    path: str
    #: True: requires credentials; False: declared public (``security: []`` or an optional
    #: ``{}`` requirement); None: the document says nothing.
    secured: bool | None

    @property
    def templated(self) -> bool:
        """The path has ``{parameters}``."""
        return "{" in self.path


@dataclass(frozen=True, slots=True)
class OpenApiDoc:
    """An OpenAPI / Swagger document as parsed."""

    version: str | None
    paths: int
    operations: tuple[Operation, ...]
    #: Why it is not a usable document (None: valid).
    error: str | None = None

    @property
    def valid(self) -> bool:
        """A JSON/YAML object with a version field and a paths object."""
        return self.error is None

    @property
    def documents_security(self) -> bool:
        """At least one operation declares a security requirement."""
        return any(op.secured for op in self.operations)


def _load(text: str, content_type: str, url: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        if "yaml" not in content_type.lower() and not url.lower().endswith((".yaml", ".yml")):
            raise
    # Imported by name: only YAML documents need PyYAML (and its stubs are optional).
    yaml = importlib.import_module("yaml")
    return yaml.safe_load(text)


def _requirement(security: object) -> bool | None:
    if security is None:
        return None
    if not isinstance(security, list) or not security:
        return False
    # Each entry is an alternative; an empty one ({}) makes credentials optional.
    return all(isinstance(req, dict) and req for req in security)


def _server_prefix(doc: Mapping[str, object]) -> str:
    base = doc.get("basePath")  # Swagger 2.0
    if isinstance(base, str):
        return base.rstrip("/")
    servers = doc.get("servers")
    if isinstance(servers, list) and servers and isinstance(servers[0], dict):
        url = servers[0].get("url")
        if isinstance(url, str) and "{" not in url:
            return urlsplit(url).path.rstrip("/")
    return ""


def parse_openapi(text: str, content_type: str, url: str) -> OpenApiDoc:
    """Parse an OpenAPI 3 or Swagger 2 document (JSON, or YAML when served as such)."""
    try:
        doc = _load(text, content_type, url)
    except Exception as exc:  # json/yaml errors, or PyYAML not installed
        return OpenApiDoc(None, 0, (), f"not JSON or YAML ({type(exc).__name__})")
    if not isinstance(doc, dict):
        return OpenApiDoc(None, 0, (), "not a JSON/YAML object")
    version = doc.get("openapi", doc.get("swagger"))
    if not isinstance(version, str) or not version[:1].isdigit():
        return OpenApiDoc(None, 0, (), "no `openapi` or `swagger` version field")
    paths = doc.get("paths")
    if not isinstance(paths, dict):
        return OpenApiDoc(version, 0, (), "no `paths` object")
    prefix = _server_prefix(doc)
    default = _requirement(doc.get("security"))
    operations = []
    for path, item in paths.items():
        if not isinstance(path, str) or not isinstance(item, dict):
            continue
        for method in _HTTP_METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            secured = _requirement(op["security"]) if "security" in op else default
            operations.append(Operation(method.upper(), prefix + path, secured))
    return OpenApiDoc(version, len(paths), tuple(operations))


def _state(value: object) -> str | None:
    if isinstance(value, bool):
        return "up" if value else "down"
    if isinstance(value, str):
        word = value.strip().lower()
        return word if word in _STATE_WORDS else None
    if isinstance(value, dict):
        for key in _STATE_KEYS:
            if key in value:
                state = _state(value[key])
                if state is not None:
                    return state
    return None


def components(body: object) -> dict[str, str]:
    """Component name -> reported state, from a health or readiness JSON body.

    Understands grouped bodies (``{"checks": {"db": "ok"}}``, ``{"components": [{"name":
    "db", "status": "down"}]}``) and flat ones (``{"status": "fail", "db": {"status":
    "down"}}``). Empty when the body names no component.
    """
    if not isinstance(body, dict):
        return {}
    for key in _GROUP_KEYS:
        group = body.get(key)
        if isinstance(group, dict):
            found = {str(k): _state(v) or "reported" for k, v in group.items()}
            if found:
                return found
        if isinstance(group, list):
            found = {}
            for entry in group:
                if isinstance(entry, dict):
                    name = entry.get("name", entry.get("component", entry.get("id")))
                    if isinstance(name, str):
                        found[name] = _state(entry) or "reported"
            if found:
                return found
    flat = {}
    for key, value in body.items():
        if key.lower() in _STATE_KEYS:
            continue  # the overall state, not a component
        state = _state(value)
        if state is not None:
            flat[str(key)] = state
    return flat


_TRACES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "Python traceback",
        re.compile(r'Traceback \(most recent call last\)|File \\?"[^"\\]+\\?", line \d+'),
    ),
    ("Java stack trace", re.compile(r"\bat [\w$.]+\([\w$]+\.java:\d+\)")),
    ("Node.js stack trace", re.compile(r"\n\s+at .+\(?/[^\s)]+\.[cm]?js:\d+:\d+\)?")),
    (".NET stack trace", re.compile(r"\bat [\w.`<>]+\(.*\) in .+:line \d+")),
    ("Go panic", re.compile(r"goroutine \d+ \[running\]")),
    ("Ruby backtrace", re.compile(r"\.rb:\d+:in `")),
    ("PHP stack trace", re.compile(r"Stack trace:\s*\n#0 ")),
    ("framework debug page", re.compile(r"Werkzeug Debugger|DEBUG = True|Whitelabel Error Page")),
)


def stack_trace(body: str) -> str | None:
    """The kind of stack trace (or debug page) ``body`` leaks, or None."""
    for kind, pattern in _TRACES:
        if pattern.search(body):
            return kind
    return None
