"""A live voice conversation over a stream of PCM16: the WebSocket's engine.

The session listens all the time: incoming audio is converted to 16 kHz mono, split
into 32 ms frames and scored by the VAD. When speech starts, a run starts on a
`LiveUtterance` that grows as the user speaks (partial transcripts flow meanwhile) and
is closed when the VAD hears the end, or when the client says ``end`` (push-to-talk).

Barge-in: speech that starts while the previous run is still answering cancels that run
(its answer is stored as ``cancelled``, its audio stops) and sends a ``barge-in``
event before the new run's events. The conversation carries on across runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import replace

import numpy as np
import soxr

from alice.voice.audio import SPEECH_RATE, Audio, from_pcm16
from alice.voice.events import EventType, PipelineEvent
from alice.voice.pipeline import LiveUtterance, VoicePipeline, VoiceRequest
from alice.voice.vad import FRAME_SAMPLES, SegmentEdge, SileroVad, SpeechSegmenter, SpeechSpan

__all__ = ["VoiceSession"]

Send = Callable[[PipelineEvent], Awaitable[None]]


class VoiceSession:
    """One client's live voice conversation."""

    def __init__(
        self,
        pipeline: VoicePipeline,
        request: VoiceRequest,
        *,
        send: Send,
        rate: int = SPEECH_RATE,
        channels: int = 1,
    ) -> None:
        self._pipeline = pipeline
        self._request = request
        self._send = send
        self._rate = rate
        self._channels = channels
        # Validates the format once (raises InvalidAudioError for a bad rate/channels).
        from_pcm16(b"", rate=rate, channels=channels)
        self._resampler = (
            soxr.ResampleStream(rate, SPEECH_RATE, 1, dtype="float32")
            if rate != SPEECH_RATE
            else None
        )
        self._vad = SileroVad()
        self._segmenter = SpeechSegmenter(pipeline.config.vad)
        self._pending = np.zeros(0, dtype=np.float32)
        pad_frames = max(1, int(pipeline.config.vad.pad_s * SPEECH_RATE / FRAME_SAMPLES))
        # Frames heard before speech was confirmed: the utterance starts with them.
        self._preroll: deque[Audio] = deque(
            maxlen=pad_frames + int(pipeline.config.vad.min_speech_s * 32) + 1
        )
        self._utterance: LiveUtterance | None = None
        self._run: asyncio.Task[None] | None = None
        self._heard_s = 0.0
        self._max_frames = int(pipeline.config.max_audio_s * SPEECH_RATE / FRAME_SAMPLES)
        self._frames = 0

    @property
    def conversation_id(self) -> str | None:
        """The conversation the session's turns go to (set by the first answer)."""
        return self._request.conversation_id

    async def feed(self, pcm: bytes) -> None:
        """Audio from the client: interleaved PCM16 at the session's rate."""
        audio = from_pcm16(pcm, rate=self._rate, channels=self._channels)
        samples = audio.samples
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples)
        self._pending = np.concatenate([self._pending, samples.astype(np.float32)])
        whole = len(self._pending) - len(self._pending) % FRAME_SAMPLES
        frames, self._pending = self._pending[:whole], self._pending[whole:]
        for first in range(0, whole, FRAME_SAMPLES):
            await self._frame(frames[first : first + FRAME_SAMPLES])

    async def _frame(self, samples: np.ndarray) -> None:
        frame = Audio(samples, SPEECH_RATE)
        (probability,) = self._vad.probabilities(samples)
        edge = self._segmenter.step(probability)
        if edge is SegmentEdge.START:
            await self._speech_started(frame)
        elif self._utterance is not None:
            self._utterance.append(frame)
            self._frames += 1
            if edge is SegmentEdge.END or self._frames >= self._max_frames:
                self._speech_ended()
            elif self._segmenter.silence_s > 0:
                self._utterance.pause()  # the run starts recognising what was said
            else:
                self._utterance.resume()
        else:
            self._preroll.append(frame)

    async def _speech_started(self, frame: Audio) -> None:
        if self._run is not None and not self._run.done():
            await self.cancel()
            await self._send(PipelineEvent(EventType.BARGE_IN, {}))
        utterance = LiveUtterance(started_s=self._segmenter.start_s)
        for earlier in self._preroll:
            utterance.append(earlier)
        utterance.append(frame)
        self._preroll.clear()
        self._frames = 0
        self._utterance = utterance
        self._run = asyncio.create_task(self._drive(utterance))

    def _speech_ended(self) -> None:
        utterance, self._utterance = self._utterance, None
        if utterance is not None:
            utterance.end(SpeechSpan(utterance.started_s, self._segmenter.time_s))
        if self._segmenter.in_speech:  # ended by the length limit, not by silence
            self._segmenter = SpeechSegmenter(self._pipeline.config.vad)

    async def end_of_speech(self) -> None:
        """The client says the user stopped (push-to-talk released)."""
        if self._utterance is not None:
            self._segmenter = SpeechSegmenter(self._pipeline.config.vad)
            self._speech_ended()

    async def _drive(self, utterance: LiveUtterance) -> None:
        async for event in self._pipeline.run(utterance, self._request):
            if event.type is EventType.CHAT_START:
                conversation = event.data.get("conversation_id")
                if isinstance(conversation, str):
                    self._request = replace(self._request, conversation_id=conversation)
            await self._send(event)

    async def cancel(self) -> None:
        """Stop the current answer (its run ends as ``cancelled``)."""
        run, self._run = self._run, None
        if run is not None and not run.done():
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run

    async def wait(self) -> None:
        """Wait for the current run to finish."""
        if self._run is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._run

    async def aclose(self) -> None:
        """Stop listening and answering."""
        self._utterance = None
        await self.cancel()
