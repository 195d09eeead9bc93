"""Speech with espeak-ng (Debian's ``espeak-ng``): the fallback voice.

Robotic but tiny, fast (real-time factor ~0.002) and multilingual, Swedish included, so
it answers when piper fails, is missing, or has no voice for the language, and it is the
light engine the Guardian switches to under pressure. It runs as a subprocess per
sentence (the text goes in on stdin, never on the command line), killed when the caller
stops listening.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess  # nosec B404 (espeak-ng's voice list, fixed arguments)
from collections.abc import AsyncIterator

from alice.errors import TextToSpeechError, VoiceUnavailableError
from alice.voice.audio import Audio, from_pcm16
from alice.voice.sentences import split_sentences

__all__ = ["EspeakTextToSpeech"]

# espeak-ng's voice per language Alice speaks (any other is passed through as given).
_VOICES = {"en": "en-us", "sv": "sv"}
_RATE = 22050  # espeak-ng's output rate
_TIMEOUT_S = 30.0


class EspeakTextToSpeech:
    """`TextToSpeech` with the espeak-ng program."""

    name = "espeak"
    heavy = False

    def __init__(self, *, binary: str = "espeak-ng", words_per_minute: int = 165) -> None:
        self._binary = binary
        self._wpm = words_per_minute
        self._path: str | None = None
        self._languages: frozenset[str] | None = None

    def speaks(self, language: str) -> bool:
        """Whether espeak-ng has a voice for ``language`` (over a hundred, sv and en too)."""
        if self._languages is None:
            self._languages = _installed_languages(self._binary)
        return language.split("-")[0].lower() in self._languages

    async def start(self) -> None:
        """Find the program."""
        if self._path is None:
            self._path = shutil.which(self._binary)
            if self._path is None:
                raise VoiceUnavailableError(
                    f"{self._binary} is not installed (Debian/Ubuntu: apt-get install "
                    "espeak-ng; macOS: brew install espeak-ng).",
                    transient=False,
                )

    async def synthesize(self, text: str, *, language: str) -> AsyncIterator[Audio]:
        """Speak ``text`` sentence by sentence."""
        await self.start()
        voice = _VOICES.get(language.split("-")[0].lower(), language)
        for sentence in split_sentences(text):
            yield await self._speak(sentence, voice)

    async def aclose(self) -> None:
        """Nothing to release: each sentence is its own process."""

    async def _speak(self, sentence: str, voice: str) -> Audio:
        process = await asyncio.create_subprocess_exec(
            self._path or self._binary,
            "-v",
            voice,
            "-s",
            str(self._wpm),
            "-b",
            "1",  # UTF-8 input
            "--stdout",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(
                process.communicate(sentence.encode("utf-8", "replace")), _TIMEOUT_S
            )
        except (asyncio.CancelledError, TimeoutError) as exc:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            if isinstance(exc, TimeoutError):
                raise TextToSpeechError("espeak-ng took too long.") from exc
            raise
        if process.returncode != 0 or len(out) < 44:
            detail = err.decode("utf-8", "replace").strip()[:200]
            raise TextToSpeechError(f"espeak-ng failed: {detail or process.returncode}")
        return _wav_samples(out)


def _installed_languages(binary: str) -> frozenset[str]:
    """The language codes of espeak-ng's voices (empty when it is not installed)."""
    path = shutil.which(binary)
    if path is None:
        return frozenset()
    try:
        listing = subprocess.run(  # noqa: S603 (a fixed argument list, no shell)
            [path, "--voices"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    codes = (line.split()[1] for line in listing.splitlines()[1:] if len(line.split()) > 1)
    return frozenset(code.split("-")[0].lower() for code in codes)


def _wav_samples(data: bytes) -> Audio:
    # espeak-ng writes a WAV with its length fields unset when the output is a pipe;
    # the samples follow the "data" chunk header.
    at = data.find(b"data")
    if at < 0:
        raise TextToSpeechError("espeak-ng wrote no audio.", transient=False)
    pcm = data[at + 8 :]
    return from_pcm16(pcm[: len(pcm) - len(pcm) % 2], rate=_RATE)
