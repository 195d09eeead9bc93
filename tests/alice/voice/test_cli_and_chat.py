"""``alice voice`` / ``alice say`` as a user runs them, and ``/api/chat`` with ``voice``."""

from __future__ import annotations

import base64
import io
import subprocess
import wave
from pathlib import Path

import httpx

from tests.support.cli import run_alice
from tests.support.stored import stored_rows

CLIPS = Path(__file__).parent / "clips"


def _alice(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_alice(*args, env=env, cwd=cwd, timeout=300)


def _seconds(wav: bytes) -> float:
    with wave.open(io.BytesIO(wav)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 22050)
        return w.getnframes() / w.getframerate()


def test_say_writes_a_wav(tmp_path: Path, whisper_dir: Path) -> None:
    out = tmp_path / "hello.wav"
    env = {"ALICE_DATA_DIR": str(tmp_path / "data"), "ALICE_VOICE_STT_MODEL_PATH": str(whisper_dir)}
    result = _alice("say", "Hello from Alice. Goodbye.", "-o", str(out), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert _seconds(out.read_bytes()) > 1.0
    assert "wrote" in result.stderr


def test_voice_answers_a_recording_and_stores_the_turn(
    tmp_path: Path, model_file: Path, whisper_dir: Path
) -> None:
    out = tmp_path / "answer.wav"
    env = {
        "ALICE_DATA_DIR": str(tmp_path / "data"),
        "ALICE_MODEL_PATH": str(model_file),
        "ALICE_VOICE_STT_MODEL_PATH": str(whisper_dir),
        "ALICE_DEFAULT_MAX_TOKENS": "32",
    }
    result = _alice("voice", str(CLIPS / "sv-01.wav"), "-o", str(out), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    answer = result.stdout.strip()
    assert answer
    assert "heard:" in result.stderr and "english:" in result.stderr
    assert _seconds(out.read_bytes()) > 0.3
    rows = stored_rows(
        tmp_path / "data", "SELECT role, opened(content, content_key) FROM messages ORDER BY seq"
    )
    assert [r[0] for r in rows] == ["user", "assistant"]
    assert rows[1][1] == answer


def test_voice_refuses_what_is_not_audio_in_one_line(tmp_path: Path, whisper_dir: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("not audio " * 100)
    env = {"ALICE_DATA_DIR": str(tmp_path / "data"), "ALICE_VOICE_STT_MODEL_PATH": str(whisper_dir)}
    result = _alice("voice", str(junk), env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "unsupported-media-type" in result.stderr
    assert "Traceback" not in result.stderr


def test_chat_with_voice_returns_the_answer_spoken(alice_url: str) -> None:
    with httpx.Client(base_url=alice_url, timeout=120) as client:
        response = client.post(
            "/api/chat",
            json={"text": "What is the capital of Sweden?", "voice": True, "max_tokens": 32},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["text"]
        assert _seconds(base64.b64decode(body["audio"])) > 0.3
        plain = client.post("/api/chat", json={"text": "Hej", "max_tokens": 8}).json()
        assert plain["audio"] is None
        streamed = client.post("/api/chat", json={"text": "Hej", "voice": True, "stream": True})
    assert streamed.status_code == 422
    assert streamed.json()["error"]["code"] == "invalid-request"


def test_speech_in_a_language_no_voice_speaks_is_a_client_error(alice_url: str) -> None:
    with httpx.Client(base_url=alice_url, timeout=60) as client:
        unknown = client.post("/v1/audio/speech", json={"input": "Hej", "language": "xe"})
        swedish = client.post("/v1/audio/speech", json={"input": "Hej då", "language": "sv"})
        # JSON may carry a lone surrogate: not text, refused with a clear error.
        odd = client.post(
            "/v1/audio/speech",
            content=b'{"input": "hello \\ud800 there"}',
            headers={"content-type": "application/json"},
        )
    assert unknown.status_code == 422
    assert unknown.json()["error"]["field"] == "language"
    assert swedish.status_code == 200  # espeak-ng speaks Swedish; piper does not
    assert _seconds(swedish.content) > 0.3
    assert odd.status_code == 422, odd.text
    assert odd.json()["error"]["field"] == "input"
