"""Logs, metrics, traces: what Alice tells an operator (see docs/observability.md)."""

from alice.observability.context import RequestFacts, child_span, current_facts, note, note_error
from alice.observability.logging import configure_logging
from alice.observability.metrics import Metrics, StateSources
from alice.observability.middleware import ObservabilityMiddleware
from alice.observability.tracing import Tracing

__all__ = [
    "Metrics",
    "ObservabilityMiddleware",
    "RequestFacts",
    "StateSources",
    "Tracing",
    "child_span",
    "configure_logging",
    "current_facts",
    "note",
    "note_error",
]
