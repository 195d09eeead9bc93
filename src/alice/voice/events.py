"""The voice pipeline's stages and the events a run emits.

A run goes through the stages in a fixed order (`STAGE_ORDER`); each stage it enters
emits ``<stage>-start`` and ``<stage>-end``. Between them a stage may emit progress
events (``stt-partial``, ``chat-delta``, ``tts-audio``). The chat and speech stages
overlap: the answer is spoken sentence by sentence while the model still writes, so
``tts-start`` comes after the first sentence's ``chat-delta`` events and ``tts-end``
after ``chat-end``. A failure emits exactly one ``error`` event (``{"code", "message"}``,
a stable code) and the run ends; ``run-end`` is always the last event.

Wire names are kebab-case, as in Home Assistant's assist pipeline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["STAGE_ORDER", "EventType", "PipelineEvent", "Stage"]


class Stage(StrEnum):
    """A stage of a voice run."""

    VAD = "vad"
    STT = "stt"
    TRANSLATE = "translate"
    CHAT = "chat"
    TTS = "tts"


#: The order the stages run in; a run may stop early (silence, an error, text input).
STAGE_ORDER: tuple[Stage, ...] = (Stage.VAD, Stage.STT, Stage.TRANSLATE, Stage.CHAT, Stage.TTS)


class EventType(StrEnum):
    """What an event reports."""

    RUN_START = "run-start"
    RUN_END = "run-end"
    VAD_START = "vad-start"
    VAD_SPEECH_START = "vad-speech-start"
    VAD_END = "vad-end"
    STT_START = "stt-start"
    STT_PARTIAL = "stt-partial"
    STT_END = "stt-end"
    TRANSLATE_START = "translate-start"
    TRANSLATE_END = "translate-end"
    CHAT_START = "chat-start"
    CHAT_DELTA = "chat-delta"
    CHAT_END = "chat-end"
    TTS_START = "tts-start"
    TTS_AUDIO = "tts-audio"
    TTS_END = "tts-end"
    ERROR = "error"
    #: A live session's user spoke over the answer: that run was cancelled.
    BARGE_IN = "barge-in"

    @classmethod
    def start(cls, stage: Stage) -> EventType:
        """The ``<stage>-start`` event type."""
        return cls(f"{stage.value}-start")

    @classmethod
    def end(cls, stage: Stage) -> EventType:
        """The ``<stage>-end`` event type."""
        return cls(f"{stage.value}-end")


@dataclass(frozen=True, slots=True)
class PipelineEvent:
    """One event of a run.

    ``data`` holds JSON-ready values only, except for ``tts-audio`` whose ``audio`` is
    the PCM16 bytes of the chunk (the WebSocket sends those as a binary frame).
    ``timestamp`` is `time.perf_counter` seconds, for latency accounting in process.
    """

    type: EventType
    data: dict[str, Any] = field(default_factory=dict)
    timestamp: float = field(default_factory=time.perf_counter)

    def as_json(self) -> dict[str, Any]:
        """The event as a JSON object (audio bytes left out: they travel on their own)."""
        data = {k: v for k, v in self.data.items() if not isinstance(v, bytes | bytearray)}
        return {"type": self.type.value, "data": data}
