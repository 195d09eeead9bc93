"""Durability: SQLite online backup and restore, and moving SQLite to PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import httpx

from alice.app import create_app
from alice.llm.providers.llamacpp import LlamaCppProvider
from alice.store.models import Base
from tests.conftest import SettingsFactory
from tests.support.cli import run_alice
from tests.support.servers import serve_in_thread

_alice = run_alice


def _snapshot(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every Alice table, ordered: what a comparison must find equal."""
    with sqlite3.connect(db) as conn:
        return {
            table.name: sorted(
                conn.execute(f'SELECT * FROM "{table.name}"').fetchall(),  # noqa: S608
                key=repr,
            )
            for table in Base.metadata.sorted_tables
        }


def _chat(url: str, text: str, **extra: object) -> dict[str, object]:
    response = httpx.post(
        f"{url}/api/chat", json={"text": text, "max_tokens": 4, **extra}, timeout=120
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_backup_taken_while_serving_restores_exactly_that_state(
    make_settings: SettingsFactory, llm: LlamaCppProvider, tmp_path: Path
) -> None:
    settings = make_settings()
    db = settings.resolved_data_dir / "alice.db"
    env = {"ALICE_DATA_DIR": str(settings.resolved_data_dir), "ALICE_LOG_FORMAT": "console"}
    backup = tmp_path / "backup.db"
    with serve_in_thread(create_app(settings, provider=llm)) as url:
        before = [_chat(url, f"Före säkerhetskopian {n}", user="u1") for n in range(3)]
        # Writes keep going while the backup runs.
        stop = threading.Event()
        during: list[str] = []

        def keep_writing() -> None:
            n = 0
            while not stop.is_set():
                during.append(str(_chat(url, f"Under säkerhetskopian {n}")["conversation_id"]))
                n += 1

        writer = threading.Thread(target=keep_writing)
        writer.start()
        try:
            made = _alice("backup", "create", "--to", str(backup), env=env, cwd=tmp_path)
        finally:
            stop.set()
            writer.join(timeout=120)
        assert made.returncode == 0, made.stderr
        assert made.stdout.strip() == str(backup)
        snapshot = _snapshot(backup)
        assert len(snapshot["conversations"]) >= 3
        after = _chat(url, "Efter säkerhetskopian")
    assert during  # it really was written to meanwhile
    with sqlite3.connect(backup) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    restored = _alice("backup", "restore", str(backup), "--yes", env=env, cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert _snapshot(db) == snapshot  # row for row, every table
    with serve_in_thread(create_app(settings, provider=llm)) as url:
        for turn in before:
            got = httpx.get(f"{url}/api/conversations/{turn['conversation_id']}")
            assert got.status_code == 200
            assert got.json()["messages"][1]["content"] == turn["text"]
        assert httpx.get(f"{url}/api/conversations/{after['conversation_id']}").status_code == 404


def test_restore_refuses_a_damaged_backup(make_settings: SettingsFactory, tmp_path: Path) -> None:
    settings = make_settings()
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    env = {"ALICE_DATA_DIR": str(settings.resolved_data_dir), "ALICE_LOG_FORMAT": "console"}
    result = _alice("backup", "restore", str(bad), "--yes", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "error" in result.stderr and "Traceback" not in result.stderr


async def test_copy_moves_sqlite_to_postgresql_and_alice_serves_from_it(
    make_settings: SettingsFactory, llm: LlamaCppProvider, postgres_url: str, tmp_path: Path
) -> None:
    settings = make_settings(auth="keys", bootstrap_admin_key=(admin := _key()))
    headers = {"Authorization": f"Bearer {admin}"}
    with serve_in_thread(create_app(settings, provider=llm)) as url:
        turns = [
            httpx.post(
                f"{url}/api/chat",
                json={"text": f"Fråga {n}", "max_tokens": 4, "user": "kim"},
                headers=headers,
                timeout=120,
            ).json()
            for n in range(3)
        ]
        httpx.post(f"{url}/api/admin/tenants", json={"name": "acme"}, headers=headers)
        httpx.get(f"{url}/api/conversations", headers=headers)  # an audit row
    env = {"ALICE_DATA_DIR": str(settings.resolved_data_dir), "ALICE_LOG_FORMAT": "console"}
    copied = _alice("db", "copy", "--to", postgres_url, env=env, cwd=tmp_path)
    assert copied.returncode == 0, copied.stderr
    assert "counts match" in copied.stdout
    again = _alice("db", "copy", "--to", postgres_url, env=env, cwd=tmp_path)
    assert again.returncode == 2 and "not empty" in again.stderr

    on_pg = make_settings(database_url=postgres_url, auth="keys")
    with serve_in_thread(create_app(on_pg, provider=llm)) as url:
        for turn in turns:
            got = httpx.get(f"{url}/api/conversations/{turn['conversation_id']}", headers=headers)
            assert got.status_code == 200, got.text  # the same admin key works
            assert got.json()["messages"][1]["content"] == turn["text"]
        tenants = httpx.get(f"{url}/api/admin/tenants", headers=headers).json()["data"]
        assert {t["name"] for t in tenants} == {"default", "acme"}
        # New rows get fresh sequence numbers after the copied ones.
        new = httpx.post(
            f"{url}/api/chat",
            json={"text": "Ny på PostgreSQL", "max_tokens": 4, "user": "kim"},
            headers=headers,
            timeout=120,
        )
        assert new.status_code == 200, new.text
        exported = httpx.post(f"{url}/api/gdpr/export", json={"user": "kim"}, headers=headers)
        assert len(exported.json()["conversations"]) == 4  # subjects survive the move
        audit = httpx.get(f"{url}/api/audit", headers=headers).json()["data"]
        assert audit[0]["action"] == "conversation.list"
        seqs = [e["seq"] for e in audit]
        assert seqs == sorted(set(seqs))


def _key() -> str:
    from alice.security.keys import generate_key

    return generate_key()
