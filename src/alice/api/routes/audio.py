"""OpenAI-compatible audio: ``/v1/audio/transcriptions``, ``/translations``, ``/speech``.

Clients of OpenAI's audio API (the ``openai`` SDK, LangChain, Open WebUI) work against
Alice unchanged. Uploads are any format PyAV decodes; speech comes back as WAV or raw
PCM16 (``response_format`` ``wav``/``pcm``; OpenAI's compressed formats are refused
with 422 naming what is supported). The ``model`` field is accepted and reported, but
the engines are Alice's configured chain.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response, StreamingResponse

from alice.api.routes._voice import pipeline_of, read_upload
from alice.api.schemas import error_responses
from alice.errors import InvalidRequestError
from alice.voice import Transcript, decode_audio
from alice.voice.audio import wav_bytes

__all__ = ["router"]

router = APIRouter(tags=["audio"])

_ERRORS = error_responses(413, 415, 422, 502, 503)
TranscriptFormat = Literal["json", "text", "verbose_json", "srt", "vtt"]


class TranscriptionPublic(BaseModel):
    """A transcript (``response_format=json``)."""

    text: str


class SpeechCreate(BaseModel):
    """Text to speak (OpenAI's ``/v1/audio/speech`` body)."""

    model_config = ConfigDict(extra="ignore")

    input: str = Field(min_length=1, max_length=4096, description="The text to speak.")
    model: str = Field("alice", description="Accepted for compatibility.")
    voice: str = Field("default", description="Accepted for compatibility.")
    response_format: Literal["wav", "pcm", "mp3", "opus", "aac", "flac"] = "wav"
    speed: float = Field(1.0, ge=0.25, le=4.0)
    language: str | None = Field(
        None, pattern=r"^[a-z]{2}$", description="Alice extension: language of the text."
    )


def _timestamp(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def render_transcript(transcript: Transcript, fmt: TranscriptFormat, task: str) -> Response:
    """The transcript in one of OpenAI's response formats."""
    if fmt == "text":
        return Response(transcript.text + "\n", media_type="text/plain; charset=utf-8")
    if fmt in ("srt", "vtt"):
        sep = "," if fmt == "srt" else "."
        cues = [
            (f"{i}\n" if fmt == "srt" else "")
            + f"{_timestamp(s.start_s, sep)} --> {_timestamp(s.end_s, sep)}\n{s.text}\n"
            for i, s in enumerate(transcript.segments, start=1)
        ]
        body = ("WEBVTT\n\n" if fmt == "vtt" else "") + "\n".join(cues)
        media = "text/vtt" if fmt == "vtt" else "application/x-subrip"
        return Response(body, media_type=f"{media}; charset=utf-8")
    if fmt == "verbose_json":
        body_json = {
            "task": task,
            "language": transcript.language,
            "duration": round(transcript.audio_s, 3),
            "text": transcript.text,
            "segments": [
                {"id": i, "start": s.start_s, "end": s.end_s, "text": s.text}
                for i, s in enumerate(transcript.segments)
            ],
        }
        return Response(_json(body_json), media_type="application/json")
    return Response(_json({"text": transcript.text}), media_type="application/json")


def _json(value: object) -> bytes:
    import orjson

    return orjson.dumps(value)


async def _recognise(
    request: Request,
    file: UploadFile,
    *,
    language: str | None,
    task: Literal["transcribe", "translate"],
    fmt: TranscriptFormat,
) -> Response:
    pipeline = pipeline_of(request)
    audio = decode_audio(await read_upload(file), max_seconds=pipeline.config.max_audio_s)
    transcript = await pipeline.transcribe(audio, language=language, task=task)
    return render_transcript(transcript, fmt, task)


@router.post(
    "/v1/audio/transcriptions",
    response_model=TranscriptionPublic,
    responses={**_ERRORS, 200: {"content": {"text/plain": {}, "text/vtt": {}}}},
)
async def transcriptions(
    request: Request,
    file: Annotated[UploadFile, File(description="Audio in any common format.")],
    model: Annotated[str, Form()] = "whisper-1",
    language: Annotated[str | None, Form(pattern=r"^[a-z]{2}$")] = None,
    prompt: Annotated[str | None, Form(max_length=500)] = None,
    response_format: Annotated[TranscriptFormat, Form()] = "json",
    temperature: Annotated[float, Form(ge=0, le=1)] = 0.0,
) -> Response:
    """Speech to text (OpenAI-compatible); the language is detected when not given."""
    return await _recognise(
        request, file, language=language, task="transcribe", fmt=response_format
    )


@router.post(
    "/v1/audio/translations",
    response_model=TranscriptionPublic,
    responses={**_ERRORS, 200: {"content": {"text/plain": {}, "text/vtt": {}}}},
)
async def translations(
    request: Request,
    file: Annotated[UploadFile, File(description="Audio in any common format.")],
    model: Annotated[str, Form()] = "whisper-1",
    prompt: Annotated[str | None, Form(max_length=500)] = None,
    response_format: Annotated[TranscriptFormat, Form()] = "json",
    temperature: Annotated[float, Form(ge=0, le=1)] = 0.0,
) -> Response:
    """Speech in any language to English text (OpenAI-compatible)."""
    return await _recognise(request, file, language=None, task="translate", fmt=response_format)


@router.post(
    "/v1/audio/speech",
    response_class=Response,
    responses={
        **_ERRORS,
        200: {"description": "The speech.", "content": {"audio/wav": {}, "audio/pcm": {}}},
    },
)
async def speech(request: Request, body: SpeechCreate) -> Response:
    """Text to speech (OpenAI-compatible): WAV, or raw PCM16 streamed as it is made."""
    if body.response_format not in ("wav", "pcm"):
        raise InvalidRequestError(
            f"response_format {body.response_format!r} is not served here; use wav or pcm.",
            field="response_format",
        )
    pipeline = pipeline_of(request)
    rate = pipeline.config.output_rate
    chunks = pipeline.speak(body.input, language=body.language)
    # The first chunk is made before answering, so a failing engine chain is a clean
    # JSON error rather than a broken stream.
    first = await anext(chunks)
    if body.response_format == "wav":
        parts = [first.pcm16()]
        parts.extend([audio.pcm16() async for audio in chunks])
        return Response(wav_bytes(b"".join(parts), rate), media_type="audio/wav")

    async def rest() -> object:
        yield first.pcm16()
        async for audio in chunks:
            yield audio.pcm16()

    return StreamingResponse(
        rest(),  # type: ignore[arg-type]
        media_type="audio/pcm",
        headers={"X-Sample-Rate": str(rate), "X-Audio-Format": "s16le; channels=1"},
    )
