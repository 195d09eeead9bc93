from __future__ import annotations

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


def test_not_ready_while_the_model_cannot_load(make_settings: SettingsFactory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    provider = LlamaCppProvider(
        LlamaCppConfig(model_name="m", model_path=tmp_path / "missing.gguf", bundled=False)
    )
    with serve_in_thread(create_app(make_settings(), provider=provider)) as url:
        assert httpx.get(f"{url}/health").status_code == 200
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
