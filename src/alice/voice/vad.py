"""Voice activity detection: where speech starts and ends.

Two parts, as in Home Assistant's ``vad.py``:

* `SileroVad` turns audio into a speech probability per 32 ms frame with the Silero VAD
  model that ships inside faster-whisper (ONNX, ~0.15 ms a frame on one core). It keeps
  the model's recurrent state between calls, so a stream is fed as it arrives.
* `SpeechSegmenter` is a pure state machine over those probabilities: speech starts after
  ``min_speech_s`` of frames above ``threshold`` and ends after ``end_silence_s`` below
  ``neg_threshold`` (hysteresis, so a soft syllable does not end an utterance), or when
  it has lasted ``max_speech_s``. No I/O, no clock: frame durations are its time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from alice.voice.audio import SPEECH_RATE, Audio, Samples

__all__ = [
    "FRAME_SAMPLES",
    "SegmentEdge",
    "SileroVad",
    "SpeechSegmenter",
    "SpeechSpan",
    "VadConfig",
    "speech_spans",
]

#: Samples per VAD frame at 16 kHz (the Silero model's window): 32 ms.
FRAME_SAMPLES = 512
_CONTEXT = 64  # samples of the previous frame the model sees with each window
_FRAME_S = FRAME_SAMPLES / SPEECH_RATE


@dataclass(frozen=True, slots=True)
class VadConfig:
    """When speech counts as started and as ended."""

    threshold: float = 0.5
    neg_threshold: float = 0.35
    min_speech_s: float = 0.1
    end_silence_s: float = 0.6
    max_speech_s: float = 30.0
    #: Audio kept before a detected start and after an end, so no syllable is cut.
    pad_s: float = 0.2

    def __post_init__(self) -> None:
        if not 0.0 < self.neg_threshold <= self.threshold < 1.0:
            raise ValueError("need 0 < neg_threshold <= threshold < 1")
        if self.min_speech_s < 0 or self.end_silence_s <= 0 or self.pad_s < 0:
            raise ValueError("min_speech_s and pad_s must be >= 0, end_silence_s > 0")
        if self.max_speech_s <= self.min_speech_s:
            raise ValueError("max_speech_s must exceed min_speech_s")


class SegmentEdge(StrEnum):
    """What a frame changed."""

    START = "speech-start"
    END = "speech-end"


@dataclass(frozen=True, slots=True)
class SpeechSpan:
    """One utterance, in seconds from the start of the audio."""

    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        """Length of the utterance."""
        return self.end_s - self.start_s


@dataclass(slots=True)
class SpeechSegmenter:
    """Speech start and end from per-frame probabilities (pure: no I/O, no clock)."""

    config: VadConfig = field(default_factory=VadConfig)
    #: Seconds of audio seen so far.
    time_s: float = 0.0
    in_speech: bool = False
    #: Where the current (or last) utterance started and ended.
    start_s: float = 0.0
    end_s: float = 0.0
    _speech_run: float = 0.0
    _silence_run: float = 0.0

    def step(self, probability: float, frame_s: float = _FRAME_S) -> SegmentEdge | None:
        """Take one frame's speech probability; say whether speech started or ended."""
        self.time_s += frame_s
        c = self.config
        if not self.in_speech:
            if probability >= c.threshold:
                self._speech_run += frame_s
                if self._speech_run >= c.min_speech_s:
                    self.in_speech = True
                    self.start_s = self.time_s - self._speech_run
                    self._silence_run = 0.0
                    return SegmentEdge.START
            else:
                self._speech_run = 0.0
            return None
        if probability < c.neg_threshold:
            self._silence_run += frame_s
            if self._silence_run >= c.end_silence_s:
                return self._end(self.time_s - self._silence_run)
        else:
            self._silence_run = 0.0
        if self.time_s - self.start_s >= c.max_speech_s:
            return self._end(self.time_s)
        return None

    @property
    def silence_s(self) -> float:
        """Seconds of silence since speech last paused (0 while the user speaks)."""
        return self._silence_run if self.in_speech else 0.0

    def finish(self) -> SegmentEdge | None:
        """The audio ended: an utterance still open ends where its speech did."""
        if not self.in_speech:
            return None
        return self._end(self.time_s - self._silence_run)

    def _end(self, at_s: float) -> SegmentEdge:
        self.in_speech = False
        self.end_s = at_s
        self._speech_run = 0.0
        self._silence_run = 0.0
        return SegmentEdge.END


def _model_path() -> str:
    from faster_whisper.utils import get_assets_path

    return os.path.join(get_assets_path(), "silero_vad_v6.onnx")


class SileroVad:
    """Speech probability per 512-sample frame at 16 kHz, state kept across calls.

    Not thread-safe: one instance per audio stream (creating one costs ~10 ms).
    """

    def __init__(self) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # One thread: a frame is tiny, and the other core belongs to the models.
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        options.log_severity_level = 4
        self._session = onnxruntime.InferenceSession(
            _model_path(), providers=["CPUExecutionProvider"], sess_options=options
        )
        self.reset()

    def reset(self) -> None:
        """Forget the stream so far."""
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def probabilities(self, samples: Samples) -> list[float]:
        """Probabilities for every whole frame now available (16 kHz samples)."""
        pending = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        whole = len(pending) - len(pending) % FRAME_SAMPLES
        out: list[float] = []
        for first in range(0, whole, FRAME_SAMPLES):
            frame = pending[first : first + FRAME_SAMPLES]
            window = np.concatenate([self._context, frame])[None, :]
            probs, self._h, self._c = self._session.run(
                None, {"input": window, "h": self._h, "c": self._c}
            )
            out.append(float(np.asarray(probs).reshape(-1)[0]))
            self._context = frame[-_CONTEXT:]
        self._pending = np.array(pending[whole:], dtype=np.float32)
        return out


def speech_spans(audio: Audio, vad: SileroVad, config: VadConfig) -> list[SpeechSpan]:
    """Every utterance in a whole recording (16 kHz), padded by ``config.pad_s``."""
    segmenter = SpeechSegmenter(config)
    vad.reset()
    spans: list[SpeechSpan] = []
    for probability in vad.probabilities(audio.samples):
        if segmenter.step(probability) is SegmentEdge.END:
            spans.append(_padded(segmenter, audio, config))
    if segmenter.finish() is SegmentEdge.END:
        spans.append(_padded(segmenter, audio, config))
    return spans


def _padded(segmenter: SpeechSegmenter, audio: Audio, config: VadConfig) -> SpeechSpan:
    return SpeechSpan(
        max(0.0, segmenter.start_s - config.pad_s),
        min(audio.duration_s, segmenter.end_s + config.pad_s),
    )
