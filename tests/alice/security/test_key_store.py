"""Tenants and keys in the store, on SQLite and the real PostgreSQL server alike."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from alice.app import database_config
from alice.errors import (
    ApiKeyNotFoundError,
    InvalidRequestError,
    TenantExistsError,
    TenantNotFoundError,
)
from alice.security.keys import RateOverride, generate_key, hash_key
from alice.settings import Settings
from alice.store import ConversationRepository, Database
from alice.store.tenants import KeyStore


async def test_a_key_is_stored_as_a_hash_and_finds_its_tenant(database: Database) -> None:
    store = KeyStore(database)
    await store.create_tenant("acme")
    issued = await store.create_key(
        "acme", ("chat",), name="ci", rate=RateOverride(requests=60, burst=10)
    )
    stored = await database.run(
        lambda c: [tuple(r) for r in c.execute(text("SELECT hash, prefix FROM api_keys"))]
    )
    assert stored == [(hash_key(issued.key), issued.key[:12])]
    principal = await store.principal_by_hash(hash_key(issued.key))
    assert principal is not None
    assert (principal.tenant_id, principal.key_id) == ("acme", issued.record.id)
    assert principal.scopes == {"chat"}
    assert (principal.rate.requests, principal.rate.burst) == (60, 10)
    assert await store.principal_by_hash(hash_key(generate_key())) is None


async def test_revoked_and_rotated_keys_stop_working(database: Database) -> None:
    store = KeyStore(database)
    first = await store.create_key("default", ("admin",))
    rotated = await store.rotate_key("default", first.record.id)
    assert await store.principal_by_hash(hash_key(first.key)) is None
    principal = await store.principal_by_hash(hash_key(rotated.key))
    assert principal is not None and principal.scopes == {"admin", "chat"}
    revoked = await store.revoke_key("default", rotated.record.id)
    assert revoked.revoked_at is not None
    assert await store.principal_by_hash(hash_key(rotated.key)) is None
    with pytest.raises(ApiKeyNotFoundError):
        await store.rotate_key("default", rotated.record.id)
    listed = await store.list_keys("default")
    assert [k.id for k in listed] == [first.record.id, rotated.record.id]
    assert all(k.revoked_at is not None for k in listed)


async def test_keys_are_tenant_scoped(database: Database) -> None:
    store = KeyStore(database)
    await store.create_tenant("acme")
    theirs = await store.create_key("acme", ("chat",))
    for attempt in (
        store.get_key("default", theirs.record.id),
        store.revoke_key("default", theirs.record.id),
        store.rotate_key("default", theirs.record.id),
    ):
        with pytest.raises(ApiKeyNotFoundError):
            await attempt
    assert await store.list_keys("default") == []
    assert await store.principal_by_hash(hash_key(theirs.key)) is not None


async def test_tenants_are_created_once_and_deleted_with_their_data(database: Database) -> None:
    store = KeyStore(database)
    await store.create_tenant("acme")
    with pytest.raises(TenantExistsError):
        await store.create_tenant("acme")
    with pytest.raises(InvalidRequestError):
        await store.create_tenant("Not Valid")
    with pytest.raises(TenantNotFoundError):
        await store.create_key("nobody", ("chat",))
    key = await store.create_key("acme", ("chat",))
    turn = await ConversationRepository(database, tenant_id="acme").begin_turn(None, "Hej")
    mine = await ConversationRepository(database).begin_turn(None, "Hej")
    assert [(t.id, t.key_count) for t in await store.list_tenants()] == [
        ("acme", 1),
        ("default", 0),
    ]
    await store.delete_tenant("acme")
    assert await store.principal_by_hash(hash_key(key.key)) is None
    counts = await database.run(
        lambda c: c.execute(
            text("SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages)")
        ).one()
    )
    assert tuple(counts) == (1, 1)  # only the default tenant's turn is left
    assert (await ConversationRepository(database).get(mine.conversation_id)).message_count == 1
    with pytest.raises(TenantNotFoundError):
        await store.delete_tenant("acme")
    with pytest.raises(InvalidRequestError):
        await store.delete_tenant("default")
    assert turn.conversation_id != mine.conversation_id


async def test_the_bootstrap_key_is_issued_once_even_when_processes_race(
    database: Database, database_url: str
) -> None:
    # Several "processes" (own Database objects, own connections) start together.
    others = [
        Database(
            database_config(Settings(_env_file=None, database_url=database_url, encryption="off"))
        )  # type: ignore[call-arg]
        for _ in range(3)
    ]
    try:
        results = await asyncio.gather(
            *(KeyStore(db).bootstrap() for db in [database, *others]), return_exceptions=True
        )
    finally:
        for db in others:
            await db.aclose()
    issued = [r for r in results if r is not None]
    assert len(issued) == 1, results
    assert await KeyStore(database).bootstrap() is None
    keys = await KeyStore(database).list_keys(None)
    assert [(k.tenant_id, k.scopes) for k in keys] == [("default", ("admin",))]


async def test_a_given_bootstrap_key_is_the_one_stored(database: Database) -> None:
    chosen = generate_key()
    issued = await KeyStore(database).bootstrap(chosen)
    assert issued is not None and issued.key == chosen
    principal = await KeyStore(database).principal_by_hash(hash_key(chosen))
    assert principal is not None and principal.is_operator
