"""The voice pipeline: speech in, the chat service, speech out, as a stream of events.

One run is one user utterance::

    run-start
    vad-start, [vad-speech-start, stt-partial...,] vad-end       where the speech is
    stt-start, stt-end                                           what was said (Swedish)
    translate-start, translate-end                               what it means in English
    chat-start, chat-delta..., chat-end                          the chat service's answer
    tts-start, tts-audio..., tts-end                             that answer, spoken
    run-end

The chat stage is `ChatService.stream`, the same path as text chat (Guardian, routing,
cache, PII masking, persistence). Speech overlaps it: each sentence of the answer is
spoken as soon as the model has written it, so ``tts-start`` and the first
``tts-audio`` come while ``chat-delta`` events still flow. Silence ends the run after
``vad-end`` (empty transcript, no model call); so does an empty transcript. A failure
emits one ``error`` event with the error's stable code and the run ends with
``run-end``; a consumer that stops listening (a client gone, barge-in) cancels the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import structlog

from alice.chat import ChatService, TurnDelta, TurnFinished, TurnRequest, TurnStarted
from alice.errors import AliceError, InvalidRequestError
from alice.llm.router.admission import Priority
from alice.store.models import DEFAULT_TENANT
from alice.voice.audio import SPEECH_RATE, Audio
from alice.voice.chain import EngineChain
from alice.voice.events import EventType, PipelineEvent, Stage
from alice.voice.metrics import VoiceMetrics
from alice.voice.sentences import SentenceSplitter
from alice.voice.stt import SpeechToText, SttTask, Transcript
from alice.voice.translate import SpeechTranslator, Translator
from alice.voice.tts import TextToSpeech
from alice.voice.vad import SileroVad, SpeechSpan, VadConfig, speech_spans

__all__ = ["LiveUtterance", "VoiceConfig", "VoicePipeline", "VoiceRequest"]

log = structlog.get_logger("alice.voice")


@dataclass(frozen=True, slots=True)
class VoiceConfig:
    """Languages and limits of the voice pipeline."""

    input_language: str = "sv"
    output_language: str = "en"
    max_audio_s: float = 60.0
    #: Rate of every audio chunk sent out (engines are resampled to it).
    output_rate: int = 22_050
    #: Seconds between partial transcripts while the user speaks (0: none).
    partial_interval_s: float = 1.0
    vad: VadConfig = field(default_factory=VadConfig)
    #: A Swedish sentence that tells Whisper the domain (names, words it should expect).
    stt_prompt: str | None = None

    def __post_init__(self) -> None:
        if self.max_audio_s <= 0 or self.partial_interval_s < 0:
            raise ValueError("max_audio_s must be positive and partial_interval_s >= 0")
        if not 8000 <= self.output_rate <= 48000:
            raise ValueError("output_rate must be in 8000..48000")


@dataclass(frozen=True, slots=True)
class VoiceRequest:
    """Who is speaking and how the chat stage answers."""

    tenant_id: str = DEFAULT_TENANT
    conversation_id: str | None = None
    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    user: str | None = None
    priority: int = Priority.INTERACTIVE
    #: Speak the answer (False: stop after the chat stage).
    speak: bool = True


class LiveUtterance:
    """An utterance being captured from a stream, handed to a run as it grows.

    The listener appends speech, calls `pause` when the VAD hears silence begin and
    `resume` when speech comes back before the silence was long enough to end the
    utterance, and `end` when it was. The run waits for the end, sending partial
    transcripts meanwhile, and starts recognising at each pause: when the pause turns out
    to be the end, the transcript is (nearly) ready when the VAD decides.
    """

    def __init__(self, *, started_s: float) -> None:
        self.started_s = started_s
        self._parts: list[Audio] = []
        self._samples = 0
        self._ended: asyncio.Future[SpeechSpan] = asyncio.get_running_loop().create_future()
        self._changed = asyncio.Event()
        #: Samples of speech before the current pause (None: the user is speaking).
        self.pause_samples: int | None = None
        self._paused_at: float | None = None
        #: `time.perf_counter` when the user stopped speaking: the silence that ended the
        #: utterance began (time to first audio starts here), or the end, if sooner.
        self.ended_at = 0.0

    @property
    def ended(self) -> bool:
        """Whether the utterance is over."""
        return self._ended.done()

    def append(self, audio: Audio) -> None:
        """More of the speech (16 kHz)."""
        self._parts.append(audio)
        self._samples += len(audio.samples)

    def pause(self) -> None:
        """Silence began (the utterance may or may not be over)."""
        if self.pause_samples is None and not self.ended:
            self.pause_samples = self._samples
            self._paused_at = time.perf_counter()
            self._changed.set()

    def resume(self) -> None:
        """Speech came back before the silence ended the utterance."""
        if self.pause_samples is not None and not self.ended:
            self.pause_samples = None
            self._paused_at = None
            self._changed.set()

    def end(self, span: SpeechSpan) -> None:
        """The user stopped speaking."""
        if not self._ended.done():
            self.ended_at = self._paused_at or time.perf_counter()
            self._ended.set_result(span)
            self._changed.set()

    def audio(self, samples: int | None = None) -> Audio:
        """The speech so far (its first ``samples`` samples)."""
        if not self._parts:
            return Audio(_empty(), SPEECH_RATE)
        import numpy as np

        whole = np.concatenate([p.samples for p in self._parts])
        return Audio(whole if samples is None else whole[:samples], SPEECH_RATE)

    async def changed(self, within_s: float | None) -> None:
        """Wait until it pauses, resumes or ends (or ``within_s`` seconds pass)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), within_s)
        self._changed.clear()

    async def wait(self) -> SpeechSpan:
        """Wait for the end of the utterance."""
        return await asyncio.shield(self._ended)


@dataclass(slots=True)
class _Early:
    """Recognition started at a pause, before the VAD knew the utterance was over."""

    samples: int
    task: asyncio.Task[tuple[Transcript, str | None]]


def _empty() -> Any:
    import numpy as np

    return np.zeros(0, dtype=np.float32)


class _Run:
    """Bookkeeping of one run: event queue, stage timings, TTFA."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[PipelineEvent | None] = asyncio.Queue()
        self.started = time.perf_counter()
        self.stage_s: dict[str, float] = {}
        self.rtf: dict[str, tuple[str, float]] = {}
        self.speech_ended_at: float | None = None
        self.first_audio_at: float | None = None
        self.outcome = "complete"
        self.summary: dict[str, Any] = {}

    def emit(self, type_: EventType, **data: Any) -> None:
        self.queue.put_nowait(PipelineEvent(type_, data))


class VoicePipeline:
    """Runs voice turns through the speech engines and the chat service."""

    def __init__(
        self,
        *,
        chat: ChatService,
        stt: EngineChain[SpeechToText],
        tts: EngineChain[TextToSpeech],
        translator: Translator | None,
        config: VoiceConfig,
        metrics: VoiceMetrics | None = None,
        vad_factory: Callable[[], SileroVad] = SileroVad,
    ) -> None:
        self.chat = chat
        self.stt = stt
        self.tts = tts
        self.translator = translator
        self.config = config
        self.metrics = metrics
        self._vad_factory = vad_factory
        self._vads: list[SileroVad] = []

    # -- the stages as services of their own (REST endpoints and the CLI use these) --

    async def transcribe(
        self,
        audio: Audio,
        *,
        language: str | None,
        task: SttTask = "transcribe",
        observe: bool = True,
    ) -> Transcript:
        """Speech to text through the STT chain.

        ``observe``: count it as a stage of its own in the metrics (a run counts its
        stages itself).
        """

        async def run(engine: SpeechToText) -> Transcript:
            return await engine.transcribe(
                audio, language=language, task=task, prompt=self.config.stt_prompt
            )

        started = time.perf_counter()
        transcript, engine = await self.stt.call(run)
        if observe:
            self._observe_stage(Stage.STT, started, engine.name, audio.duration_s)
        return transcript

    async def speak(self, text: str, *, language: str | None = None) -> AsyncIterator[Audio]:
        """Text to speech through the TTS chain, chunks at ``config.output_rate``."""
        lang = language or self.config.output_language
        # A lone surrogate (valid JSON, not valid text) cannot reach an engine.
        text = text.encode("utf-8", "replace").decode("utf-8")
        if not any(engine.speaks(lang) for engine in self.tts.engines):
            raise InvalidRequestError(
                f"No voice here speaks {lang!r}.", field="language" if language else None
            )
        started = time.perf_counter()
        spoken = 0.0
        name = ""
        async for audio, engine in self.tts.stream(
            lambda e: e.synthesize(text, language=lang), accept=lambda e: e.speaks(lang)
        ):
            name = engine.name
            out = audio.resampled(self.config.output_rate)
            spoken += out.duration_s
            yield out
        self._observe_stage(Stage.TTS, started, name, spoken)

    def _observe_stage(self, stage: Stage, started: float, engine: str, audio_s: float) -> None:
        if self.metrics is not None:
            self.metrics.observe_stage(stage, time.perf_counter() - started, engine, audio_s)

    # -- a whole run --

    async def run(
        self, source: Audio | LiveUtterance, request: VoiceRequest
    ) -> AsyncIterator[PipelineEvent]:
        """Run one turn on a recording (``Audio``) or a live utterance; yield its events.

        Closing the iterator early cancels the work in progress.
        """
        run = _Run()
        worker = asyncio.create_task(self._work(run, source, request))
        try:
            while True:
                item = await run.queue.get()
                if not isinstance(item, PipelineEvent):
                    break  # None: the run is over
                if item.type is EventType.TTS_AUDIO and run.first_audio_at is None:
                    run.first_audio_at = time.perf_counter()
                if item.type is EventType.RUN_END:
                    item = PipelineEvent(item.type, {**item.data, **self._timings(run)})
                yield item
        finally:
            if not worker.done():
                run.outcome = "cancelled"
                worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            self._finish(run)

    def _timings(self, run: _Run) -> dict[str, Any]:
        ttfa = None
        if run.first_audio_at is not None and run.speech_ended_at is not None:
            ttfa = round((run.first_audio_at - run.speech_ended_at) * 1000, 1)
        return {
            "ttfa_ms": ttfa,
            "stages_ms": {str(k): round(v * 1000, 1) for k, v in run.stage_s.items()},
        }

    def _finish(self, run: _Run) -> None:
        timings = self._timings(run)
        if self.metrics is not None:
            self.metrics.observe_run(
                outcome=run.outcome,
                ttfa_s=None if timings["ttfa_ms"] is None else timings["ttfa_ms"] / 1000,
                stage_s=run.stage_s,
                rtf=run.rtf,
            )
        # Only timings and sizes: what was said stays out of the logs.
        log.info(
            "voice.run",
            outcome=run.outcome,
            ttfa_ms=timings["ttfa_ms"],
            stages_ms=timings["stages_ms"],
            rtf={str(k): round(v, 3) for k, (_e, v) in run.rtf.items()},
            **run.summary,
        )

    async def _work(self, run: _Run, source: Audio | LiveUtterance, request: VoiceRequest) -> None:
        run.emit(
            EventType.RUN_START,
            input_language=self.config.input_language,
            output_language=self.config.output_language,
            conversation_id=request.conversation_id,
        )
        try:
            await self._stages(run, source, request)
        except AliceError as exc:
            run.outcome = "error"
            run.emit(EventType.ERROR, code=exc.code, message=exc.message)
        except asyncio.CancelledError:
            run.outcome = "cancelled"
            raise
        except Exception as exc:  # a bug: the client gets a stable code, the log the trace
            log.exception("voice.run_crashed", error_class=type(exc).__name__)
            run.outcome = "error"
            run.emit(EventType.ERROR, code="internal-error", message="Internal server error.")
        run.emit(EventType.RUN_END, outcome=run.outcome)
        run.queue.put_nowait(None)  # the end of the run's events

    async def _stages(
        self, run: _Run, source: Audio | LiveUtterance, request: VoiceRequest
    ) -> None:
        early: _Early | None = None
        try:
            speech, early = await self._vad_stage(run, source)
            if speech is None:
                run.summary["speech"] = False
                return
            transcript, translation = await self._stt_stage(run, speech, early)
            if not transcript.text:
                return
            english = await self._translate_stage(run, transcript, speech, translation)
        finally:
            if early is not None and not early.task.done():
                early.task.cancel()
        await self._answer(run, english, request)

    async def _vad_stage(
        self, run: _Run, source: Audio | LiveUtterance
    ) -> tuple[Audio | None, _Early | None]:
        started = time.perf_counter()
        run.emit(EventType.VAD_START)
        early: _Early | None = None
        if isinstance(source, LiveUtterance):
            run.emit(EventType.VAD_SPEECH_START, start_s=round(source.started_s, 3))
            span, early = await self._listen(run, source)
            run.speech_ended_at = source.ended_at
            speech: Audio | None = source.audio()
            spans = [span]
        else:
            run.speech_ended_at = time.perf_counter()
            audio = source.resampled(SPEECH_RATE)
            spans = await asyncio.get_running_loop().run_in_executor(None, self._spans, audio)
            speech = audio.slice(spans[0].start_s, spans[-1].end_s) if spans else None
        run.stage_s[Stage.VAD] = time.perf_counter() - started
        run.emit(
            EventType.VAD_END,
            speech=speech is not None,
            segments=[{"start_s": round(s.start_s, 3), "end_s": round(s.end_s, 3)} for s in spans],
        )
        return speech, early

    def _spans(self, audio: Audio) -> list[SpeechSpan]:
        vad = self._vads.pop() if self._vads else self._vad_factory()
        try:
            return speech_spans(audio, vad, self.config.vad)
        finally:
            self._vads.append(vad)

    async def _listen(
        self, run: _Run, utterance: LiveUtterance
    ) -> tuple[SpeechSpan, _Early | None]:
        """Wait for the end of speech.

        Partial transcripts go out while the user speaks; recognition (and speech
        translation) starts early at every pause.
        """
        interval = self.config.partial_interval_s
        next_partial = time.perf_counter() + interval if interval > 0 else None
        early: _Early | None = None
        while not utterance.ended:
            pause = utterance.pause_samples
            if pause is not None and (early is None or early.samples != pause):
                if early is not None:
                    early.task.cancel()
                audio = utterance.audio(pause)
                early = _Early(pause, asyncio.create_task(self._recognise(audio)))
                # A discarded attempt's failure is not the run's: retrieve it quietly.
                early.task.add_done_callback(lambda t: t.cancelled() or t.exception())
            now = time.perf_counter()
            if next_partial is not None and now >= next_partial and pause is None:
                partial = await self.transcribe(
                    utterance.audio(), language=self.config.input_language, observe=False
                )
                if partial.text and not utterance.ended:
                    run.emit(EventType.STT_PARTIAL, text=partial.text)
                next_partial = time.perf_counter() + interval
                continue
            wait = None if next_partial is None else max(0.01, next_partial - now)
            await utterance.changed(wait)
        span = await utterance.wait()
        if early is not None and early.samples != utterance.pause_samples:
            early.task.cancel()  # the user spoke again after that pause
            early = None
        return span, early

    async def _recognise(self, speech: Audio) -> tuple[Transcript, str | None]:
        """The transcript and, when the speech engine translates, the translation."""
        transcript = await self.transcribe(
            speech, language=self.config.input_language, observe=False
        )
        translation = None
        target = self.config.output_language
        if (
            isinstance(self.translator, SpeechTranslator)
            and transcript.text
            and transcript.language != target
        ):
            translation = await self.translator.translate(transcript, speech, target=target)
        return transcript, translation

    async def _stt_stage(
        self, run: _Run, speech: Audio, early: _Early | None
    ) -> tuple[Transcript, str | None]:
        started = time.perf_counter()
        run.emit(EventType.STT_START, language=self.config.input_language)
        translation: str | None = None
        if early is not None:
            # Recognised since the pause that ended the utterance: the same speech, less
            # the trailing silence.
            transcript, translation = await early.task
            speech = self._trimmed(speech, early.samples)
        else:
            transcript = await self.transcribe(
                speech, language=self.config.input_language, observe=False
            )
        seconds = time.perf_counter() - started
        run.stage_s[Stage.STT] = seconds
        if early is None:  # an early recognition's time is hidden in the silence
            run.rtf[Stage.STT] = (transcript.engine, seconds / max(speech.duration_s, 1e-6))
        run.summary["speech_s"] = round(speech.duration_s, 2)
        run.emit(
            EventType.STT_END,
            text=transcript.text,
            language=transcript.language,
            engine=transcript.engine,
            audio_s=round(speech.duration_s, 3),
            early=early is not None,
        )
        return transcript, translation

    @staticmethod
    def _trimmed(speech: Audio, samples: int) -> Audio:
        return Audio(speech.samples[:samples], speech.rate)

    async def _translate_stage(
        self, run: _Run, transcript: Transcript, speech: Audio, early: str | None
    ) -> str:
        target = self.config.output_language
        started = time.perf_counter()
        run.emit(EventType.TRANSLATE_START, source=transcript.language, target=target)
        if early is not None and self.translator is not None:
            text, engine = early, self.translator.name
        elif self.translator is None or transcript.language == target:
            text, engine = transcript.text, "none"
        else:
            text, engine = (
                await self.translator.translate(transcript, speech, target=target),
                self.translator.name,
            )
        run.stage_s[Stage.TRANSLATE] = time.perf_counter() - started
        run.emit(EventType.TRANSLATE_END, text=text, engine=engine)
        if not text.strip():
            raise InvalidRequestError("Nothing was left to answer after translation.")
        return text

    async def _answer(self, run: _Run, text: str, request: VoiceRequest) -> None:
        """The chat stage, with each finished sentence spoken while the model writes."""
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        speaker = (
            asyncio.create_task(self._speak_sentences(run, sentences)) if request.speak else None
        )
        try:
            await self._chat_stage(run, text, request, sentences)
            if speaker is not None:
                sentences.put_nowait(None)
                await speaker
        finally:
            if speaker is not None and not speaker.done():
                speaker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await speaker

    async def _chat_stage(
        self, run: _Run, text: str, request: VoiceRequest, sentences: asyncio.Queue[str | None]
    ) -> None:
        started = time.perf_counter()
        turn = TurnRequest(
            text=text,
            conversation_id=request.conversation_id,
            model=request.model,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            user=request.user,
            priority=request.priority,
        )
        splitter = SentenceSplitter(first_max_chars=100)
        async with aclosing(self.chat.stream(turn, tenant_id=request.tenant_id)) as events:
            async for event in events:
                if isinstance(event, TurnStarted):
                    run.emit(
                        EventType.CHAT_START,
                        conversation_id=event.conversation_id,
                        user_message_id=event.message_id,
                        model=event.model,
                    )
                elif isinstance(event, TurnDelta):
                    run.emit(EventType.CHAT_DELTA, text=event.text)
                    for sentence in splitter.feed(event.text):
                        sentences.put_nowait(sentence)
                elif isinstance(event, TurnFinished):
                    rest = splitter.flush()
                    if rest:
                        sentences.put_nowait(rest)
                    run.stage_s[Stage.CHAT] = time.perf_counter() - started
                    run.emit(
                        EventType.CHAT_END,
                        conversation_id=event.conversation_id,
                        message_id=event.message_id,
                        text=event.text,
                        model=event.model,
                        finish_reason=event.finish_reason,
                        offline=event.offline,
                        cached=event.cached,
                    )

    async def _speak_sentences(self, run: _Run, sentences: asyncio.Queue[str | None]) -> None:
        started: float | None = None
        spoken = 0.0
        busy = 0.0  # seconds spent synthesising (not waiting for the model's next sentence)
        engine = ""
        count = 0
        language = self.config.output_language
        while (sentence := await sentences.get()) is not None:
            if started is None:
                started = time.perf_counter()
                run.emit(
                    EventType.TTS_START,
                    format="pcm16",
                    rate=self.config.output_rate,
                    language=language,
                )
            first = True
            began = time.perf_counter()

            def speak(e: TextToSpeech, text: str = sentence) -> AsyncIterator[Audio]:
                return e.synthesize(text, language=language)

            async for audio, used in self.tts.stream(speak, accept=lambda e: e.speaks(language)):
                out = audio.resampled(self.config.output_rate)
                engine = used.name
                spoken += out.duration_s
                data: dict[str, Any] = {"audio": out.pcm16(), "engine": engine, "sentence": count}
                if first:
                    data["text"] = sentence
                    first = False
                run.emit(EventType.TTS_AUDIO, **data)
            busy += time.perf_counter() - began
            count += 1
        if started is not None:
            seconds = time.perf_counter() - started
            run.stage_s[Stage.TTS] = seconds
            run.rtf[Stage.TTS] = (engine, busy / max(spoken, 1e-6))
            run.emit(EventType.TTS_END, audio_s=round(spoken, 3), sentences=count, engine=engine)

    async def aclose(self) -> None:
        """Close the engines."""
        await self.stt.aclose()
        await self.tts.aclose()
