"""Speech to text: the `SpeechToText` protocol and what engines return.

Engines: `WhisperSpeechToText` (faster-whisper, offline, the default) and
`OpenAISpeechToText` (any server with OpenAI's ``/audio/transcriptions`` and
``/audio/translations``). Both also translate speech straight to English (Whisper's
``translate`` task), which is how the pipeline's default translation works.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from alice.voice.audio import Audio

__all__ = ["SpeechToText", "SttTask", "Transcript", "TranscriptSegment"]

SttTask = Literal["transcribe", "translate"]


@dataclass(frozen=True, slots=True)
class TranscriptSegment:
    """A stretch of the transcript with its times in the audio."""

    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True, slots=True)
class Transcript:
    """What was said (or, for ``translate``, its English translation)."""

    text: str
    #: The language of the speech (given, or detected by the engine).
    language: str
    #: Seconds of audio recognised; with the run time, the real-time factor.
    audio_s: float
    segments: tuple[TranscriptSegment, ...] = ()
    engine: str = ""


class SpeechToText(Protocol):
    """Turns speech into text."""

    #: Short engine name, for events, metrics and logs.
    name: str

    async def start(self) -> None:
        """Load what the engine needs (idempotent)."""
        ...

    async def transcribe(
        self,
        audio: Audio,
        *,
        language: str | None = None,
        task: SttTask = "transcribe",
        prompt: str | None = None,
    ) -> Transcript:
        """Recognise 16 kHz mono speech.

        Raises:
            SpeechToTextError: the engine failed (``transient`` when another try or
                engine may succeed).
        """
        ...

    async def aclose(self) -> None:
        """Release the engine."""
        ...
