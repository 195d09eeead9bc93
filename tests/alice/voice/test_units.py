"""The voice package's pure parts: VAD segmenter, sentence splitting, audio conversion,
engine chains, error codes."""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import AsyncIterator

import numpy as np
import pytest

from alice.errors import (
    AudioTooLongError,
    InvalidAudioError,
    SpeechToTextError,
    TextToSpeechError,
    UnsupportedMediaTypeError,
    VoiceUnavailableError,
    error_for_code,
)
from alice.llm.router.breaker import BreakerConfig
from alice.voice.audio import Audio, decode_audio, from_pcm16, wav_bytes
from alice.voice.chain import EngineChain
from alice.voice.events import STAGE_ORDER, EventType, Stage
from alice.voice.sentences import SentenceSplitter, split_sentences
from alice.voice.vad import SegmentEdge, SpeechSegmenter, VadConfig

FRAME = 0.032


def _run(segmenter: SpeechSegmenter, probabilities: list[float]) -> list[tuple[int, SegmentEdge]]:
    return [(i, edge) for i, p in enumerate(probabilities) if (edge := segmenter.step(p, FRAME))]


def test_speech_starts_after_min_speech_and_ends_after_the_silence() -> None:
    config = VadConfig(min_speech_s=0.09, end_silence_s=0.3)
    segmenter = SpeechSegmenter(config)
    probs = [0.0] * 5 + [0.9] * 20 + [0.1] * 12
    edges = _run(segmenter, probs)
    # Three frames (0.096 s) of speech start it; ten frames (0.32 s) of silence end it.
    assert edges == [(7, SegmentEdge.START), (34, SegmentEdge.END)]
    assert segmenter.start_s == pytest.approx(5 * FRAME)
    assert segmenter.end_s == pytest.approx(25 * FRAME)


def test_a_short_blip_is_not_speech_and_a_soft_syllable_does_not_end_it() -> None:
    segmenter = SpeechSegmenter(VadConfig(min_speech_s=0.09, end_silence_s=0.3))
    assert _run(segmenter, [0.9, 0.9, 0.1, 0.9, 0.1] * 4) == []
    segmenter = SpeechSegmenter(VadConfig(min_speech_s=0.09, end_silence_s=0.3))
    # 0.4 is under the start threshold but over neg_threshold: it keeps speech going.
    edges = _run(segmenter, [0.9] * 5 + [0.4] * 30 + [0.0] * 10)
    assert [e for _, e in edges] == [SegmentEdge.START, SegmentEdge.END]
    assert segmenter.end_s == pytest.approx(35 * FRAME)


def test_speech_is_cut_at_max_speech_and_finish_closes_an_open_utterance() -> None:
    segmenter = SpeechSegmenter(VadConfig(min_speech_s=0.0, max_speech_s=1.0))
    edges = _run(segmenter, [0.9] * 40)
    assert [e for _, e in edges][:2] == [SegmentEdge.START, SegmentEdge.END]
    assert edges[1][0] == 31  # 1.0 s after the start
    open_ = SpeechSegmenter(VadConfig())
    _run(open_, [0.9] * 10)
    assert open_.finish() is SegmentEdge.END
    assert open_.finish() is None


def test_vad_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        VadConfig(threshold=0.3, neg_threshold=0.5)
    with pytest.raises(ValueError):
        VadConfig(min_speech_s=2.0, max_speech_s=1.0)


def test_streamed_text_is_cut_into_sentences_as_they_complete() -> None:
    splitter = SentenceSplitter()
    text = "Huvudstaden är Stockholm. Det bor t.ex. 1.5 miljoner där! Vill du veta mer? Ja"
    out: list[str] = []
    for piece in [text[i : i + 4] for i in range(0, len(text), 4)]:
        out.extend(splitter.feed(piece))
    assert out == [
        "Huvudstaden är Stockholm.",
        "Det bor t.ex. 1.5 miljoner där!",
        "Vill du veta mer?",
    ]
    assert splitter.flush() == "Ja"
    assert splitter.flush() is None


def test_short_sentences_are_joined_and_run_ons_are_cut() -> None:
    assert split_sentences("Hej! Jag heter Alice och hjälper dig.") == [
        "Hej! Jag heter Alice och hjälper dig."
    ]
    long = "ord, " * 100
    parts = split_sentences(long, max_chars=60)
    assert len(parts) > 5
    assert all(len(p) <= 60 for p in parts)
    assert " ".join(parts).split() == long.split()


def _wav(samples: np.ndarray, rate: int, channels: int = 1) -> bytes:
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    return wav_bytes(pcm, rate, channels=channels)


def test_any_rate_and_channel_count_is_converted_to_16k_mono() -> None:
    t = np.arange(48000) / 48000
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([tone, tone], axis=1).reshape(-1)
    audio = decode_audio(_wav(stereo, 48000, channels=2), max_seconds=10)
    assert audio.rate == 16000
    assert audio.duration_s == pytest.approx(1.0, abs=0.01)
    # FFmpeg's downmix keeps the power of two equal channels (0.5 * 2 / sqrt 2).
    assert 0.45 < float(np.abs(audio.samples).max()) < 0.75


def test_undecodable_empty_and_long_audio_get_their_own_errors() -> None:
    with pytest.raises(UnsupportedMediaTypeError):
        decode_audio(b"this is not audio at all" * 50, max_seconds=10)
    with pytest.raises(InvalidAudioError):
        decode_audio(b"", max_seconds=10)
    with pytest.raises(AudioTooLongError):
        decode_audio(_wav(np.zeros(16000 * 3), 16000), max_seconds=2)


def test_raw_pcm_needs_whole_frames_and_a_real_rate() -> None:
    audio = from_pcm16(np.array([0, 16384, -16384, 0], dtype="<i2").tobytes(), channels=2)
    assert audio.samples.tolist() == [0.25, -0.25]
    with pytest.raises(InvalidAudioError):
        from_pcm16(b"\x00\x00\x00", channels=1)
    with pytest.raises(InvalidAudioError):
        from_pcm16(b"", rate=12345)


def test_wav_out_round_trips() -> None:
    audio = Audio(np.linspace(-0.5, 0.5, 2205, dtype=np.float32), 22050)
    with wave.open(io.BytesIO(audio.wav())) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 22050)
        assert wav.getnframes() == 2205


class _Engine:
    def __init__(self, name: str, *, fails: int = 0, heavy: bool = False) -> None:
        self.name = name
        self.heavy = heavy
        self.fails = fails
        self.calls = 0

    async def answer(self) -> str:
        self.calls += 1
        if self.calls <= self.fails:
            raise SpeechToTextError(f"{self.name} broke")
        return self.name

    async def chunks(self) -> AsyncIterator[str]:
        self.calls += 1
        if self.calls <= self.fails:
            raise TextToSpeechError(f"{self.name} broke")
        yield f"{self.name}-1"
        yield f"{self.name}-2"


def test_a_chain_falls_over_and_opens_the_failing_engines_breaker() -> None:
    now = [0.0]
    local, remote = _Engine("local", fails=10), _Engine("remote")
    failures: list[tuple[str, str, str]] = []
    chain = EngineChain(
        "stt",
        [local, remote],
        breaker=BreakerConfig(min_requests=2, cooldown_s=30),
        on_failure=lambda *a: failures.append(a),
        clock=lambda: now[0],
    )

    async def call() -> str:
        result, engine = await chain.call(lambda e: e.answer())
        assert result == engine.name
        return result

    assert [asyncio.run(call()) for _ in range(3)] == ["remote"] * 3
    # Two failures opened local's breaker: the third call went straight to remote.
    assert local.calls == 2
    assert chain.status() == {"local": "open", "remote": "closed"}
    assert failures == [("stt", "local", "stt-failed")] * 2
    now[0] = 31.0  # cooldown over: local is tried again (and fails again)
    asyncio.run(call())
    assert local.calls == 3


def test_every_engine_failing_raises_the_last_failure() -> None:
    chain = EngineChain("stt", [_Engine("a", fails=5), _Engine("b", fails=5)])
    with pytest.raises(SpeechToTextError, match="b broke"):
        asyncio.run(chain.call(lambda e: e.answer()))
    nothing = EngineChain("stt", [_Engine("a")])
    with pytest.raises(VoiceUnavailableError):
        asyncio.run(nothing.call(lambda e: e.answer(), accept=lambda e: False))


def test_under_pressure_light_engines_go_first() -> None:
    pressure = [False]
    piper, espeak = _Engine("piper", heavy=True), _Engine("espeak")
    chain = EngineChain(
        "tts", [piper, espeak], under_pressure=lambda: pressure[0], heavy=lambda e: e.heavy
    )
    assert [e.name for e in chain.order()] == ["piper", "espeak"]
    pressure[0] = True
    assert [e.name for e in chain.order()] == ["espeak", "piper"]


def test_a_stream_falls_over_before_its_first_item_only() -> None:
    chain = EngineChain("tts", [_Engine("piper", fails=1), _Engine("espeak")])

    async def collect() -> list[str]:
        return [item async for item, _engine in chain.stream(lambda e: e.chunks())]

    assert asyncio.run(collect()) == ["espeak-1", "espeak-2"]
    assert asyncio.run(collect()) == ["piper-1", "piper-2"]  # piper works again


def test_event_names_follow_the_stage_order() -> None:
    assert [s.value for s in STAGE_ORDER] == ["vad", "stt", "translate", "chat", "tts"]
    for stage in Stage:
        assert EventType.start(stage).value == f"{stage.value}-start"
        assert EventType.end(stage).value == f"{stage.value}-end"


def test_error_codes_map_back_to_their_classes() -> None:
    for cls in (SpeechToTextError, AudioTooLongError, UnsupportedMediaTypeError):
        error = error_for_code(cls.code, "m")
        assert type(error) is cls
        assert error.status == cls.status
    assert error_for_code("no-such-code", "m").status == 500


def test_what_whisper_repeats_back_to_back_is_said_once() -> None:
    from alice.voice.stt.whisper import _without_repeats

    assert _without_repeats("Odd it is. Odd it is. odd it is! Then more.") == (
        "Odd it is. Then more."
    )
    assert _without_repeats("I am the king of the king of the king of the king.") == (
        "I am the king of the king."
    )
    # Twice is speech, not a loop.
    assert _without_repeats("Hej. Hej då. Hej. Very very good.") == (
        "Hej. Hej då. Hej. Very very good."
    )


def test_silence_is_counted_only_inside_speech() -> None:
    segmenter = SpeechSegmenter(VadConfig(min_speech_s=0.0, end_silence_s=0.5))
    segmenter.step(0.1, FRAME)
    assert segmenter.silence_s == 0.0  # not speaking: no pause to count
    segmenter.step(0.9, FRAME)
    segmenter.step(0.1, FRAME)
    segmenter.step(0.1, FRAME)
    assert segmenter.silence_s == pytest.approx(2 * FRAME)
    segmenter.step(0.9, FRAME)
    assert segmenter.silence_s == 0.0


def test_the_first_piece_of_a_run_on_answer_is_cut_sooner() -> None:
    splitter = SentenceSplitter(max_chars=200, first_max_chars=60)
    pieces = splitter.feed("ord " * 80)
    assert len(pieces[0]) <= 60
    assert all(len(p) <= 200 for p in pieces[1:])
    assert len(pieces[1]) > 60


class _Stuck:
    name = "stuck"
    heavy = True

    async def answer(self) -> str:
        await asyncio.sleep(30)
        return "never"

    async def chunks(self) -> AsyncIterator[str]:
        yield "first"
        await asyncio.sleep(30)
        yield "never"


def test_an_engine_that_hangs_counts_as_failed_and_the_next_one_answers() -> None:
    failures: list[tuple[str, str, str]] = []
    chain = EngineChain(
        "stt",
        [_Stuck(), _Engine("whisper")],
        timeout_s=0.05,
        error=SpeechToTextError,
        on_failure=lambda *a: failures.append(a),
    )
    result, engine = asyncio.run(chain.call(lambda e: e.answer()))
    assert (result, engine.name) == ("whisper", "whisper")
    assert failures == [("stt", "stuck", "stt-failed")]


def test_a_stream_that_stalls_after_its_first_chunk_fails_with_the_stage_error() -> None:
    chain = EngineChain(
        "tts", [_Stuck(), _Engine("espeak")], timeout_s=0.05, error=TextToSpeechError
    )

    async def collect() -> list[str]:
        return [item async for item, _engine in chain.stream(lambda e: e.chunks())]

    # The listener already heard the first chunk: no fallback, the stage fails.
    with pytest.raises(TextToSpeechError, match="took longer"):
        asyncio.run(collect())
