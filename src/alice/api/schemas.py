"""Request and response bodies of Alice's native API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from alice.llm.types import Usage
from alice.store.repository import ConversationRecord, MessageRecord

__all__ = [
    "ChatCreate",
    "ChatPublic",
    "ComponentPublic",
    "ConversationList",
    "ConversationPublic",
    "ConversationSummary",
    "ErrorBody",
    "ErrorResponse",
    "MessagePublic",
    "ReadyPublic",
    "UsagePublic",
    "error_responses",
]


class ErrorBody(BaseModel):
    """What went wrong, for machines (``code``) and people (``message``)."""

    code: str = Field(examples=["conversation-not-found"])
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    """Every error Alice answers with."""

    error: ErrorBody


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting the error body for ``statuses``."""
    return {status: {"model": ErrorResponse} for status in statuses}


class ChatCreate(BaseModel):
    """A user message to Alice."""

    # Strict: "max_tokens": true or "stream": "yes" are errors, not coerced.
    model_config = ConfigDict(extra="forbid", strict=True)

    text: str = Field(
        description="The user's message (not only whitespace).",
        examples=["Hej! Vad kan du göra?"],
        # Checked by the chat service, which names the problem ("The message is empty.").
        json_schema_extra={"pattern": r"\S"},
    )
    conversation_id: str | None = Field(
        None, description="Continue this conversation; omit to start a new one."
    )
    stream: bool = Field(False, description="Answer as Server-Sent Events.")
    voice: bool = Field(
        False,
        description="Also return the answer spoken (`audio`: a base64 WAV in "
        "ALICE_VOICE_OUTPUT_LANGUAGE's voice). Not with `stream`: /api/voice/stream "
        "streams speech.",
    )
    model: str | None = Field(None, description="A model from GET /v1/models.")
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    user: str | None = Field(
        None,
        min_length=1,
        max_length=256,
        description="The end user this conversation is about (for GDPR export and "
        "erasure); stored only as a keyed hash.",
    )


class UsagePublic(BaseModel):
    """Token counts of one answer."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def of(cls, usage: Usage) -> UsagePublic:
        """From the internal record."""
        return cls(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens,
        )


class ChatPublic(BaseModel):
    """Alice's answer to one message."""

    conversation_id: str
    message_id: str = Field(description="Id of the stored answer.")
    user_message_id: str = Field(description="Id of the stored user message.")
    text: str
    model: str = Field(description="The model that answered (a fallback may have).")
    finish_reason: str
    usage: UsagePublic
    offline: bool = Field(
        False, description="True when every model was down and this is the offline answer."
    )
    cached: bool = Field(False, description="True when the answer came from the cache.")
    audio: str | None = Field(
        None, description='With "voice": true, the answer spoken: a base64 WAV (PCM16 mono).'
    )


class MessagePublic(BaseModel):
    """A stored message."""

    id: str
    role: str
    content: str
    status: str = Field(description="complete | error | cancelled")
    model: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: int | None
    first_token_ms: int | None
    error_code: str | None
    created_at: datetime
    completed_at: datetime | None

    @classmethod
    def of(cls, record: MessageRecord) -> MessagePublic:
        """From the stored record."""
        return cls.model_validate(record, from_attributes=True)


class ConversationSummary(BaseModel):
    """A conversation without its messages."""

    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    message_count: int

    @classmethod
    def of(cls, record: ConversationRecord) -> ConversationSummary:
        """From the stored record."""
        return cls.model_validate(record, from_attributes=True)


class ConversationPublic(ConversationSummary):
    """A conversation with its messages, oldest first."""

    messages: list[MessagePublic]

    @classmethod
    def of(cls, record: ConversationRecord) -> ConversationPublic:
        """From the stored record."""
        return cls.model_validate(record, from_attributes=True)


class ConversationList(BaseModel):
    """A page of conversations, most recently active first."""

    data: list[ConversationSummary]
    limit: int
    offset: int


class ComponentPublic(BaseModel):
    """Health of one component."""

    state: str = Field(description="healthy | degraded | unhealthy")
    detail: str


class ReadyPublic(BaseModel):
    """Readiness of the whole process."""

    status: str = Field(description="ready | not-ready")
    components: dict[str, ComponentPublic]
