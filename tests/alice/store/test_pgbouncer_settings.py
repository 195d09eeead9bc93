"""The settings for PgBouncer in transaction mode keep every path working on PostgreSQL.

With ``ALICE_DB_STATEMENT_CACHE=false`` Alice keeps no prepared statements and no pool
of its own, and holds no session state (migrations lock per transaction), which is what
PgBouncer's transaction pooling requires.
"""

from __future__ import annotations

import asyncio

import httpx

from alice.app import create_app, database_config
from alice.llm.providers.llamacpp import LlamaCppProvider
from alice.store import Database, migrate
from tests.conftest import SettingsFactory
from tests.support.servers import serve_in_thread


def test_chat_gdpr_and_migrations_without_session_state(
    make_settings: SettingsFactory, llm: LlamaCppProvider, postgres_url: str
) -> None:
    settings = make_settings(database_url=postgres_url, db_statement_cache=False)
    database = Database(database_config(settings))

    async def migrate_twice() -> list[str]:
        try:
            return list(await asyncio.gather(migrate(database), migrate(database)))
        finally:
            await database.aclose()

    assert len(set(asyncio.run(migrate_twice()))) == 1
    with serve_in_thread(create_app(settings, provider=llm)) as url:
        turns = [
            httpx.post(
                f"{url}/api/chat",
                json={"text": f"Hej {n}", "max_tokens": 4, "user": "pgb"},
                timeout=120,
            )
            for n in range(3)
        ]
        assert all(t.status_code == 200 for t in turns)
        conversation = turns[0].json()["conversation_id"]
        assert httpx.get(f"{url}/api/conversations/{conversation}").status_code == 200
        forgotten = httpx.post(f"{url}/api/gdpr/forget", json={"user": "pgb"})
        assert forgotten.json()["conversations"] == 3
