"""Speech recognition by any server with OpenAI's audio API (``/audio/transcriptions``).

Works with OpenAI itself, faster-whisper-server / speaches, LocalAI, vLLM's Whisper
serving. Translation uses ``/audio/translations`` (speech straight to English).
"""

from __future__ import annotations

from typing import Any

import httpx

from alice.errors import SpeechToTextError
from alice.llm.providers._http import UpstreamConfig
from alice.voice._remote import RemoteAudio
from alice.voice.audio import SPEECH_RATE, Audio
from alice.voice.stt import SttTask, Transcript, TranscriptSegment

__all__ = ["OpenAISpeechToText", "parse_transcription"]


def parse_transcription(
    body: dict[str, Any], *, language: str | None, audio_s: float, engine: str
) -> Transcript:
    """A `Transcript` from a ``verbose_json`` (or plain ``json``) answer."""
    text = body.get("text")
    if not isinstance(text, str):
        raise SpeechToTextError("The audio server's answer has no text.", transient=False)
    segments = tuple(
        TranscriptSegment(
            float(s.get("start", 0)), float(s.get("end", 0)), str(s.get("text", "")).strip()
        )
        for s in body.get("segments") or ()
        if isinstance(s, dict)
    )
    return Transcript(
        text=text.strip(),
        language=language or str(body.get("language") or ""),
        audio_s=audio_s,
        segments=segments,
        engine=engine,
    )


class OpenAISpeechToText:
    """`SpeechToText` through an OpenAI-compatible audio server."""

    name = "openai"

    def __init__(
        self,
        config: UpstreamConfig,
        *,
        model: str,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._model = model
        self._remote = RemoteAudio(config, error=SpeechToTextError, transport=transport)

    async def start(self) -> None:
        """Nothing to load."""

    async def transcribe(
        self,
        audio: Audio,
        *,
        language: str | None = None,
        task: SttTask = "transcribe",
        prompt: str | None = None,
    ) -> Transcript:
        """Send the audio as a WAV and read the transcript (or English translation)."""
        speech = audio.resampled(SPEECH_RATE)
        form = {"model": self._model, "response_format": "verbose_json", "temperature": "0"}
        if language and task == "transcribe":
            form["language"] = language
        if prompt:
            form["prompt"] = prompt
        path = "/audio/transcriptions" if task == "transcribe" else "/audio/translations"
        response = await self._remote.post_form(
            path, data=form, files={"file": ("speech.wav", speech.wav(), "audio/wav")}
        )
        try:
            body = response.json()
        except ValueError as exc:
            raise SpeechToTextError("The audio server's answer is not JSON.") from exc
        if not isinstance(body, dict):
            raise SpeechToTextError("The audio server's answer is not an object.")
        return parse_transcription(
            body,
            language=language if task == "transcribe" else "en",
            audio_s=speech.duration_s,
            engine=self.name,
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._remote.aclose()
