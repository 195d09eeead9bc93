"""Traces: the span tree of a chat turn, the trace id in the response and the logs, a
caller's trace continued, nothing made when tracing is off, and real OTLP export."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alice.app import create_app
from alice.llm.providers.llamacpp import LlamaCppProvider
from alice.observability import Tracing
from tests.conftest import SettingsFactory
from tests.support.servers import serve_in_thread

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_PARENT = "00f067aa0ba902b7"


def _tree(spans: list[ReadableSpan]) -> dict[str, str | None]:
    """Each span's name mapped to its parent's name."""
    by_id = {s.context.span_id: s for s in spans}
    return {
        s.name: (by_id[s.parent.span_id].name if s.parent and s.parent.span_id in by_id else None)
        for s in spans
    }


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def traced(
    make_settings: SettingsFactory, llm: LlamaCppProvider, exporter: InMemorySpanExporter
) -> Iterator[tuple[str, Tracing]]:
    tracing = Tracing(exporter=exporter, version="test")
    app = create_app(make_settings(default_max_tokens=6), provider=llm, tracing=tracing)
    with serve_in_thread(app) as url:
        yield url, tracing


def test_a_chat_turn_is_one_trace_with_every_stage(
    traced: tuple[str, Tracing], exporter: InMemorySpanExporter
) -> None:
    url, tracing = traced
    response = httpx.post(f"{url}/api/chat", json={"text": "Hej!"}, timeout=60)
    assert response.status_code == 200
    assert tracing.flush()
    spans = exporter.get_finished_spans()
    trace_ids = {format(s.context.trace_id, "032x") for s in spans}
    assert trace_ids == {response.headers["x-trace-id"]}
    assert _tree(list(spans)) == {
        "HTTP POST /api/chat": None,
        "auth": "HTTP POST /api/chat",
        "chat.turn": "HTTP POST /api/chat",
        "cache.lookup": "chat.turn",
        "guardian.gate": "chat.turn",
        "db.commit_question": "chat.turn",
        "model.generate": "chat.turn",
        "db.commit_answer": "chat.turn",
    }
    by_name = {s.name: s for s in spans}
    server = by_name["HTTP POST /api/chat"]
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/api/chat"
    assert server.attributes["http.response.status_code"] == 200
    model = by_name["model.generate"]
    assert model.attributes is not None
    usage = response.json()["usage"]
    assert model.attributes["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
    assert model.attributes["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert model.attributes["gen_ai.response.model"] == response.json()["model"]
    assert [e.name for e in model.events] == ["first-token"]


def test_a_callers_trace_is_continued(
    traced: tuple[str, Tracing], exporter: InMemorySpanExporter
) -> None:
    url, tracing = traced
    response = httpx.get(
        f"{url}/api/conversations",
        headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_PARENT}-01"},
    )
    assert response.status_code == 200
    assert response.headers["x-trace-id"] == CALLER_TRACE
    assert tracing.flush()
    (server,) = [s for s in exporter.get_finished_spans() if s.name.startswith("HTTP")]
    assert format(server.context.trace_id, "032x") == CALLER_TRACE
    assert server.parent is not None
    assert format(server.parent.span_id, "016x") == CALLER_PARENT


def test_a_failed_request_marks_its_span(
    traced: tuple[str, Tracing], exporter: InMemorySpanExporter
) -> None:
    url, tracing = traced
    response = httpx.get(f"{url}/api/conversations/nope")
    assert response.status_code == 404
    assert tracing.flush()
    (server,) = [s for s in exporter.get_finished_spans() if s.parent is None]
    assert server.name == "HTTP GET /api/conversations/{conversation_id}"
    assert server.attributes is not None
    assert server.attributes["alice.error_class"] == response.json()["error"]["code"]


def test_with_tracing_off_requests_still_get_a_trace_id(
    make_settings: SettingsFactory, llm: LlamaCppProvider
) -> None:
    app = create_app(make_settings(), provider=llm)
    assert not app.state.tracing.enabled
    with serve_in_thread(app) as url:
        own = [httpx.get(f"{url}/health").headers["x-trace-id"] for _ in range(3)]
        continued = httpx.get(
            f"{url}/health", headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_PARENT}-01"}
        )
    assert len(set(own)) == 3
    assert all(len(t) == 32 and int(t, 16) != 0 for t in own)
    assert continued.headers["x-trace-id"] == CALLER_TRACE


class _Collector:
    """A real OTLP/HTTP endpoint: decodes what it is sent."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()

    async def traces(self, request: Request) -> Response:
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.body())
        with self.lock:
            self.requests.append(message)
            self.headers.append(dict(request.headers))
        return Response(b"", media_type="application/x-protobuf")


def test_spans_are_exported_over_otlp_http(
    make_settings: SettingsFactory, llm: LlamaCppProvider
) -> None:
    collector = _Collector()
    receiver = Starlette(routes=[Route("/v1/traces", collector.traces, methods=["POST"])])
    with serve_in_thread(receiver) as endpoint:
        settings = make_settings(
            otel_endpoint=endpoint, otel_headers="x-collector-token=t0ken", default_max_tokens=4
        )
        with serve_in_thread(create_app(settings, provider=llm)) as url:
            response = httpx.post(f"{url}/api/chat", json={"text": "Hej"}, timeout=60)
        # Leaving the app's lifespan flushes the batch processor.
    assert response.status_code == 200
    spans = [
        span
        for message in collector.requests
        for resource in message.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    services = {
        attribute.value.string_value
        for message in collector.requests
        for resource in message.resource_spans
        for attribute in resource.resource.attributes
        if attribute.key == "service.name"
    }
    assert services == {"alice"}
    assert {span.trace_id.hex() for span in spans} == {response.headers["x-trace-id"]}
    assert "model.generate" in {span.name for span in spans}
    assert all(h.get("x-collector-token") == "t0ken" for h in collector.headers)
