"""Retention: idle conversations go after their tenant's limit, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import text

from alice.app import create_app
from alice.llm.providers.llamacpp import LlamaCppProvider
from alice.privacy.retention import apply_retention
from alice.store import ConversationRepository, Database
from alice.store.models import utcnow
from alice.store.tenants import KeyStore
from tests.conftest import SettingsFactory
from tests.support.servers import serve_in_thread


async def _age(database: Database, conversation_id: str, days: float) -> None:
    moment = utcnow() - timedelta(days=days)

    def work(conn):  # type: ignore[no-untyped-def]
        conn.execute(
            text("UPDATE conversations SET updated_at = :at WHERE id = :id"),
            {"at": moment, "id": conversation_id},
        )

    await database.run(work)


async def _ids(database: Database) -> set[str]:
    return set(
        await database.run(
            lambda conn: list(conn.execute(text("SELECT id FROM conversations")).scalars())
        )
    )


async def test_each_tenant_keeps_conversations_for_its_own_number_of_days(
    database: Database,
) -> None:
    keys = KeyStore(database)
    await keys.create_tenant("short")
    await keys.create_tenant("forever")
    await keys.update_tenant("short", retention_days=7)
    made: dict[tuple[str, int], str] = {}
    for tenant in ("default", "short", "forever"):
        repo = ConversationRepository(database, tenant_id=tenant)
        for age in (1, 10, 100):
            turn = await repo.begin_turn(None, f"{tenant} {age} dagar")
            await _age(database, turn.conversation_id, age)
            made[(tenant, age)] = turn.conversation_id
    # The server default (30 days) applies to tenants without their own; "forever" has
    # none and neither would the server without ALICE_RETENTION_DAYS.
    await keys.update_tenant("forever", retention_days=None)
    deleted = await apply_retention(database, keys, default_days=30)
    assert deleted == {"default": 1, "short": 2, "forever": 1}
    left = await _ids(database)
    assert left == {
        made[("default", 1)],
        made[("default", 10)],
        made[("short", 1)],
        made[("forever", 1)],
        made[("forever", 10)],
    }
    messages = await database.run(
        lambda conn: conn.execute(text("SELECT count(*) FROM messages")).scalar()
    )
    assert messages == len(left)  # their messages went with them
    # Without a server default, only tenants with their own limit lose anything.
    assert await apply_retention(database, keys, default_days=None) == {"short": 0}


async def test_the_scheduled_job_deletes_an_expired_conversation_of_a_running_alice(
    make_settings: SettingsFactory, llm: LlamaCppProvider
) -> None:
    settings = make_settings(retention_days=2)
    app = create_app(settings, provider=llm)
    with serve_in_thread(app) as url:
        old = httpx.post(f"{url}/api/chat", json={"text": "Hej!", "max_tokens": 4}, timeout=60)
        new = httpx.post(f"{url}/api/chat", json={"text": "Hallå!", "max_tokens": 4}, timeout=60)
        old_id, new_id = old.json()["conversation_id"], new.json()["conversation_id"]
        await _age(app.state.database, old_id, 3)
        deleted = await app.state.retention.run_once()
        assert deleted == {"default": 1}
        assert httpx.get(f"{url}/api/conversations/{old_id}").status_code == 404
        assert httpx.get(f"{url}/api/conversations/{new_id}").status_code == 200
