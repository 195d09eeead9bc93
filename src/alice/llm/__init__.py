"""Model providers behind one streaming protocol."""

from alice.llm.provider import ComponentHealth, HealthState, Provider
from alice.llm.types import ChatMessage, Chunk, CompletionRequest, FinishReason, Usage

__all__ = [
    "ChatMessage",
    "Chunk",
    "CompletionRequest",
    "ComponentHealth",
    "FinishReason",
    "HealthState",
    "Provider",
    "Usage",
]
