"""Logging now; metrics and tracing later."""

from alice.observability.logging import configure_logging

__all__ = ["configure_logging"]
