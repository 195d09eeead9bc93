"""The data that flows between the chat service and a model provider."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["ChatMessage", "Chunk", "CompletionRequest", "FinishReason", "Role", "Usage"]

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "error", "cancelled"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a dialogue as the model sees it."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one completion."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """What to generate: a dialogue plus sampling parameters."""

    messages: tuple[ChatMessage, ...]
    model: str
    max_tokens: int
    temperature: float = 0.7
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if not self.messages:
            raise ValueError("a completion needs at least one message")
        if self.max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a streamed completion.

    Text chunks carry ``text``; the last chunk of a stream carries ``finish_reason`` and
    ``usage`` (and possibly a last piece of text). The router sets ``model`` on the last
    chunk to the model that actually answered.
    """

    text: str = ""
    finish_reason: FinishReason | None = None
    usage: Usage | None = field(default=None)
    model: str | None = None
