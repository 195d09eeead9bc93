"""OpenTelemetry tracing: off and free by default, OTLP/HTTP export when configured.

With ``ALICE_OTEL_ENDPOINT`` unset no tracer provider exists and no span object is ever
made; each request still gets a trace id (the caller's, from a W3C ``traceparent``
header, or a random one) so logs and the ``X-Trace-ID`` header tie together. With it
set, an SDK `TracerProvider` samples new traces at ``ALICE_OTEL_SAMPLE_RATIO`` (a
caller's sampling decision is kept) and a batch processor exports them to
``<endpoint>/v1/traces`` off the request path.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Tracer, format_trace_id
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = ["Tracing"]

_PROPAGATOR = TraceContextTextMapPropagator()
_rng = random.Random()  # noqa: S311 - trace ids must be unique, not secret


class Tracing:
    """The app's tracer (None when tracing is off) and trace-id handling."""

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        sample_ratio: float = 1.0,
        service_name: str = "alice",
        version: str = "",
        exporter: SpanExporter | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Build tracing; it is on when an ``endpoint`` or an ``exporter`` is given.

        Args:
            endpoint: OTLP/HTTP collector base URL (``http://collector:4318``).
            sample_ratio: share of new traces recorded (0-1).
            service_name: ``service.name`` of the resource.
            version: ``service.version`` of the resource.
            exporter: export here instead (tests use an in-memory exporter).
            headers: extra HTTP headers for the collector (an auth token).
        """
        self._provider: TracerProvider | None = None
        self.tracer: Tracer | None = None
        if endpoint is None and exporter is None:
            return
        if exporter is None:
            assert endpoint is not None  # noqa: S101 - checked above
            exporter = OTLPSpanExporter(
                endpoint=f"{endpoint.rstrip('/')}/v1/traces", headers=dict(headers or {})
            )
        self._provider = TracerProvider(
            resource=Resource.create({"service.name": service_name, "service.version": version}),
            sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
        )
        self._provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self._provider.get_tracer("alice", version)

    @property
    def enabled(self) -> bool:
        """Whether spans are made and exported."""
        return self.tracer is not None

    def start_request(self, carrier: Mapping[str, str], name: str) -> tuple[Span | None, str]:
        """The request's server span (None when off) and its trace id (32 hex digits).

        ``carrier`` holds the request's ``traceparent``/``tracestate`` headers, if any.
        """
        parent: Context | None = _PROPAGATOR.extract(carrier) if carrier else None
        if self.tracer is None:
            incoming = trace.get_current_span(parent).get_span_context() if parent else None
            if incoming is not None and incoming.is_valid:
                return None, format_trace_id(incoming.trace_id)
            return None, format_trace_id(_rng.getrandbits(128) or 1)
        span = self.tracer.start_span(name, context=parent, kind=SpanKind.SERVER)
        return span, format_trace_id(span.get_span_context().trace_id)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Export what is buffered now; False if it did not finish in time."""
        if self._provider is None:
            return True
        return self._provider.force_flush(int(timeout_s * 1000))

    def shutdown(self) -> None:
        """Export what is buffered and stop."""
        if self._provider is not None:
            self._provider.shutdown()
