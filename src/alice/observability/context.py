"""What one request has learned about itself, for its log line, metrics and spans.

`ObservabilityMiddleware` puts a `RequestFacts` in a context variable when a request
arrives; the parts that serve it (security, chat service, stream encoder) note what they
know (tenant, model, tokens, error class) with the ``note_*`` functions, and the
middleware writes it all out once the response has ended. Outside a request (the CLI
chatting in-process) the functions do nothing.

The facts object is shared by reference: tasks that a request starts (a streamed
response's body, the model prefetch) copy the context, and with it the same object.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode, Tracer

__all__ = [
    "RequestFacts",
    "child_span",
    "current_facts",
    "note",
    "note_error",
]


@dataclass(slots=True)
class RequestFacts:
    """One request's identity and what the layers serving it noted."""

    request_id: str
    trace_id: str
    #: The request's server span and the tracer for its children; None when tracing is
    #: off (then no span object is made anywhere).
    span: Span | None = None
    tracer: Tracer | None = None
    tenant: str | None = None
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    first_token_ms: float | None = None
    cached: bool | None = None
    error_class: str | None = None
    rate_limit_bucket: str | None = None
    #: The span new children hang under (the request span, or ``chat.turn`` inside it).
    parent: Span | None = None


_current: ContextVar[RequestFacts | None] = ContextVar("alice_request_facts", default=None)


def current_facts() -> RequestFacts | None:
    """The facts of the request being served, or None outside a request."""
    return _current.get()


def bind(facts: RequestFacts) -> Any:
    """Make ``facts`` the current request's; returns the token for `unbind`."""
    return _current.set(facts)


def unbind(token: Any) -> None:
    """Undo `bind`."""
    _current.reset(token)


def note(**values: Any) -> None:
    """Record facts about the current request (``model=...``, ``tenant=...``)."""
    facts = _current.get()
    if facts is None:
        return
    for name, value in values.items():
        setattr(facts, name, value)


def note_error(code: str) -> None:
    """Record the stable error code a request (or its stream) ended with."""
    facts = _current.get()
    if facts is not None:
        facts.error_class = code


@contextmanager
def child_span(
    name: str, attributes: dict[str, Any] | None = None, *, nest: bool = False
) -> Iterator[Span]:
    """A span under the current request's span; a no-op span when tracing is off.

    Spans are started and ended explicitly rather than made "current": turns run in
    async generators that are resumed from other tasks, where attaching and detaching a
    context would not pair up. ``nest=True`` makes later children hang under this span.
    """
    facts = _current.get()
    if facts is None or facts.tracer is None or facts.parent is None:
        yield trace.INVALID_SPAN
        return
    parent = facts.parent
    span = facts.tracer.start_span(
        name, context=trace.set_span_in_context(parent), attributes=attributes
    )
    if nest:
        facts.parent = span
    try:
        yield span
    except BaseException as exc:
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        code = getattr(exc, "code", None)
        if isinstance(code, str):
            span.set_attribute("alice.error_class", code)
        raise
    finally:
        if nest:
            facts.parent = parent
        span.end()
