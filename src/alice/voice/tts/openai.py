"""Speech by any server with OpenAI's ``/audio/speech``.

OpenAI, speaches, LocalAI, Kokoro servers: Alice asks for raw PCM16 and streams it on as
it arrives.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from alice.errors import TextToSpeechError
from alice.llm.providers._http import UpstreamConfig
from alice.voice._remote import RemoteAudio
from alice.voice.audio import Audio, from_pcm16

__all__ = ["OpenAITextToSpeech"]

# Bytes of PCM16 handed on at a time: 0.1 s at 24 kHz.
_CHUNK_BYTES = 4800


class OpenAITextToSpeech:
    """`TextToSpeech` through an OpenAI-compatible audio server."""

    name = "openai"
    heavy = False  # the work happens elsewhere

    def __init__(
        self,
        config: UpstreamConfig,
        *,
        model: str,
        voice: str,
        rate: int = 24_000,
        languages: frozenset[str] = frozenset({"en"}),
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._model = model
        self._voice = voice
        self._rate = rate
        self._languages = languages
        self._remote = RemoteAudio(config, error=TextToSpeechError, transport=transport)

    def speaks(self, language: str) -> bool:
        """Whether the configured voice is for ``language``."""
        return language.split("-")[0].lower() in self._languages

    async def start(self) -> None:
        """Nothing to load."""

    async def synthesize(self, text: str, *, language: str) -> AsyncIterator[Audio]:
        """Stream the server's PCM16 as mono chunks at the configured rate."""
        payload = {
            "model": self._model,
            "input": text,
            "voice": self._voice,
            "response_format": "pcm",
        }
        pending = b""
        async with self._remote.stream_json("/audio/speech", payload) as response:
            async for data in response.aiter_bytes():
                pending += data
                if len(pending) >= _CHUNK_BYTES:
                    whole = len(pending) - len(pending) % 2
                    yield from_pcm16(pending[:whole], rate=self._rate)
                    pending = pending[whole:]
        if len(pending) >= 2:
            yield from_pcm16(pending[: len(pending) - len(pending) % 2], rate=self._rate)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._remote.aclose()
