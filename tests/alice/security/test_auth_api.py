"""Authentication and scopes as a client sees them."""

from __future__ import annotations

import openai
import pytest

from alice.app import create_app
from alice.llm.providers.llamacpp import LlamaCppProvider
from alice.security.keys import looks_like_key
from tests.alice.security.conftest import SecureAlice
from tests.conftest import SettingsFactory
from tests.support.servers import serve_in_thread


def _error_code(response: object) -> str:
    return str(response.json()["error"]["code"])  # type: ignore[attr-defined]


def test_no_key_or_a_wrong_key_is_401_with_the_error_body(secure_alice: SecureAlice) -> None:
    for key in (None, "alice_" + "x" * 40, "not-a-key"):
        with secure_alice.client(key) as client:
            answer = client.get("/api/conversations")
        assert answer.status_code == 401
        assert _error_code(answer) == "unauthenticated"
        assert answer.headers["www-authenticate"].startswith("Bearer")
    with secure_alice.client() as client:
        answer = client.get("/api/conversations", headers={"X-API-Key": "alice_" + "y" * 40})
    assert answer.status_code == 401


def test_health_and_ready_need_no_key(secure_alice: SecureAlice) -> None:
    with secure_alice.client() as client:
        assert client.get("/health").status_code == 200
        assert client.get("/ready").status_code in (200, 503)
        assert client.get("/openapi.json").status_code == 401  # docs are not public by default


def test_a_chat_key_chats_but_cannot_administer(secure_alice: SecureAlice) -> None:
    key, _ = secure_alice.issue("acme", "chat")
    with secure_alice.client(key) as client:
        answer = client.post("/api/chat", json={"text": "Hej!", "max_tokens": 4})
        assert answer.status_code == 200, answer.text
        assert (
            client.get("/api/conversations").json()["data"][0]["id"]
            == (answer.json()["conversation_id"])
        )
        for method, path in (
            ("GET", "/api/keys"),
            ("POST", "/api/admin/tenants"),
            ("GET", "/guardian/status"),
            ("POST", "/api/admin/guardian/drill"),
        ):
            refused = client.request(method, path, json={"name": "x", "action": "clear"})
            assert refused.status_code == 403, (method, path)
            assert _error_code(refused) == "forbidden"
    with secure_alice.client(key) as client:
        client.headers["Authorization"] = ""
        assert client.get("/api/conversations", headers={"X-API-Key": key}).status_code == 200


def test_a_tenant_admin_manages_its_own_keys_only(secure_alice: SecureAlice) -> None:
    admin, _ = secure_alice.issue("acme", "admin")
    with secure_alice.client(admin) as client:
        created = client.post("/api/keys", json={"scope": "chat", "name": "bot"})
        assert created.status_code == 201
        new = created.json()
        assert looks_like_key(new["key"]) and new["api_key"]["tenant"] == "acme"
        listed = client.get("/api/keys").json()["data"]
        assert {k["name"] for k in listed} == {"", "bot"}
        # The key itself is never listed again, only its first characters.
        assert new["key"] not in str(listed) and new["key"][:12] in str(listed)
        assert client.get("/api/keys", params={"tenant": "default"}).status_code == 403
        assert client.post("/api/keys", json={"tenant": "default"}).status_code == 403
        assert client.get("/api/admin/tenants").status_code == 403


def test_revoke_and_rotate_take_effect_at_once(secure_alice: SecureAlice) -> None:
    key, key_id = secure_alice.issue("acme", "chat")
    with secure_alice.client(secure_alice.operator_key) as operator:
        assert operator.get("/api/keys", params={"tenant": "acme"}).status_code == 200
        with secure_alice.client(key) as client:
            assert client.get("/api/conversations").status_code == 200
            rotated = operator.post(f"/api/keys/{key_id}/rotate", params={"tenant": "acme"})
            assert rotated.status_code == 201
            assert client.get("/api/conversations").status_code == 401
        new_key = rotated.json()["key"]
        with secure_alice.client(new_key) as client:
            assert client.get("/api/conversations").status_code == 200
            new_id = rotated.json()["api_key"]["id"]
            revoked = operator.delete(f"/api/keys/{new_id}", params={"tenant": "acme"})
            assert revoked.status_code == 204
            assert client.get("/api/conversations").status_code == 401


def test_the_openai_sdk_authenticates_with_its_api_key(secure_alice: SecureAlice) -> None:
    key, _ = secure_alice.issue("acme", "chat")
    client = openai.OpenAI(base_url=f"{secure_alice.url}/v1", api_key=key, max_retries=0)
    assert [m.id for m in client.models.list()] == ["gemma-3-270m"]
    denied = openai.OpenAI(base_url=f"{secure_alice.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        denied.models.list()
    assert caught.value.status_code == 401


def test_the_first_start_prints_an_admin_key_once(
    make_settings: SettingsFactory, llm: LlamaCppProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(auth="keys")
    with serve_in_thread(create_app(settings, provider=llm)):
        pass
    first = capsys.readouterr().err
    printed = [w for w in first.split() if looks_like_key(w)]
    assert len(printed) == 1
    assert first.count(printed[0]) == 1  # printed, and in no log line
    with serve_in_thread(create_app(settings, provider=llm)) as url:
        second = capsys.readouterr().err
        with SecureAlice(url, printed[0]).client(printed[0]) as client:
            assert client.get("/api/admin/tenants").status_code == 200
    assert not [w for w in second.split() if looks_like_key(w)]


def test_auth_off_warns_loudly_at_every_start(
    make_settings: SettingsFactory, llm: LlamaCppProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(auth="off")
    for _ in range(2):
        with (
            serve_in_thread(create_app(settings, provider=llm)) as url,
            SecureAlice(url, "").client() as client,
        ):
            assert client.get("/api/conversations").status_code == 200
        assert "authentication is OFF" in capsys.readouterr().err
