"""Text to speech: the `TextToSpeech` protocol.

Engines: `PiperTextToSpeech` (neural, offline, the bundled en_US voice; the default),
`EspeakTextToSpeech` (espeak-ng: robotic but tiny and fast, speaks Swedish too; the
fallback) and `OpenAITextToSpeech` (any server with OpenAI's ``/audio/speech``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from alice.voice.audio import Audio

__all__ = ["TextToSpeech"]


class TextToSpeech(Protocol):
    """Speaks text."""

    #: Short engine name, for events, metrics and logs.
    name: str
    #: Whether the engine is costly enough to skip under pressure when a lighter exists.
    heavy: bool

    def speaks(self, language: str) -> bool:
        """Whether the engine has a voice for ``language`` (``en``, ``sv``)."""
        ...

    async def start(self) -> None:
        """Load what the engine needs (idempotent)."""
        ...

    def synthesize(self, text: str, *, language: str) -> AsyncIterator[Audio]:
        """Speak ``text``: mono audio chunks at the engine's rate, in order.

        Raises:
            TextToSpeechError: the engine failed (``transient`` when another try or
                engine may succeed).
        """
        ...

    async def aclose(self) -> None:
        """Release the engine."""
        ...
