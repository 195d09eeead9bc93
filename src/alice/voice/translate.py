"""Translation of what the user said into the output language (English).

Two ways, chosen by ``ALICE_VOICE_TRANSLATE``:

* ``speech`` (default): the speech engine translates the audio itself (Whisper's
  ``translate`` task, or a remote ``/audio/translations``): no text round trip, and the
  offline default needs nothing beyond the STT model. Whisper translates to English only.
* ``llm``: the transcript is translated by the chat model (the router, so fallbacks and
  the Guardian apply). Better with a capable model; the bundled 270M model is weak at it.

When the speech already is in the output language, nothing is translated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

from alice.errors import AliceError, TranslationError, VoiceError
from alice.llm.router.router import ModelRouter
from alice.llm.types import ChatMessage, CompletionRequest
from alice.voice.audio import Audio
from alice.voice.chain import EngineChain
from alice.voice.stt import SpeechToText, Transcript

__all__ = ["LlmTranslator", "SpeechTranslator", "TranslateMode", "Translator"]

TranslateMode = Literal["speech", "llm", "off"]

_LANGUAGE_NAMES = {"sv": "Swedish", "en": "English", "no": "Norwegian", "da": "Danish"}


class Translator(Protocol):
    """Turns what was said into the output language."""

    name: str

    async def translate(self, transcript: Transcript, audio: Audio, *, target: str) -> str:
        """The translation of ``transcript`` (whose speech is ``audio``) into ``target``.

        Raises:
            TranslationError: translation failed.
        """
        ...


class SpeechTranslator:
    """Speech straight to English with the STT chain's ``translate`` task."""

    name = "speech"

    def __init__(self, stt: EngineChain[SpeechToText], *, prompt: Callable[[], str | None]) -> None:
        self._stt = stt
        self._prompt = prompt

    async def translate(self, transcript: Transcript, audio: Audio, *, target: str) -> str:
        """Whisper translates into English only; ``target`` must be ``en``."""
        if target != "en":
            raise TranslationError(
                "Speech translation produces English only; set ALICE_VOICE_TRANSLATE=llm "
                "for another output language.",
                transient=False,
            )

        async def run(engine: SpeechToText) -> Transcript:
            return await engine.transcribe(audio, language=transcript.language, task="translate")

        try:
            result, _engine = await self._stt.call(run)
        except VoiceError as exc:
            raise TranslationError(f"Translation failed: {exc.message}") from exc
        return result.text


class LlmTranslator:
    """The transcript translated by the chat model."""

    name = "llm"

    def __init__(self, router: ModelRouter, *, max_tokens: int = 256) -> None:
        self._router = router
        self._max_tokens = max_tokens

    async def translate(self, transcript: Transcript, audio: Audio, *, target: str) -> str:
        """Ask the model for a translation, deterministically (temperature 0)."""
        source = _LANGUAGE_NAMES.get(transcript.language, transcript.language)
        goal = _LANGUAGE_NAMES.get(target, target)
        request = CompletionRequest(
            messages=(
                ChatMessage(
                    "system",
                    f"You translate {source} into {goal}. Answer with the translation only.",
                ),
                ChatMessage("user", transcript.text),
            ),
            model=self._router.models[0],
            max_tokens=self._max_tokens,
            temperature=0.0,
            stop=("\n",),
        )
        parts: list[str] = []
        try:
            async for chunk in self._router.stream(request):
                parts.append(chunk.text)
        except AliceError as exc:
            raise TranslationError(f"Translation failed: {exc.message}") from exc
        text = "".join(parts).strip()
        if not text:
            raise TranslationError("The model returned no translation.")
        return text
