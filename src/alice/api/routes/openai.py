"""The OpenAI-compatible API: ``/v1/chat/completions`` and ``/v1/models``.

The official ``openai`` SDK works against it unchanged. Each request is stored as a turn
of a conversation: a new one, or the one named by the ``X-Alice-Conversation-Id``
header; the answer names it in the same header. The client's messages are the model's
context (the OpenAI API is stateless); only the last user message and the answer are
stored, so a client that resends its history does not duplicate it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from typing import Annotated

import orjson
from fastapi import APIRouter, Header
from starlette.responses import Response

from alice.api.deps import ChatServiceDep, PriorityDep, SettingsDep, TenantDep
from alice.api.openai_schemas import (
    ChatCompletion,
    ChatCompletionChoice,
    ChatCompletionCreate,
    ChatCompletionMessage,
    InputMessage,
    ModelList,
    ModelPublic,
    UsagePublic,
)
from alice.api.schemas import error_responses
from alice.api.sse import sse_event
from alice.api.turns import prime_turn
from alice.chat import ChatService, TurnDelta, TurnEvent, TurnFinished, TurnRequest
from alice.errors import AliceError, InvalidRequestError, MessageTooLongError, PayloadTooLargeError
from alice.llm.types import ChatMessage, Role
from alice.settings import Settings

__all__ = ["router", "to_turn_request"]

router = APIRouter(prefix="/v1", tags=["openai"])

CONVERSATION_HEADER = "X-Alice-Conversation-Id"
_ROLES: dict[str, Role] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
}
_ERRORS = error_responses(404, 413, 422, 502, 503, 504)


def _text_of(message: InputMessage, index: int) -> str:
    field = f"messages.{index}.content"
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    texts = []
    for part in message.content:
        if part.type != "text" or part.text is None:
            raise InvalidRequestError(
                f"Content parts of type {part.type!r} are not supported; send text.", field=field
            )
        texts.append(part.text)
    return "".join(texts)


def to_turn_request(
    body: ChatCompletionCreate, settings: Settings, conversation_id: str | None
) -> TurnRequest:
    """Map an OpenAI chat completion request onto a chat turn.

    Raises:
        InvalidRequestError: the dialogue cannot be answered (no final user message,
            unsupported content).
        PayloadTooLargeError: too many messages, or one of them too long.
    """
    if len(body.messages) > settings.max_messages_per_request:
        raise PayloadTooLargeError(
            f"At most {settings.max_messages_per_request} messages are accepted per request.",
            field="messages",
        )
    context: list[ChatMessage] = []
    for index, message in enumerate(body.messages):
        role = _ROLES.get(message.role)
        if role is None:
            raise InvalidRequestError(
                f"Messages with role {message.role!r} are not supported yet.",
                field=f"messages.{index}.role",
            )
        text = _text_of(message, index)
        if len(text) > settings.max_message_chars:
            raise MessageTooLongError(
                f"Message {index} has {len(text)} characters; at most "
                f"{settings.max_message_chars} are accepted.",
                field=f"messages.{index}.content",
            )
        context.append(ChatMessage(role, text))
    last = context.pop()
    if last.role != "user":
        raise InvalidRequestError("The last message must be the user's.", field="messages")
    stop = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ())
    return TurnRequest(
        text=last.content,
        conversation_id=conversation_id,
        context=tuple(context),
        model=body.model,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        temperature=body.temperature,
        top_p=1.0 if body.top_p is None else body.top_p,
        stop=stop,
        seed=body.seed,
        user=body.user,
    )


class _ChunkEncoder:
    """Encodes turn events as ``chat.completion.chunk`` SSE frames."""

    def __init__(self, *, completion_id: str, model: str, include_usage: bool) -> None:
        self._head = {"id": completion_id, "object": "chat.completion.chunk"}
        self._created = int(time.time())
        self._model = model
        self._include_usage = include_usage
        self._sent_role = False

    def _frame(self, delta: dict[str, str], finish: str | None) -> bytes:
        chunk: dict[str, object] = {
            **self._head,
            "created": self._created,
            "model": self._model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if self._include_usage:
            chunk["usage"] = None
        return sse_event(chunk)

    def __call__(self, event: TurnEvent) -> bytes | None:
        if isinstance(event, TurnDelta):
            delta = {"content": event.text}
            if not self._sent_role:
                delta["role"] = "assistant"
                self._sent_role = True
            return self._frame(delta, None)
        if not isinstance(event, TurnFinished):
            return None
        frames = self._frame({}, event.finish_reason)
        if self._include_usage:
            frames += sse_event(
                {
                    **self._head,
                    "created": self._created,
                    "model": self._model,
                    "system_fingerprint": None,
                    "choices": [],
                    "usage": _usage(event).model_dump(),
                }
            )
        return frames


def _usage(event: TurnFinished) -> UsagePublic:
    return UsagePublic(
        prompt_tokens=event.usage.prompt_tokens,
        completion_tokens=event.usage.completion_tokens,
        total_tokens=event.usage.total_tokens,
    )


def _error_frame(exc: AliceError) -> bytes:
    return sse_event({"error": {"code": exc.code, "message": exc.message, "type": exc.code}})


_DONE = b"data: [DONE]\n\n"


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={**_ERRORS, 200: {"content": {"text/event-stream": {}}}},
)
async def create_chat_completion(
    body: ChatCompletionCreate,
    service: ChatServiceDep,
    settings: SettingsDep,
    tenant: TenantDep,
    priority: PriorityDep,
    conversation_id: Annotated[str | None, Header(alias=CONVERSATION_HEADER)] = None,
) -> Response:
    """Create a chat completion, streamed as ``chat.completion.chunk`` events or whole."""
    request = replace(to_turn_request(body, settings, conversation_id), priority=priority)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    if body.stream:
        turn = await prime_turn(service, request, tenant_id=tenant)
        encoder = _ChunkEncoder(
            completion_id=completion_id,
            model=body.model,
            include_usage=bool(body.stream_options and body.stream_options.include_usage),
        )
        return turn.response(
            encoder,
            _error_frame,
            trailer=_DONE,
            headers={CONVERSATION_HEADER: turn.conversation_id},
        )
    result = await service.complete(request, tenant_id=tenant)
    finished = result.finished
    completion = ChatCompletion(
        id=completion_id,
        created=int(time.time()),
        model=finished.model,
        choices=[
            ChatCompletionChoice(
                message=ChatCompletionMessage(content=finished.text),
                finish_reason=finished.finish_reason,
            )
        ],
        usage=_usage(finished),
    )
    return Response(
        orjson.dumps(completion.model_dump()),
        media_type="application/json",
        headers={CONVERSATION_HEADER: finished.conversation_id},
    )


def model_list(service: ChatService) -> ModelList:
    """The models the active provider serves."""
    return ModelList(
        data=[ModelPublic(id=m, created=0, owned_by="alice") for m in service.router.models]
    )


@router.get("/models", response_model=ModelList)
async def list_models(service: ChatServiceDep) -> ModelList:
    """List the models Alice serves."""
    return model_list(service)
