"""OWASP API1 (broken object level authorization): another tenant's ids are 404.

Every route with an id in its path is tried with another tenant's id; a route added
later without a case here fails `test_every_object_route_is_covered`.
"""

from __future__ import annotations

import httpx

from alice.api.routes.openai import CONVERSATION_HEADER
from alice.app import create_app
from alice.settings import Settings
from tests.alice.security.conftest import SecureAlice

# route template -> how the attacker (tenant "intruder") calls it with the victim's ids.
ATTEMPTS: dict[str, list[tuple[str, str]]] = {
    "/api/conversations/{conversation_id}": [
        ("GET", "/api/conversations/{conversation}"),
        ("DELETE", "/api/conversations/{conversation}"),
    ],
    "/api/keys/{key_id}": [("GET", "/api/keys/{key}"), ("DELETE", "/api/keys/{key}")],
    "/api/keys/{key_id}/rotate": [("POST", "/api/keys/{key}/rotate")],
}
# Operator-only routes: a tenant's admin key gets 403 whatever the id.
OPERATOR_ONLY = {"/api/admin/tenants/{name}": [("DELETE", "/api/admin/tenants/victim")]}


def test_every_object_route_is_covered(settings: Settings) -> None:
    paths = create_app(settings).openapi()["paths"]
    with_ids = {path for path in paths if "{" in path}
    assert with_ids == set(ATTEMPTS) | set(OPERATOR_ONLY)


def _victim_objects(alice: SecureAlice) -> dict[str, str]:
    chat_key, _ = alice.issue("victim", "chat")
    _, admin_key_id = alice.issue("victim", "admin")
    with alice.client(chat_key) as victim:
        answer = victim.post("/api/chat", json={"text": "Mitt hemliga projekt", "max_tokens": 4})
        assert answer.status_code == 200, answer.text
    return {
        "conversation": answer.json()["conversation_id"],
        "key": admin_key_id,
        "chat_key": chat_key,
    }


def test_another_tenants_ids_are_not_found(secure_alice: SecureAlice) -> None:
    victim = _victim_objects(secure_alice)
    intruder_admin, _ = secure_alice.issue("intruder", "admin")
    intruder_chat, _ = secure_alice.issue("intruder", "chat")
    with secure_alice.client(intruder_admin) as intruder:
        for attempts in ATTEMPTS.values():
            for method, path in attempts:
                answer = intruder.request(method, path.format(**victim))
                assert answer.status_code == 404, (method, path, answer.text)
                assert answer.json()["error"]["code"].endswith("not-found")
        for attempts in OPERATOR_ONLY.values():
            for method, path in attempts:
                assert intruder.request(method, path).status_code == 403
        assert victim["conversation"] not in intruder.get("/api/conversations").text
        assert victim["key"] not in intruder.get("/api/keys").text
    with secure_alice.client(intruder_chat) as intruder:
        continued = intruder.post(
            "/api/chat", json={"text": "Och sen?", "conversation_id": victim["conversation"]}
        )
        assert continued.status_code == 404
        streamed = intruder.post(
            "/api/chat",
            json={"text": "Och sen?", "conversation_id": victim["conversation"], "stream": True},
        )
        assert streamed.status_code == 404
        openai_style = intruder.post(
            "/v1/chat/completions",
            json={"model": "gemma-3-270m", "messages": [{"role": "user", "content": "Och?"}]},
            headers={CONVERSATION_HEADER: victim["conversation"]},
        )
        assert openai_style.status_code == 404
    _assert_intact(secure_alice, victim)


def _assert_intact(alice: SecureAlice, victim: dict[str, str]) -> None:
    with alice.client(victim["chat_key"]) as owner:
        conversation = owner.get(f"/api/conversations/{victim['conversation']}")
    assert conversation.status_code == 200
    assert [m["role"] for m in conversation.json()["messages"]] == ["user", "assistant"]
    with alice.client(alice.operator_key) as operator:
        key = operator.get(f"/api/keys/{victim['key']}", params={"tenant": "victim"})
    assert key.status_code == 200 and key.json()["revoked_at"] is None


def test_the_operator_reaches_a_tenant_only_by_naming_it(secure_alice: SecureAlice) -> None:
    victim = _victim_objects(secure_alice)
    with secure_alice.client(secure_alice.operator_key) as operator:
        assert operator.get(f"/api/keys/{victim['key']}").status_code == 404
        named = operator.get(f"/api/keys/{victim['key']}", params={"tenant": "victim"})
        assert named.status_code == 200
        # Conversations are never the operator's to read: they belong to the tenant.
        assert operator.get(f"/api/conversations/{victim['conversation']}").status_code == 404


def test_deleting_a_tenant_ends_its_keys_and_data(secure_alice: SecureAlice) -> None:
    victim = _victim_objects(secure_alice)
    with secure_alice.client(secure_alice.operator_key) as operator:
        assert operator.delete("/api/admin/tenants/victim").status_code == 204
        assert "victim" not in operator.get("/api/admin/tenants").text
    with secure_alice.client(victim["chat_key"]) as former:
        assert former.get("/api/conversations").status_code == 401
    assert httpx.get(f"{secure_alice.url}/health").status_code == 200


def test_tenants_never_get_each_others_cached_answers(secure_alice: SecureAlice) -> None:
    question = {"text": "Vilken stad är Sveriges huvudstad?", "temperature": 0, "max_tokens": 8}
    first, _ = secure_alice.issue("first", "chat")
    second, _ = secure_alice.issue("second", "chat")
    with secure_alice.client(first) as client:
        asked = [client.post("/api/chat", json=question).json()["cached"] for _ in range(2)]
    with secure_alice.client(second) as client:
        other = client.post("/api/chat", json=question).json()["cached"]
    # A hit would tell the second tenant that someone else asked exactly this.
    assert (asked, other) == ([False, True], False)
