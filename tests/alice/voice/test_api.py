"""Alice's voice API through a real server: ``/api/voice/turn``, ``/v1/audio/*`` and the
``/api/voice/stream`` WebSocket, with the real Whisper, piper and embedded model.

Every spoken turn costs seconds of CPU, so each test runs as few turns as its point
needs, most of them on one server for the module (see `voice_url`), and each turn says a
different clip.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import time
import urllib.parse
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from openai import OpenAI
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from alice.app import create_app
from alice.llm.providers.llamacpp import LlamaCppProvider
from alice.settings import Settings
from tests.conftest import SettingsFactory
from tests.support.servers import serve_in_thread

CLIPS = Path(__file__).parent / "clips"
#: 100 ms of 16 kHz mono PCM16: the chunk a live client sends.
CHUNK_BYTES = 3200
OUTPUT_RATE = 22_050


# -- helpers ------------------------------------------------------------------------


def _settings(data_dir: Path, model_file: Path, whisper_dir: Path, **overrides: Any) -> Settings:
    """What `make_settings` gives, for servers shared by the module's tests."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "model_path": model_file,
        "voice_stt_model_path": whisper_dir,
        "guardian_enabled": False,
        "auth": "off",
        "rate_limit": "off",
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@contextmanager
def _alice(settings: Settings, llm: LlamaCppProvider) -> Iterator[str]:
    with serve_in_thread(create_app(settings, provider=llm)) as url:
        yield url


# One server for the module's spoken turns: each app loads Whisper and piper on first use,
# seconds of CPU apiece. No response cache: a clip that Whisper hears as another clip's
# words would otherwise be answered at once, with no model still writing to interrupt.


@pytest.fixture(scope="module")
def voice_url(
    tmp_path_factory: pytest.TempPathFactory,
    model_file: Path,
    whisper_dir: Path,
    llm: LlamaCppProvider,
) -> Iterator[str]:
    """The module's server (short answers: the model runs on a small machine)."""
    data_dir = tmp_path_factory.mktemp("voice") / "data"
    settings = _settings(data_dir, model_file, whisper_dir, cache="off", default_max_tokens=40)
    with _alice(settings, llm) as url:
        yield url


def _clip(name: str) -> bytes:
    return (CLIPS / name).read_bytes()


def _pcm16(name: str) -> bytes:
    """A clip's samples without the WAV header (the clips are 16 kHz mono PCM16)."""
    with wave.open(str(CLIPS / name), "rb") as clip:
        assert (clip.getframerate(), clip.getnchannels(), clip.getsampwidth()) == (16000, 1, 2)
        return clip.readframes(clip.getnframes())


def _wav(pcm: bytes, *, rate: int, channels: int = 1) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()


def _wav_info(data: bytes) -> tuple[int, int, int, float]:
    """(channels, sample width, rate, seconds) of a WAV file."""
    with wave.open(io.BytesIO(data), "rb") as wav:
        rate = wav.getframerate()
        return wav.getnchannels(), wav.getsampwidth(), rate, wav.getnframes() / rate


def _stereo_48k(name: str) -> bytes:
    """A clip as a 48 kHz stereo WAV (linear interpolation; the right channel quieter)."""
    mono = np.frombuffer(_pcm16(name), dtype="<i2").astype(np.float64)
    times = np.arange(0, len(mono) * 3) / 3
    resampled = np.interp(times, np.arange(len(mono)), mono)
    stereo = np.stack([resampled, resampled * 0.5], axis=1).round().astype("<i2")
    return _wav(stereo.tobytes(), rate=48000, channels=2)


def _turn(client: httpx.Client, wav: bytes, **kwargs: Any) -> httpx.Response:
    return client.post(
        "/api/voice/turn", files={"file": ("speech.wav", wav, "audio/wav")}, **kwargs
    )


def _ws_url(url: str, **query: str) -> str:
    base = url.replace("http://", "ws://") + "/api/voice/stream"
    return f"{base}?{urllib.parse.urlencode(query)}" if query else base


def _say(socket: ClientConnection, pcm: bytes, *, silence_s: float = 1.0) -> None:
    """Speech in 100 ms chunks, then silence so that the VAD hears the end."""
    for start in range(0, len(pcm), CHUNK_BYTES):
        socket.send(pcm[start : start + CHUNK_BYTES])
    for _ in range(round(silence_s * 10)):
        socket.send(bytes(CHUNK_BYTES))


Frame = dict[str, Any] | bytes


def _frames_until(socket: ClientConnection, last: str, *, timeout: float = 90) -> list[Frame]:
    """Frames (events as dicts, audio as bytes) up to and including event ``last``."""
    frames: list[Frame] = []
    deadline = time.monotonic() + timeout
    while True:
        message = socket.recv(timeout=max(0.1, deadline - time.monotonic()))
        frame: Frame = message if isinstance(message, bytes) else json.loads(message)
        frames.append(frame)
        if isinstance(frame, dict) and frame["type"] == last:
            return frames


def _events(frames: list[Frame]) -> list[dict[str, Any]]:
    return [f for f in frames if isinstance(f, dict)]


def _types(frames: list[Frame]) -> list[str]:
    return [e["type"] for e in _events(frames)]


def _index(frames: list[Frame], kind: str) -> int:
    return next(i for i, f in enumerate(frames) if isinstance(f, dict) and f["type"] == kind)


def _first(frames: list[Frame], kind: str) -> dict[str, Any]:
    return next(e for e in _events(frames) if e["type"] == kind)


def _assert_whole_run(frames: list[Frame]) -> None:
    """One run's events are complete, in stage order, each audio event with its bytes."""
    types = _types(frames)
    assert types[:3] == ["run-start", "vad-start", "vad-speech-start"], types
    assert types[-1] == "run-end", types
    for kind in (
        "vad-end",
        "stt-start",
        "stt-end",
        "translate-start",
        "translate-end",
        "chat-start",
        "chat-end",
        "tts-start",
        "tts-end",
    ):
        assert types.count(kind) == 1, (kind, types)
    assert "chat-delta" in types and "tts-audio" in types, types
    assert "error" not in types, _events(frames)
    starts = [types.index(f"{stage}-start") for stage in ("vad", "stt", "translate", "chat", "tts")]
    assert starts == sorted(starts), types
    assert _first(frames, "run-end")["data"]["outcome"] == "complete"
    for i, frame in enumerate(frames):
        if isinstance(frame, dict) and frame["type"] == "tts-audio":
            audio = frames[i + 1]
            assert isinstance(audio, bytes), frames[i : i + 2]
            assert len(audio) == frame["data"]["bytes"] > 0
    # No other binary frames: each belongs to the tts-audio event right before it.
    assert sum(isinstance(f, bytes) for f in frames) == types.count("tts-audio")


def _messages(client: httpx.Client, conversation_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/conversations/{conversation_id}")
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


# -- POST /api/voice/turn -------------------------------------------------------------


def test_spoken_turn_answers_in_text_and_speech_and_is_stored(voice_url: str) -> None:
    with httpx.Client(base_url=voice_url, timeout=120) as client:
        response = _turn(client, _clip("sv-01.wav"))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        turn = response.json()
        assert turn["transcript"].strip()
        assert turn["translation"].strip()
        assert turn["answer"].strip()
        assert turn["language"] == "sv"
        assert turn["conversation_id"] and turn["message_id"]
        channels, width, rate, seconds = _wav_info(base64.b64decode(turn["audio"]))
        assert (channels, width, rate) == (1, 2, OUTPUT_RATE)
        assert seconds > 0.3
        assert {"vad", "stt", "translate", "chat", "tts"} <= set(turn["stages_ms"])

        messages = _messages(client, turn["conversation_id"])
    assert [(m["role"], m["content"], m["status"]) for m in messages] == [
        ("user", turn["translation"], "complete"),
        ("assistant", turn["answer"], "complete"),
    ]
    assert messages[1]["id"] == turn["message_id"]


def test_spoken_turn_answers_with_the_wav_itself(voice_url: str) -> None:
    with httpx.Client(base_url=voice_url, timeout=120) as client:
        response = _turn(client, _clip("sv-02.wav"), headers={"Accept": "audio/wav"})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "audio/wav"
        channels, width, rate, seconds = _wav_info(response.content)
        assert (channels, width, rate) == (1, 2, OUTPUT_RATE)
        assert seconds > 0.3
        assert urllib.parse.unquote(response.headers["X-Alice-Transcript"]).strip()
        assert urllib.parse.unquote(response.headers["X-Alice-Answer"]).strip()
        conversation_id = response.headers["X-Alice-Conversation-Id"]
        messages = _messages(client, conversation_id)
    assert messages[0]["content"] == urllib.parse.unquote(response.headers["X-Alice-Translation"])
    assert messages[1]["content"] == urllib.parse.unquote(response.headers["X-Alice-Answer"])


def test_silence_is_not_a_turn(alice_url: str) -> None:
    # A server of its own, with an empty database: silence needs only the VAD.
    silence = _wav(bytes(2 * 16000 * 2), rate=16000)
    with httpx.Client(base_url=alice_url, timeout=60) as client:
        response = _turn(client, silence)
        assert response.status_code == 200, response.text
        turn = response.json()
        conversations = client.get("/api/conversations").json()["data"]
    assert (turn["transcript"], turn["translation"], turn["answer"]) == ("", "", "")
    assert turn["audio"] is None
    assert turn["conversation_id"] is None
    assert conversations == []


def test_bad_uploads_are_refused_and_odd_formats_converted(
    voice_url: str, make_settings: SettingsFactory, llm: LlamaCppProvider, tmp_path: Path
) -> None:
    stereo = _stereo_48k("sv-09.wav")
    with httpx.Client(base_url=voice_url, timeout=120) as client:
        noise = _turn(client, np.random.default_rng(7).bytes(20_000))
        empty = _turn(client, b"")
        converted = _turn(client, stereo)
    assert noise.status_code == 415
    assert noise.json()["error"]["code"] == "unsupported-media-type"
    assert noise.json()["error"]["message"]
    assert empty.status_code == 422
    assert empty.json()["error"]["code"] == "invalid-audio"
    assert converted.status_code == 200, converted.text
    assert converted.json()["transcript"].strip()
    assert converted.json()["answer"].strip()

    limited = make_settings(
        data_dir=tmp_path / "limited", voice_max_audio_s=1.0, voice_max_upload_bytes=200_000
    )
    assert len(_clip("sv-06.wav")) < 200_000 < len(stereo)
    with _alice(limited, llm) as url, httpx.Client(base_url=url, timeout=60) as client:
        too_long = _turn(client, _clip("sv-06.wav"))
        too_big = _turn(client, stereo)
        conversations = client.get("/api/conversations").json()["data"]
    assert too_long.status_code == 413
    assert too_long.json()["error"]["code"] == "audio-too-long"
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "payload-too-large"
    assert conversations == []


# -- /v1/audio/* (OpenAI-compatible) --------------------------------------------------

SPOKEN = "The weather in Stockholm is sunny today."


def test_openai_sdk_transcribes_english_speech(voice_url: str, tmp_path: Path) -> None:
    with httpx.Client(base_url=voice_url, timeout=60) as client:
        speech = client.post("/v1/audio/speech", json={"input": SPOKEN, "response_format": "wav"})
    assert speech.status_code == 200, speech.text
    path = tmp_path / "speech.wav"
    path.write_bytes(speech.content)

    with OpenAI(base_url=voice_url + "/v1", api_key="x", timeout=60) as sdk:
        with path.open("rb") as audio:
            transcript = sdk.audio.transcriptions.create(
                model="whisper-1", file=audio, language="en"
            )
        with path.open("rb") as audio:
            text = sdk.audio.transcriptions.create(
                model="whisper-1", file=audio, language="en", response_format="text"
            )
        with path.open("rb") as audio:
            srt = sdk.audio.transcriptions.create(
                model="whisper-1", file=audio, language="en", response_format="srt"
            )
        with path.open("rb") as audio:
            vtt = sdk.audio.transcriptions.create(
                model="whisper-1", file=audio, language="en", response_format="vtt"
            )

    for words in (transcript.text, text):
        assert "weather" in words.lower() and "stockholm" in words.lower(), words
    assert isinstance(text, str) and text.endswith("\n")
    # srt: numbered cues, "HH:MM:SS,mmm --> HH:MM:SS,mmm", then the text.
    srt_lines = srt.strip().splitlines()
    assert srt_lines[0] == "1"
    assert srt_lines[1].startswith("00:00:0") and " --> " in srt_lines[1]
    assert "," in srt_lines[1] and "." not in srt_lines[1]
    assert "stockholm" in srt.lower()
    # vtt: the WEBVTT header, then cues with "HH:MM:SS.mmm --> HH:MM:SS.mmm".
    vtt_lines = vtt.strip().splitlines()
    assert vtt_lines[0] == "WEBVTT"
    assert " --> " in vtt_lines[2] and "." in vtt_lines[2] and "," not in vtt_lines[2]
    assert "stockholm" in vtt.lower()


def test_speech_comes_as_wav_or_raw_pcm(voice_url: str) -> None:
    body = {"input": "Hello from Alice.", "model": "tts-1", "voice": "alloy"}
    with httpx.Client(base_url=voice_url, timeout=60) as client:
        wav = client.post("/v1/audio/speech", json={**body, "response_format": "wav"})
        pcm = client.post("/v1/audio/speech", json={**body, "response_format": "pcm"})
        mp3 = client.post("/v1/audio/speech", json={**body, "response_format": "mp3"})
    assert wav.status_code == 200, wav.text
    assert wav.headers["content-type"] == "audio/wav"
    channels, width, rate, seconds = _wav_info(wav.content)
    assert (channels, width, rate) == (1, 2, OUTPUT_RATE)
    assert seconds > 0.3

    assert pcm.status_code == 200, pcm.text
    assert pcm.headers["content-type"] == "audio/pcm"
    assert pcm.headers["X-Sample-Rate"] == str(OUTPUT_RATE)
    assert len(pcm.content) % 2 == 0 and len(pcm.content) > 0.3 * OUTPUT_RATE * 2
    assert not pcm.content.startswith(b"RIFF")

    assert mp3.status_code == 422
    assert mp3.json()["error"]["code"] == "invalid-request"
    assert mp3.json()["error"]["field"] == "response_format"


# -- /api/voice/stream ----------------------------------------------------------------


def test_stream_runs_every_stage_and_continues_the_conversation(voice_url: str) -> None:
    with connect(_ws_url(voice_url), open_timeout=10) as socket:
        _say(socket, _pcm16("sv-03.wav"))
        first = _frames_until(socket, "run-end")
        _say(socket, _pcm16("sv-07.wav"))
        second = _frames_until(socket, "run-end")

    _assert_whole_run(first)
    _assert_whole_run(second)
    conversation_id = _first(first, "chat-start")["data"]["conversation_id"]
    assert conversation_id
    assert _first(second, "chat-start")["data"]["conversation_id"] == conversation_id
    assert _first(second, "run-start")["data"]["conversation_id"] == conversation_id
    assert _first(first, "tts-start")["data"]["rate"] == OUTPUT_RATE
    assert _first(first, "stt-end")["data"]["text"].strip()

    with httpx.Client(base_url=voice_url, timeout=30) as client:
        messages = _messages(client, conversation_id)
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", _first(first, "translate-end")["data"]["text"]),
        ("assistant", _first(first, "chat-end")["data"]["text"]),
        ("user", _first(second, "translate-end")["data"]["text"]),
        ("assistant", _first(second, "chat-end")["data"]["text"]),
    ]


def test_speaking_over_the_answer_cancels_it(voice_url: str) -> None:
    # The second utterance starts as soon as the model is answering (chat-start), not
    # after the first tts-audio: the bundled model answers in one short sentence, whose
    # audio comes after the whole answer was written and is spoken in ~0.2 s, so after
    # the first tts-audio there is no answer left to interrupt.
    with connect(_ws_url(voice_url), open_timeout=10) as socket:
        _say(socket, _pcm16("sv-05.wav"))
        before = _frames_until(socket, "chat-start")
        _say(socket, _pcm16("sv-08.wav"))
        after = _frames_until(socket, "run-end")
    conversation_id = _first(before, "chat-start")["data"]["conversation_id"]
    with httpx.Client(base_url=voice_url, timeout=30) as client:
        messages = _messages(client, conversation_id)

    types = _types(after)
    assert "barge-in" in types, f"the first answer was over before the user spoke: {types}"
    barge_in = _index(after, "barge-in")
    interrupted, second = after[:barge_in], after[barge_in + 1 :]
    # The interrupted run sends nothing more; the new run follows at once, in full.
    assert not {"chat-end", "tts-start", "run-end"} & set(_types(interrupted)), types
    _assert_whole_run(second)
    assert _first(second, "chat-start")["data"]["conversation_id"] == conversation_id

    said = "".join(e["data"]["text"] for e in _events(interrupted) if e["type"] == "chat-delta")
    assert [(m["role"], m["status"]) for m in messages] == [
        ("user", "complete"),
        ("assistant", "cancelled"),
        ("user", "complete"),
        ("assistant", "complete"),
    ]
    assert messages[0]["content"] == _first(before, "translate-end")["data"]["text"]
    assert messages[1]["content"].startswith(said)
    assert messages[2]["content"] == _first(second, "translate-end")["data"]["text"]
    assert messages[3]["content"] == _first(second, "chat-end")["data"]["text"]


def test_stream_refuses_bad_input(voice_url: str) -> None:
    with connect(_ws_url(voice_url, sample_rate="12345"), open_timeout=10) as socket:
        error = json.loads(socket.recv(timeout=10))
        with pytest.raises(ConnectionClosed):
            socket.recv(timeout=10)
    assert error["type"] == "error"
    assert error["data"]["code"] == "invalid-audio"
    assert "12345" in error["data"]["message"]

    with connect(_ws_url(voice_url), open_timeout=10) as socket:
        socket.send("hello")
        not_a_command = json.loads(socket.recv(timeout=10))
        socket.send(json.dumps({"type": "dance"}))
        unknown = json.loads(socket.recv(timeout=10))
        # Still listening: a broken audio frame is reported, and then speech is answered.
        socket.send(b"\x00\x01\x02")
        odd_bytes = json.loads(socket.recv(timeout=10))
        _say(socket, _pcm16("sv-10.wav"))
        turn = _frames_until(socket, "run-end")
    for event in (not_a_command, unknown):
        assert event["type"] == "error"
        assert event["data"]["code"] == "invalid-request"
    assert odd_bytes["type"] == "error"
    assert odd_bytes["data"]["code"] == "invalid-audio"
    _assert_whole_run(turn)


# A client that hangs up mid-answer stops the work, and the server logs no error for it
# (closing a socket the client already left once raised WebSocketDisconnect there).
def test_client_leaving_mid_answer_cancels_it(
    voice_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with connect(_ws_url(voice_url), open_timeout=10) as socket:
        _say(socket, _pcm16("sv-04.wav"))
        started = _frames_until(socket, "chat-start")
    conversation_id = _first(started, "chat-start")["data"]["conversation_id"]

    with httpx.Client(base_url=voice_url, timeout=30) as client:
        listed = client.get("/api/conversations").json()["data"]
        assert conversation_id in [c["id"] for c in listed]
        # The answer is stored (as cancelled) once the server noticed the client left.
        deadline = time.monotonic() + 10
        messages = _messages(client, conversation_id)
        while len(messages) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            messages = _messages(client, conversation_id)
        health = client.get("/health")
    assert [(m["role"], m["status"]) for m in messages] == [
        ("user", "complete"),
        ("assistant", "cancelled"),
    ]
    assert health.status_code == 200
    # The server's end of the socket closes quietly: the handler ends right after the
    # partial answer is stored, and an unhandled exception there is logged by uvicorn.
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and not _server_errors(caplog):
        time.sleep(0.1)
    assert _server_errors(caplog) == []


def _server_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{r.getMessage()} {r.exc_info[1]!r}" if r.exc_info else r.getMessage()
        for r in caplog.records
        if r.name.startswith("uvicorn") and r.levelno >= logging.ERROR
    ]
