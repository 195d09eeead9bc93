from __future__ import annotations

from pathlib import Path

import httpx

from alice.app import create_app
from alice.llm.providers.llamacpp import LlamaCppConfig, LlamaCppProvider
from tests.conftest import SettingsFactory
from tests.support.servers import serve_in_thread


def test_health_and_ready_when_everything_is_up(alice_url: str) -> None:
    assert httpx.get(f"{alice_url}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{alice_url}/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert {name: c["state"] for name, c in body["components"].items()} == {
        "database": "healthy",
        "model": "healthy",
    }


def _broken_model(tmp_path: Path) -> LlamaCppProvider:
    return LlamaCppProvider(
        LlamaCppConfig(model_name="m", model_path=tmp_path / "missing.gguf", bundled=False)
    )


def test_with_every_model_down_alice_is_degraded_and_answers_offline(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    app = create_app(make_settings(), provider=_broken_model(tmp_path))
    with serve_in_thread(app) as url:
        assert httpx.get(f"{url}/health").status_code == 200
        ready = httpx.get(f"{url}/ready")
        chat = httpx.post(f"{url}/api/chat", json={"text": "Vad är klockan?"})
        english = httpx.post(f"{url}/api/chat", json={"text": "What time is it?"})
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["components"]["model"]["state"] == "degraded"
    assert chat.status_code == 200
    assert chat.json()["offline"] is True
    assert chat.json()["model"] == "offline"
    assert "offlineläge" in chat.json()["text"]
    assert "offline mode" in english.json()["text"]


def test_without_offline_answers_a_dead_model_is_503_and_not_ready(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    app = create_app(make_settings(offline_answers=False), provider=_broken_model(tmp_path))
    with serve_in_thread(app) as url:
        ready = httpx.get(f"{url}/ready")
        chat = httpx.post(f"{url}/api/chat", json={"text": "hej"})
    assert ready.status_code == 503
    assert ready.json()["components"]["model"]["state"] == "unhealthy"
    assert ready.json()["components"]["database"]["state"] == "healthy"
    assert chat.status_code == 503
    assert chat.json()["error"]["code"] == "model-unavailable"
    assert "retry-after" in chat.headers


def test_openapi_schema_is_served(alice_url: str) -> None:
    schema = httpx.get(f"{alice_url}/openapi.json").json()
    assert {"/api/chat", "/v1/chat/completions", "/v1/models", "/ready"} <= set(schema["paths"])
