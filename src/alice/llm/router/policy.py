"""Retry, fail over or give up: decided here, from the error's category, and nowhere else.

- ``client``: the request itself is wrong (too long for the context, rejected by the
  model server as invalid). Another attempt or backend would fail the same way.
- ``transient``: the backend is busy, unreachable, timed out or broke off. Retry the
  same backend with backoff, then fail over.
- ``backend``: the backend answered with a lasting error (refused credentials, model
  missing, an internal failure). Fail over without retrying.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from alice.errors import (
    AliceError,
    InvalidRequestError,
    ModelTimeoutError,
    ModelUnavailableError,
    OverloadedError,
    PayloadTooLargeError,
    UpstreamError,
)

__all__ = ["Backoff", "ErrorCategory", "category_of"]

ErrorCategory = Literal["client", "transient", "backend"]


def category_of(exc: AliceError) -> ErrorCategory:
    """How the router treats a failure before the first token."""
    if isinstance(exc, InvalidRequestError | PayloadTooLargeError):
        return "client"
    if isinstance(exc, ModelUnavailableError | ModelTimeoutError | OverloadedError):
        return "transient"
    if isinstance(exc, UpstreamError) and exc.transient:
        return "transient"
    return "backend"


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter (AWS architecture blog's recommendation)."""

    base_s: float = 0.1
    factor: float = 2.0
    max_s: float = 2.0
    retries: int = 2

    def __post_init__(self) -> None:
        if self.base_s < 0 or self.factor < 1 or self.max_s < 0 or self.retries < 0:
            raise ValueError("backoff values must be non-negative (factor at least 1)")

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        ceiling = min(self.max_s, self.base_s * self.factor ** (attempt - 1))
        return rng.uniform(0, ceiling)
