"""Remote voice engines (OpenAI's audio API) and the fallback chains.

The remote server is a real one: another Alice, whose ``/v1/audio/*`` speak OpenAI's
audio API with its own local engines. The failing one is a real local HTTP server that
answers 503 on purpose (fault injection).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from alice.app import create_app
from alice.llm.providers.llamacpp import LlamaCppProvider
from alice.voice import Audio, VoicePipeline, decode_audio
from tests.conftest import SettingsFactory
from tests.support.servers import serve_in_thread

SPOKEN = "The weather in Stockholm is sunny today."
KEYWORDS = {"weather", "stockholm", "sunny", "today"}


def _words(text: str) -> set[str]:
    return set(re.sub(r"[^\w ]", " ", text.lower()).split())


@pytest.fixture
def broken_url() -> Iterator[str]:
    """An audio server that is down: every request answers 503."""

    async def down(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"error": {"message": "maintenance"}}, status_code=503)

    app = Starlette(
        routes=[Route("/v1/audio/{rest:path}", down, methods=["POST"])],
    )
    with serve_in_thread(app) as url:
        yield url


def _english_speech(alice_url: str) -> Audio:
    wav = httpx.post(f"{alice_url}/v1/audio/speech", json={"input": SPOKEN}, timeout=60)
    assert wav.status_code == 200
    return decode_audio(wav.content, max_seconds=60)


async def test_the_openai_engines_recognise_translate_and_speak_through_a_real_server(
    alice_url: str, make_settings: SettingsFactory, llm: LlamaCppProvider
) -> None:
    speech = _english_speech(alice_url)
    settings = make_settings(
        voice_stt=("openai",),
        voice_tts=("openai",),
        voice_remote_url=f"{alice_url}/v1",
        voice_remote_tts_rate=22050,
    )
    app = create_app(settings, provider=llm)
    async with app.router.lifespan_context(app):
        pipeline: VoicePipeline = app.state.voice
        heard = await pipeline.transcribe(speech, language="en")
        assert heard.engine == "openai"
        assert len(KEYWORDS & _words(heard.text)) >= 3, heard.text
        english = await pipeline.transcribe(speech, language=None, task="translate")
        assert len(KEYWORDS & _words(english.text)) >= 3, english.text
        chunks = [audio async for audio in pipeline.speak(SPOKEN)]
        spoken = Audio(np.concatenate([c.samples for c in chunks]), chunks[0].rate)
        assert spoken.duration_s > 1.0
        back = await pipeline.transcribe(spoken.resampled(16000), language="en")
    # piper's voice varies a little from call to call (its noise is random): most of the
    # key words, not all, must come back.
    assert len(KEYWORDS & _words(back.text)) >= 3, back.text


async def test_a_remote_engine_that_is_down_falls_back_and_opens_its_breaker(
    alice_url: str,
    broken_url: str,
    make_settings: SettingsFactory,
    llm: LlamaCppProvider,
) -> None:
    speech = _english_speech(alice_url)
    settings = make_settings(
        voice_stt=("openai", "whisper"),
        voice_tts=("openai", "espeak"),
        voice_remote_url=f"{broken_url}/v1",
        breaker_min_requests=2,
        breaker_cooldown_s=300,
    )
    app = create_app(settings, provider=llm)
    async with app.router.lifespan_context(app):
        pipeline: VoicePipeline = app.state.voice
        engines = [(await pipeline.transcribe(speech, language="en")).engine for _ in range(3)]
        spoken = [a async for a in pipeline.speak("Hello there, this is a test.")]
        assert spoken and spoken[0].duration_s > 0.5
        metrics = app.state.metrics.exposition().decode()
    assert engines == ["whisper"] * 3
    assert pipeline.stt.status() == {"openai": "open", "whisper": "closed"}
    # Two failures opened the remote's breaker; the third call did not try it.
    assert (
        'alice_voice_engine_failures_total{engine="openai",error_class="stt-failed",'
        'stage="stt"} 2.0' in metrics
    )
    assert 'engine="openai",error_class="tts-failed",stage="tts"' in metrics


def test_when_every_engine_fails_the_client_gets_a_clear_error(
    broken_url: str, make_settings: SettingsFactory, llm: LlamaCppProvider, tmp_path: Path
) -> None:
    settings = make_settings(
        voice_stt=("openai",), voice_tts=("openai",), voice_remote_url=f"{broken_url}/v1"
    )
    wav = (Path(__file__).parent / "clips" / "sv-01.wav").read_bytes()
    with serve_in_thread(create_app(settings, provider=llm)) as url:
        heard = httpx.post(
            f"{url}/v1/audio/transcriptions", files={"file": ("q.wav", wav)}, timeout=60
        )
        spoken = httpx.post(f"{url}/v1/audio/speech", json={"input": "Hello."}, timeout=60)
        turn = httpx.post(f"{url}/api/voice/turn", files={"file": ("q.wav", wav)}, timeout=60)
    assert heard.status_code == 502
    assert heard.json()["error"]["code"] == "stt-failed"
    assert "503" in heard.json()["error"]["message"]
    assert spoken.status_code == 502
    assert spoken.json()["error"]["code"] == "tts-failed"
    assert turn.status_code == 502
    assert turn.json()["error"]["code"] == "stt-failed"
