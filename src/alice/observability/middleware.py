"""`ObservabilityMiddleware`: the request log line, HTTP metrics and the server span.

It is the outermost middleware, so it sees every answer, refusals by the security and
size middleware included. For each HTTP request it

1. takes the caller's ``X-Request-ID`` (1-128 printable ASCII characters) or makes one,
   and continues the caller's ``traceparent`` (or starts a trace);
2. binds ``request_id`` and ``trace_id`` to every log line written while serving it,
   and makes a `RequestFacts` current for the layers below to note what they learn;
3. stamps ``X-Request-ID`` and ``X-Trace-ID`` on the response;
4. when the last byte has gone (or the client left), writes one ``http.request`` line,
   counts the request in the metrics and ends the span.

The route label is the route's template (``/api/conversations/{conversation_id}``),
never the raw path, so the number of series stays bounded; a request refused before
routing is matched against the routes here, and one that matches none is
``unmatched``. Error classes come from what the layers noted or, for a JSON error
body, from its ``error.code``.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Collection, Iterable

import orjson
import structlog
from opentelemetry.trace import Status, StatusCode
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alice.observability.context import RequestFacts, bind, unbind
from alice.observability.metrics import Metrics
from alice.observability.tracing import Tracing

__all__ = ["ObservabilityMiddleware"]

log = structlog.get_logger("alice.http")

_MAX_ERROR_BODY = 4096
_TRACE_HEADERS = (b"traceparent", b"tracestate")


def _request_id(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"x-request-id":
            # A client's id is used only when it is safe to echo and to log.
            if 0 < len(value) <= 128 and all(0x21 <= b <= 0x7E for b in value):
                return value.decode("ascii")
            break
    return uuid.uuid4().hex


def _error_code(body: bytes) -> str | None:
    try:
        error = orjson.loads(body).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


class ObservabilityMiddleware:
    """One log line, metrics and a span per HTTP request (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        tracing: Tracing,
        mode: Callable[[], str],
        routes: Callable[[], Iterable[tuple[str, Collection[str]]]],
        quiet_paths: Collection[str] = (),
    ) -> None:
        """Wrap ``app``.

        Args:
            app: the application.
            metrics: where requests are counted.
            tracing: the tracer (or none) and trace-id handling.
            mode: the Guardian's current mode, for the log line.
            routes: the app's route templates and their methods, to name requests
                refused before routing (read once, on the first such request).
            quiet_paths: paths logged at debug level (health probes and scrapes would
                otherwise fill the log); they are still counted.
        """
        self.app = app
        self.metrics = metrics
        self.tracing = tracing
        self.mode = mode
        self.routes = routes
        self.quiet_paths = frozenset(quiet_paths)
        self._table: list[tuple[re.Pattern[str], frozenset[str]]] | None = None
        self._templates: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request, then write down what happened."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = scope["headers"]
        method = scope["method"]
        carrier = {
            k.decode("latin-1"): v.decode("latin-1") for k, v in headers if k in _TRACE_HEADERS
        }
        span, trace_id = self.tracing.start_request(carrier, f"HTTP {method}")
        facts = RequestFacts(
            request_id=_request_id(headers),
            trace_id=trace_id,
            span=span,
            tracer=self.tracing.tracer,
            parent=span,
        )
        stamp = [
            (b"x-request-id", facts.request_id.encode()),
            (b"x-trace-id", trace_id.encode()),
        ]
        status = 500
        stream = False
        finished = False
        error_body: bytearray | None = None

        async def observed_send(message: Message) -> None:
            nonlocal status, stream, finished, error_body
            if message["type"] == "http.response.start":
                status = message["status"]
                response_headers = list(message.get("headers", []))
                content_type = next((v for k, v in response_headers if k == b"content-type"), b"")
                stream = content_type.startswith(b"text/event-stream")
                if status >= 400 and content_type.startswith(b"application/json"):
                    error_body = bytearray()
                message = {**message, "headers": [*response_headers, *stamp]}
            elif message["type"] == "http.response.body":
                if error_body is not None and len(error_body) < _MAX_ERROR_BODY:
                    error_body += message.get("body", b"")[:_MAX_ERROR_BODY]
                if not message.get("more_body", False):
                    finished = True
            await send(message)

        token = bind(facts)
        bound = structlog.contextvars.bind_contextvars(
            request_id=facts.request_id, trace_id=trace_id
        )
        self.metrics.in_flight.inc()
        crashed = False
        try:
            await self.app(scope, receive, observed_send)
        except BaseException:
            # Below us nothing answered: Starlette's outermost handler sends the 500.
            crashed = not finished
            raise
        finally:
            self.metrics.in_flight.dec()
            if crashed:
                status, facts.error_class = 500, facts.error_class or "internal-error"
            elif facts.error_class is None and error_body is not None:
                facts.error_class = _error_code(bytes(error_body))
            self._finish(scope, facts, method, status, stream, finished, started)
            structlog.contextvars.reset_contextvars(**bound)
            unbind(token)

    def _finish(
        self,
        scope: Scope,
        facts: RequestFacts,
        method: str,
        status: int,
        stream: bool,
        finished: bool,
        started: float,
    ) -> None:
        seconds = time.perf_counter() - started
        route = self._route(scope)
        principal = scope.get("state", {}).get("principal")
        tenant = facts.tenant or getattr(principal, "tenant_id", None)
        self.metrics.observe_request(
            method=method,
            route=route,
            status=status,
            seconds=seconds,
            error_class=facts.error_class,
            rate_limit_bucket=facts.rate_limit_bucket,
        )
        mode = self.mode()
        if facts.span is not None:
            span = facts.span
            span.update_name(f"HTTP {method} {route}")
            span.set_attribute("http.request.method", method)
            span.set_attribute("http.route", route)
            span.set_attribute("http.response.status_code", status)
            span.set_attribute("alice.guardian_mode", mode)
            if tenant:
                span.set_attribute("alice.tenant", tenant)
            if facts.error_class:
                span.set_attribute("alice.error_class", facts.error_class)
            if status >= 500 or (facts.error_class and status < 400):
                span.set_status(Status(StatusCode.ERROR, facts.error_class or str(status)))
            span.end()
        fields = {
            "method": method,
            "route": route,
            "status": status,
            "latency_ms": round(seconds * 1000, 2),
            "tenant": tenant,
            "guardian_mode": mode,
            "model": facts.model,
            "prompt_tokens": facts.prompt_tokens,
            "completion_tokens": facts.completion_tokens,
            "first_token_ms": facts.first_token_ms,
            "cached": facts.cached,
            "stream": stream,
            "error_class": facts.error_class,
        }
        if not finished:
            fields["aborted"] = True  # the client left before the response ended
        if scope["path"] in self.quiet_paths and status < 400:
            log.debug("http.request", **fields)
        else:
            log.info("http.request", **fields)

    def _route(self, scope: Scope) -> str:
        route = scope.get("route")
        path = getattr(route, "path", None)
        if isinstance(path, str) and path:
            return path
        # Refused before routing (auth, rate limit, size): find the route it was for.
        if self._table is None:
            self._table = [
                (compile_path(template)[0], frozenset(methods))
                for template, methods in self.routes()
            ]
            self._templates = [template for template, _ in self.routes()]
        partial: str | None = None
        for (pattern, methods), template in zip(self._table, self._templates, strict=True):
            if pattern.match(scope["path"]):
                if scope["method"] in methods:
                    return template
                partial = partial or template
        return partial or "unmatched"
