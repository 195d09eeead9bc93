"""The one seam between Alice and a model backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from alice.health import ComponentHealth, HealthState
from alice.llm.types import Chunk, CompletionRequest

__all__ = ["ComponentHealth", "HealthState", "Provider"]


@runtime_checkable
class Provider(Protocol):
    """A streaming model backend.

    Implementations map their vendor's errors onto `alice.errors.ModelError` subclasses;
    nothing else may escape `stream`. A stream ends with exactly one chunk that carries a
    ``finish_reason``. Closing the iterator early (the client went away) must stop the
    generation.
    """

    name: str

    @property
    def models(self) -> tuple[str, ...]:
        """Model names this provider serves, the default first."""
        ...

    async def start(self) -> None:
        """Acquire resources (load weights, open connection pools)."""
        ...

    async def aclose(self) -> None:
        """Release everything `start` acquired."""
        ...

    def stream(self, request: CompletionRequest) -> AsyncIterator[Chunk]:
        """Generate a completion, chunk by chunk."""
        ...

    async def health(self) -> ComponentHealth:
        """Whether the provider can answer now."""
        ...
