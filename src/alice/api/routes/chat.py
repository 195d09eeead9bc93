"""``POST /api/chat``: Alice's native chat API, whole or as Server-Sent Events.

Stream events: ``start`` (ids of the stored user message), ``delta`` (``{"text"}``) for
each piece of the answer, then ``done`` (ids, model, usage) once the answer is stored, or
``error`` (``{"error": {"code", "message"}}``) if it failed.
"""

from __future__ import annotations

import base64

from fastapi import APIRouter, Request
from starlette.responses import Response

from alice.api.deps import ChatServiceDep, PriorityDep, TenantDep
from alice.api.routes._voice import pipeline_of
from alice.api.schemas import ChatCreate, ChatPublic, UsagePublic, error_responses
from alice.api.sse import sse_event
from alice.api.turns import prime_turn
from alice.chat import TurnDelta, TurnEvent, TurnFinished, TurnRequest, TurnStarted
from alice.errors import AliceError, InvalidRequestError
from alice.voice.audio import wav_bytes

__all__ = ["router"]

router = APIRouter(tags=["chat"])

_ERRORS = error_responses(404, 413, 422, 502, 503, 504)


def _encode(event: TurnEvent) -> bytes:
    if isinstance(event, TurnDelta):
        return sse_event({"text": event.text}, event="delta")
    if isinstance(event, TurnStarted):
        return sse_event(
            {
                "conversation_id": event.conversation_id,
                "user_message_id": event.message_id,
                "model": event.model,
            },
            event="start",
        )
    return sse_event(_public(event).model_dump(exclude={"text", "user_message_id"}), event="done")


def _public(event: TurnFinished, user_message_id: str = "") -> ChatPublic:
    return ChatPublic(
        conversation_id=event.conversation_id,
        message_id=event.message_id,
        user_message_id=user_message_id,
        text=event.text,
        model=event.model,
        finish_reason=event.finish_reason,
        usage=UsagePublic.of(event.usage),
        offline=event.offline,
        cached=event.cached,
    )


def _error_frame(exc: AliceError) -> bytes:
    return sse_event(exc.to_dict(), event="error")


@router.post(
    "/api/chat",
    response_model=ChatPublic,
    responses={
        **_ERRORS,
        200: {
            "description": "The answer; with `stream: true`, a `text/event-stream`.",
            "content": {"text/event-stream": {}},
        },
    },
)
async def chat(
    http: Request,
    body: ChatCreate,
    service: ChatServiceDep,
    tenant: TenantDep,
    priority: PriorityDep,
) -> Response:
    """Send a message and get Alice's answer (streamed with ``"stream": true``)."""
    request = TurnRequest(
        text=body.text,
        conversation_id=body.conversation_id,
        model=body.model,
        max_tokens=body.max_tokens,
        temperature=body.temperature,
        user=body.user,
        priority=priority,
    )
    if body.stream:
        if body.voice:
            raise InvalidRequestError(
                '"voice": true answers whole; for streamed speech use /api/voice/stream.',
                field="voice",
            )
        turn = await prime_turn(service, request, tenant_id=tenant)
        return turn.response(_encode, _error_frame)
    # Checked before the turn: with voice off, nothing is stored for an answer that fails.
    pipeline = pipeline_of(http) if body.voice else None
    result = await service.complete(request, tenant_id=tenant)
    public = _public(result.finished, result.started.message_id)
    if pipeline is not None and result.finished.text.strip():
        pcm = [audio.pcm16() async for audio in pipeline.speak(result.finished.text)]
        wav = wav_bytes(b"".join(pcm), pipeline.config.output_rate)
        public.audio = base64.b64encode(wav).decode("ascii")
    return Response(public.model_dump_json(), media_type="application/json")
