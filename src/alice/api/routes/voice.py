"""Alice's voice API: ``POST /api/voice/turn`` and the ``/api/voice/stream`` WebSocket.

``/api/voice/turn`` takes a recording (multipart field ``file``, any common format) and
answers ``{"transcript", "translation", "answer", "audio", ...}`` with ``audio`` a
base64 English WAV; with ``Accept: audio/wav`` the WAV itself (ids and texts in
``X-Alice-*`` headers, URL-encoded).

``/api/voice/stream`` is a live conversation. Query: ``sample_rate`` (16000), ``channels``
(1), ``conversation_id``, ``speak`` (true). The client sends binary frames of PCM16 and
may send text frames ``{"type": "end"}`` (the user stopped: push-to-talk),
``{"type": "cancel"}`` (stop the answer) or ``{"type": "close"}``. The server sends
each pipeline event as a JSON text frame ``{"type", "data"}``; a ``tts-audio`` event is
followed by one binary frame with its PCM16 (rate in ``tts-start``). Errors are
``error`` events; bad input to the handshake closes it with code 1008 or 1003.
"""

from __future__ import annotations

import base64
import contextlib
import urllib.parse
from typing import Annotated, Any

import orjson
import structlog
from fastapi import APIRouter, File, Form, Header, Query, Request, UploadFile, WebSocket
from pydantic import BaseModel, Field
from starlette.responses import Response
from starlette.websockets import WebSocketDisconnect

from alice.api.deps import PriorityDep, TenantDep
from alice.api.routes._voice import pipeline_of, read_upload
from alice.api.schemas import error_responses
from alice.errors import AliceError, InvalidRequestError, error_for_code
from alice.security.keys import Principal
from alice.voice import EventType, PipelineEvent, VoiceRequest, decode_audio
from alice.voice.audio import wav_bytes
from alice.voice.session import VoiceSession

__all__ = ["router"]

log = structlog.get_logger("alice.api.voice")

router = APIRouter(tags=["voice"])

_ERRORS = error_responses(404, 413, 415, 422, 502, 503, 504)


class VoiceTurnPublic(BaseModel):
    """One spoken turn."""

    transcript: str = Field(description="What the user said, in their language.")
    translation: str = Field(description="What they said, in the output language.")
    answer: str = Field(description="Alice's answer (empty when nothing was said).")
    audio: str | None = Field(description="The answer spoken: a base64 WAV (PCM16 mono).")
    conversation_id: str | None = None
    message_id: str | None = None
    language: str = Field(description="The language of the speech.")
    ttfa_ms: float | None = Field(
        None, description="End of the upload to the first audio of the answer, in ms."
    )
    stages_ms: dict[str, float] = Field(default_factory=dict)


class _TurnCollector:
    """Gathers a run's events into the turn's result."""

    def __init__(self) -> None:
        self.transcript = ""
        self.translation = ""
        self.answer = ""
        self.language = ""
        self.conversation_id: str | None = None
        self.message_id: str | None = None
        self.audio: list[bytes] = []
        self.error: AliceError | None = None
        self.end: dict[str, Any] = {}

    def take(self, event: PipelineEvent) -> None:
        data = event.data
        match event.type:
            case EventType.STT_END:
                self.transcript, self.language = data["text"], data["language"]
            case EventType.TRANSLATE_END:
                self.translation = data["text"]
            case EventType.CHAT_START:
                self.conversation_id = data["conversation_id"]
            case EventType.CHAT_END:
                self.answer, self.message_id = data["text"], data["message_id"]
            case EventType.TTS_AUDIO:
                self.audio.append(data["audio"])
            case EventType.ERROR:
                self.error = error_for_code(data["code"], data["message"])
            case EventType.RUN_END:
                self.end = data
            case _:
                pass


@router.post(
    "/api/voice/turn",
    response_model=VoiceTurnPublic,
    responses={
        **_ERRORS,
        200: {
            "description": "The turn; the WAV with Accept: audio/wav.",
            "content": {"audio/wav": {}},
        },
    },
)
async def voice_turn(
    request: Request,
    tenant: TenantDep,
    priority: PriorityDep,
    file: Annotated[UploadFile, File(description="The user's speech, any common format.")],
    conversation_id: Annotated[str | None, Form()] = None,
    speak: Annotated[bool, Form(description="Speak the answer.")] = True,
    max_tokens: Annotated[int | None, Form(ge=1)] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """Speak to Alice: Swedish speech in, the English answer as text and speech out."""
    pipeline = pipeline_of(request)
    audio = decode_audio(await read_upload(file), max_seconds=pipeline.config.max_audio_s)
    wants_wav = accept is not None and "audio/wav" in accept
    voice_request = VoiceRequest(
        tenant_id=tenant,
        conversation_id=conversation_id or None,
        max_tokens=max_tokens,
        priority=priority,
        speak=speak or wants_wav,
    )
    result = _TurnCollector()
    async for event in pipeline.run(audio, voice_request):
        result.take(event)
    if result.error is not None:
        raise result.error
    rate = pipeline.config.output_rate
    wav = wav_bytes(b"".join(result.audio), rate) if result.audio else None
    if wants_wav:
        headers = {
            "X-Alice-Transcript": urllib.parse.quote(result.transcript),
            "X-Alice-Translation": urllib.parse.quote(result.translation),
            "X-Alice-Answer": urllib.parse.quote(result.answer[:2000]),
        }
        if result.conversation_id:
            headers["X-Alice-Conversation-Id"] = result.conversation_id
        return Response(wav or wav_bytes(b"", rate), media_type="audio/wav", headers=headers)
    body = VoiceTurnPublic(
        transcript=result.transcript,
        translation=result.translation,
        answer=result.answer,
        audio=base64.b64encode(wav).decode("ascii") if wav else None,
        conversation_id=result.conversation_id,
        message_id=result.message_id,
        language=result.language or pipeline.config.input_language,
        ttfa_ms=result.end.get("ttfa_ms"),
        stages_ms=result.end.get("stages_ms") or {},
    )
    return Response(body.model_dump_json(), media_type="application/json")


def _tenant_of(websocket: WebSocket) -> str | None:
    principal: Principal | None = websocket.scope.get("state", {}).get("principal")
    if principal is None or not principal.allows("chat"):
        return None
    return principal.tenant_id


@router.websocket("/api/voice/stream")
async def voice_stream(
    websocket: WebSocket,
    sample_rate: Annotated[int, Query(ge=8000, le=48000)] = 16000,
    channels: Annotated[int, Query(ge=1, le=8)] = 1,
    conversation_id: Annotated[str | None, Query()] = None,
    speak: Annotated[bool, Query()] = True,
) -> None:
    """A live voice conversation (see the module docstring for the protocol)."""
    tenant = _tenant_of(websocket)
    if tenant is None:
        await websocket.close(code=1008, reason="This API key has no 'chat' scope.")
        return
    try:
        pipeline = pipeline_of(websocket)
    except AliceError as exc:
        await websocket.close(code=1013, reason=exc.message[:120])
        return
    await websocket.accept()

    async def send(event: PipelineEvent) -> None:
        frame = event.as_json()
        audio = event.data.get("audio")
        if isinstance(audio, bytes):
            frame["data"]["bytes"] = len(audio)
        await websocket.send_text(orjson.dumps(frame).decode())
        if isinstance(audio, bytes):
            await websocket.send_bytes(audio)

    try:
        session = VoiceSession(
            pipeline,
            VoiceRequest(tenant_id=tenant, conversation_id=conversation_id, speak=speak),
            send=send,
            rate=sample_rate,
            channels=channels,
        )
    except AliceError as exc:
        await send(PipelineEvent(EventType.ERROR, {"code": exc.code, "message": exc.message}))
        await websocket.close(code=1003, reason=exc.code)
        return
    try:
        await _serve(websocket, session, send)
    except WebSocketDisconnect:
        pass  # the client left: the work stops below
    finally:
        await session.aclose()
        # The client may have gone while the run was stopping: nothing left to close.
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close()


async def _serve(websocket: WebSocket, session: VoiceSession, send: Any) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("bytes") is not None:
            try:
                await session.feed(message["bytes"])
            except AliceError as exc:
                await send(
                    PipelineEvent(EventType.ERROR, {"code": exc.code, "message": exc.message})
                )
            continue
        command = _command(message.get("text") or "")
        if command == "end":
            await session.end_of_speech()
        elif command == "cancel":
            await session.cancel()
        elif command == "close":
            await session.end_of_speech()
            await session.wait()
            return
        else:
            bad = InvalidRequestError(
                'Text frames are commands: {"type": "end" | "cancel" | "close"}.'
            )
            await send(PipelineEvent(EventType.ERROR, {"code": bad.code, "message": bad.message}))


def _command(text: str) -> str | None:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    return kind if kind in ("end", "cancel", "close") else None
