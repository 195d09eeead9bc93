"""GDPR as an operator uses it: export a person's data, forget them, and prove it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from alice.app import create_app, database_config
from alice.llm.providers.llamacpp import LlamaCppProvider
from alice.privacy.encryption import Keyring
from alice.security.keys import generate_key
from alice.settings import Settings
from alice.store import Database
from tests.conftest import SettingsFactory
from tests.support.servers import serve_in_thread

ANNA = "anna.berg@example.se"
BO = "bo-4711"
ANNA_SECRET = "Mitt hemliga smeknamn är Kanelbullen"
BO_TEXT = "Vad är huvudstaden i Norge?"


def _dump(conn: Connection, cipher: Keyring) -> str:
    """Every value of every table, sealed columns opened: what a search of the database
    would find."""
    out: list[str] = []
    for table in inspect(conn).get_table_names():
        columns = [c["name"] for c in inspect(conn).get_columns(table)]
        for row in conn.execute(text(f'SELECT * FROM "{table}"')).mappings():  # noqa: S608
            for name in columns:
                value = row[name]
                key_column = {"content": "content_key", "title": "title_key"}.get(name)
                if key_column in row and value is not None:
                    value = cipher.open(value, row[key_column])
                out.append(str(value))
    return "\n".join(out)


@pytest.fixture
def alice(
    make_settings: SettingsFactory,
    llm: LlamaCppProvider,
    database_url: str,
    redis_url: str,
    redis_prefix: str,
) -> Iterator[tuple[str, httpx.Client, Settings]]:
    admin = generate_key()
    settings = make_settings(
        database_url=database_url,
        auth="keys",
        bootstrap_admin_key=admin,
        cache="redis",
        redis_url=redis_url,
        redis_prefix=redis_prefix,
    )
    with (
        serve_in_thread(create_app(settings, provider=llm)) as url,
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {admin}"}, timeout=120
        ) as client,
    ):
        yield url, client, settings


def _chat(
    client: httpx.Client, text_: str, user: str | None, conversation: str | None = None
) -> dict:  # type: ignore[type-arg]
    body: dict[str, object] = {"text": text_, "max_tokens": 6, "temperature": 0}
    if user is not None:
        body["user"] = user
    if conversation is not None:
        body["conversation_id"] = conversation
    response = client.post("/api/chat", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_export_then_forget_leaves_nothing_of_the_person(
    alice: tuple[str, httpx.Client, Settings], redis_url: str, redis_prefix: str
) -> None:
    _url, client, settings = alice
    first = _chat(client, ANNA_SECRET, ANNA)
    _chat(client, "Och vad tycker du om det?", ANNA, first["conversation_id"])
    second = _chat(client, "Vad är huvudstaden i Sverige?", ANNA)  # cached for Anna
    bo = _chat(client, BO_TEXT, BO)
    # The OpenAI API's own `user` parameter names the same person.
    openai = client.post(
        "/v1/chat/completions",
        json={
            "model": "gemma-3-270m",
            "user": ANNA,
            "max_tokens": 4,
            "messages": [{"role": "user", "content": "Hej från OpenAI-klienten"}],
        },
    )
    assert openai.status_code == 200

    exported = client.post("/api/gdpr/export", json={"user": ANNA})
    assert exported.status_code == 200, exported.text
    document = exported.json()
    assert document["user"] == ANNA and document["tenant"] == "default"
    ids = {c["id"] for c in document["conversations"]}
    assert {first["conversation_id"], second["conversation_id"]} <= ids
    assert bo["conversation_id"] not in ids
    assert len(ids) == 3
    texts = [m["content"] for c in document["conversations"] for m in c["messages"]]
    assert ANNA_SECRET in texts and "Hej från OpenAI-klienten" in texts
    assert BO_TEXT not in texts
    assert [e["action"] for e in document["audit_log"]] == ["gdpr.export"]

    forgotten = client.post("/api/gdpr/forget", json={"user": ANNA})
    assert forgotten.status_code == 200, forgotten.text
    assert forgotten.json()["conversations"] == 3
    assert forgotten.json()["messages"] == 8
    assert forgotten.json()["cached_answers"] >= 1
    for conversation in ids:
        assert client.get(f"/api/conversations/{conversation}").status_code == 404
    assert client.post("/api/gdpr/export", json={"user": ANNA}).json()["conversations"] == []
    # Bo is untouched.
    assert client.get(f"/api/conversations/{bo['conversation_id']}").status_code == 200

    # Search the whole database, sealed columns opened with the keys: nothing of Anna
    # is left but the audit trail's keyed hash of her.
    database = Database(database_config(settings))
    try:
        everything = await database.run(
            lambda conn: _dump(conn, database.config.cipher)  # type: ignore[arg-type]
        )
    finally:
        await database.aclose()
    assert ANNA_SECRET not in everything and "Kanelbullen" not in everything
    assert "Hej från OpenAI-klienten" not in everything
    assert ANNA not in everything and "anna.berg" not in everything
    assert BO_TEXT in everything  # the search does see conversation text
    # And nothing of hers in the shared cache (Redis).
    import redis

    r = redis.Redis.from_url(redis_url)
    try:
        entries = [k for k in r.scan_iter(match=f"{redis_prefix}cache:*") if b"." in k]
        values = [r.get(k) or b"" for k in entries]
    finally:
        r.close()
    assert values  # Bo's answer (temperature 0) is cached
    assert not any(b"Sverige" in v or b"Kanelbullen" in v for v in values)


def test_the_audit_log_records_reads_exports_and_erasures_and_cannot_be_changed(
    alice: tuple[str, httpx.Client, Settings],
) -> None:
    _url, client, _settings = alice
    turn = _chat(client, "Hej!", ANNA)
    client.get(f"/api/conversations/{turn['conversation_id']}")
    client.get("/api/conversations")
    client.post("/api/gdpr/export", json={"user": ANNA})
    client.post("/api/gdpr/forget", json={"user": ANNA})
    entries = client.get("/api/audit").json()["data"]
    actions = [e["action"] for e in entries]
    assert actions == [
        "conversation.read",
        "conversation.list",
        "gdpr.export",
        "gdpr.forget",
    ]
    read = entries[0]
    assert read["target"] == turn["conversation_id"]
    assert read["actor"] not in ("dev", "cli")  # the admin key's id
    subject = entries[2]["subject"]
    assert subject and ANNA not in subject and entries[3]["subject"] == subject
    assert entries[3]["detail"] == {"conversations": 1, "messages": 2}
    # Paging.
    page = client.get("/api/audit", params={"after": entries[1]["seq"], "limit": 1}).json()
    assert [e["action"] for e in page["data"]] == ["gdpr.export"]
    # A deletion is recorded with it (same transaction).
    other = _chat(client, "Radera mig", None)
    assert client.delete(f"/api/conversations/{other['conversation_id']}").status_code == 204
    last = client.get("/api/audit", params={"after": entries[-1]["seq"]}).json()["data"]
    assert [(e["action"], e["target"]) for e in last] == [
        ("conversation.delete", other["conversation_id"])
    ]


async def test_audit_rows_cannot_be_updated_or_deleted(database: Database) -> None:
    from sqlalchemy.exc import DBAPIError

    from alice.privacy.audit import AuditLog

    audit = AuditLog(database)
    await audit.record("default", "cli", "gdpr.export", detail={"conversations": 0})
    for statement in ("UPDATE audit_log SET actor = 'someone-else'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            await database.run(lambda conn, s=statement: conn.execute(text(s)))
    entries = await audit.entries("default")
    assert [(e.actor, e.action) for e in entries] == [("cli", "gdpr.export")]


def test_gdpr_requires_an_admin_key_and_operators_reach_other_tenants(
    alice: tuple[str, httpx.Client, Settings],
) -> None:
    url, client, _settings = alice
    assert client.post("/api/admin/tenants", json={"name": "acme"}).status_code == 201
    acme_admin = client.post("/api/keys", json={"tenant": "acme", "scope": "admin"}).json()["key"]
    acme_chat = client.post("/api/keys", json={"tenant": "acme", "scope": "chat"}).json()["key"]
    acme = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {acme_admin}"})
    chat_only = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {acme_chat}"})
    try:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {acme_chat}"}, timeout=120
        ) as user_client:
            _chat(user_client, "Hej från Acme", ANNA)
        assert chat_only.post("/api/gdpr/export", json={"user": ANNA}).status_code == 403
        # The same user id in another tenant is another person.
        assert client.post("/api/gdpr/export", json={"user": ANNA}).json()["conversations"] == []
        mine = acme.post("/api/gdpr/export", json={"user": ANNA}).json()
        assert len(mine["conversations"]) == 1
        assert (
            acme.post("/api/gdpr/export", json={"user": ANNA, "tenant": "default"}).status_code
            == 403
        )
        operator = client.post("/api/gdpr/export", json={"user": ANNA, "tenant": "acme"})
        assert len(operator.json()["conversations"]) == 1
        whole = acme.post("/api/gdpr/export", json={}).json()
        assert whole["tenant_policy"]["pii_masking"] is None
        assert {k["scopes"][0] for k in whole["api_keys"]} == {"admin", "chat"}
        assert all("hash" not in k for k in whole["api_keys"])
        assert acme.post("/api/gdpr/forget", json={"user": " "}).status_code == 422
    finally:
        acme.close()
        chat_only.close()


def test_a_server_with_another_subject_key_refuses_to_start(
    make_settings: SettingsFactory, llm: LlamaCppProvider, tmp_path: Path
) -> None:
    import asyncio

    from alice.errors import ConfigurationError

    settings = make_settings()
    with serve_in_thread(create_app(settings, provider=llm)):
        pass
    other = make_settings(subject_key="ab" * 32)
    app = create_app(other, provider=llm)

    async def start() -> None:
        async with app.router.lifespan_context(app):
            pass

    with pytest.raises(ConfigurationError, match="ALICE_SUBJECT_KEY"):
        asyncio.run(start())
