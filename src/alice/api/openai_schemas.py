"""Bodies of the OpenAI-compatible API (the subset of chat completions Alice serves).

Requests accept and ignore fields Alice has no use for, as OpenAI-compatible servers
do, so that existing clients work unchanged; fields whose meaning Alice cannot honour
(``n`` > 1, images) are refused with 422 instead of being silently ignored.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ChatCompletion",
    "ChatCompletionChoice",
    "ChatCompletionCreate",
    "ChatCompletionMessage",
    "ContentPart",
    "InputMessage",
    "ModelList",
    "ModelPublic",
    "StreamOptions",
    "UsagePublic",
]


class ContentPart(BaseModel):
    """One part of a multi-part message; only text parts are supported."""

    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class InputMessage(BaseModel):
    """A message of the dialogue sent by the client."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None


class StreamOptions(BaseModel):
    """Streaming switches."""

    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionCreate(BaseModel):
    """``POST /v1/chat/completions`` request."""

    # Unknown OpenAI parameters are accepted (and ignored); known ones are typed strictly.
    model_config = ConfigDict(extra="allow", strict=True)

    model: str = Field(min_length=1)
    messages: list[InputMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int | None = Field(None, ge=1, le=1, description="Only 1 is supported.")
    user: str | None = Field(
        None,
        min_length=1,
        max_length=256,
        description="The end user (for GDPR export and erasure); stored as a keyed hash.",
    )


class ChatCompletionMessage(BaseModel):
    """The assistant's answer."""

    role: Literal["assistant"] = "assistant"
    content: str


class ChatCompletionChoice(BaseModel):
    """One answer (Alice always gives one)."""

    index: int = 0
    message: ChatCompletionMessage
    finish_reason: str
    logprobs: None = None


class UsagePublic(BaseModel):
    """Token counts, as OpenAI reports them."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    """``POST /v1/chat/completions`` response (non-streaming)."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatCompletionChoice]
    usage: UsagePublic
    system_fingerprint: str | None = None


class ModelPublic(BaseModel):
    """A model served by Alice."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    """``GET /v1/models`` response."""

    object: Literal["list"] = "list"
    data: list[ModelPublic]
