"""Encryption at rest, end to end: what a chat leaves in the database is unreadable
without the keys, and rotation re-encrypts it while Alice keeps serving."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.engine import Connection

from alice.app import create_app, database_config
from alice.llm.providers.llamacpp import LlamaCppProvider
from alice.privacy.encryption import Keyring, read_key_file
from alice.privacy.rotation import key_usage, reencrypt
from alice.settings import Settings
from alice.store import ConversationRepository, Database, migrate
from alice.store.repository import AnswerRecord
from tests.conftest import SettingsFactory
from tests.support.servers import serve_in_thread

QUESTION = "Jag heter Annika Lindqvist och bor på Solrosvägen 17. Vad är huvudstaden i Sverige?"


def _rows(sql: str) -> Callable[[Connection], list[tuple[object, ...]]]:
    def work(conn: Connection) -> list[tuple[object, ...]]:
        return [tuple(r) for r in conn.execute(text(sql))]

    return work


async def _raw(settings: Settings) -> list[tuple[object, ...]]:
    database = Database(database_config(settings))
    try:
        messages = await database.run(_rows("SELECT content, content_key FROM messages"))
        titles = await database.run(_rows("SELECT title, title_key FROM conversations"))
    finally:
        await database.aclose()
    return messages + titles


def _chat(url: str, text_: str, conversation: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {"text": text_, "temperature": 0, "max_tokens": 12}
    if conversation is not None:
        body["conversation_id"] = conversation
    response = httpx.post(f"{url}/api/chat", json=body, timeout=120)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_a_chat_leaves_no_plaintext_in_the_database(
    make_settings: SettingsFactory, llm: LlamaCppProvider, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url=database_url)
    with serve_in_thread(create_app(settings, provider=llm)) as url:
        answer = _chat(url, QUESTION)
        stored = httpx.get(f"{url}/api/conversations/{answer['conversation_id']}").json()
    # The API gives the text back.
    assert [m["content"] for m in stored["messages"]] == [QUESTION, answer["text"]]
    assert stored["title"].startswith("Jag heter Annika")
    # The database holds only tokens, each naming the key that sealed it.
    raw = await _raw(settings)
    keyring = Keyring.from_file(settings.resolved_key_file, create=False)
    assert len(raw) == 3
    for value, kid in raw:
        assert kid == keyring.primary_id
        assert "Annika" not in str(value) and "Solrosvägen" not in str(value)
        assert str(answer["text"]).strip() not in str(value)
    if settings.resolved_database_url.startswith("sqlite"):
        # Not in the file either (database and write-ahead log), byte for byte.
        db = Path(database_url.split("///")[1])
        files = [db, db.with_name(db.name + "-wal")]
        assert db.is_file()
        for file in files:
            if file.is_file():
                raw_bytes = file.read_bytes()
                assert b"Solrosv" not in raw_bytes and b"Annika" not in raw_bytes


async def test_rotation_re_encrypts_everything_while_alice_keeps_serving(
    make_settings: SettingsFactory, llm: LlamaCppProvider, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    settings = make_settings()
    served: list[dict[str, object]] = []
    failures: list[str] = []
    with serve_in_thread(create_app(settings, provider=llm)) as url:
        for n in range(6):
            served.append(_chat(url, f"Fråga nummer {n}: vad heter Sveriges huvudstad?"))
        old = Keyring.from_file(settings.resolved_key_file, create=False).primary_id
        stop = threading.Event()

        def keep_chatting() -> None:
            n = 0
            while not stop.is_set():
                try:
                    served.append(_chat(url, f"Under rotationen, fråga {n}."))
                except AssertionError as exc:
                    failures.append(str(exc))
                n += 1

        chatter = threading.Thread(target=keep_chatting)
        chatter.start()
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
            env.update(ALICE_DATA_DIR=str(data), ALICE_LOG_FORMAT="console")
            rotation = subprocess.run(
                [sys.executable, "-m", "alice", "keys", "rotate-encryption", "--batch-size", "2"],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        finally:
            stop.set()
            chatter.join(timeout=120)
        assert rotation.returncode == 0, rotation.stderr
        assert "re-encrypted" in rotation.stdout
        new = Keyring.from_file(settings.resolved_key_file, create=False)
        assert new.primary_id != old and new.ids == (new.primary_id, old)
        # Every conversation, old or written during the rotation, reads back whole.
        for turn in served:
            stored = httpx.get(f"{url}/api/conversations/{turn['conversation_id']}").json()
            assert stored["messages"][-1]["content"] == turn["text"]
        after = _chat(url, "Efter rotationen: hej!")
    assert not failures, failures
    assert len(served) > 6  # it really served during the rotation
    # One more pass picks up rows written under the old key after the first pass went
    # by (the server switches to the new key within seconds); then nothing is left.
    database = Database(database_config(settings))
    try:
        await reencrypt(database, Keyring.from_file(settings.resolved_key_file, create=False))
        usage = await key_usage(database)
    finally:
        await database.aclose()
    keys_in_use = {k for counts in usage.values() for k, n in counts.items() if n}
    assert keys_in_use == {new.primary_id}
    assert after["text"]


async def test_plaintext_rows_from_before_stay_readable_and_rotation_seals_them(
    make_settings: SettingsFactory,
) -> None:
    plain = make_settings(encryption="off", data_dir=make_settings().data_dir.parent / "plain")
    database = Database(database_config(plain))
    await migrate(database)
    repo = ConversationRepository(database)
    turn = await repo.begin_turn(None, "Gammal klartext")
    await repo.add_answer(
        turn.conversation_id,
        AnswerRecord("Gammalt svar", "m", "complete", 1, 1, 1, 1),
    )
    await database.aclose()
    on = make_settings(data_dir=plain.data_dir)  # same database, encryption now on
    database = Database(database_config(on))
    try:
        repo = ConversationRepository(database)
        assert [m.content for m in (await repo.get(turn.conversation_id)).messages] == [
            "Gammal klartext",
            "Gammalt svar",
        ]
        keyring = Keyring(read_key_file(on.resolved_key_file, create=False))
        report = await reencrypt(database, keyring)
        assert report.total == 3  # two messages and a title
        usage = await key_usage(database)
        assert usage == {
            "messages.content": {keyring.primary_id: 2},
            "conversations.title": {keyring.primary_id: 1},
        }
        raw = await database.run(_rows("SELECT content FROM messages"))
        assert all("Gammal" not in str(value) for (value,) in raw)
        assert [m.content for m in (await repo.get(turn.conversation_id)).messages] == [
            "Gammal klartext",
            "Gammalt svar",
        ]
    finally:
        await database.aclose()


async def test_a_server_without_the_key_of_the_newest_data_refuses_to_start(
    make_settings: SettingsFactory, llm: LlamaCppProvider, tmp_path: Path
) -> None:
    import pytest

    from alice.errors import ConfigurationError
    from alice.privacy.encryption import generate_key

    settings = make_settings()
    with serve_in_thread(create_app(settings, provider=llm)) as url:
        _chat(url, "Hej!")
    # A replica with a key of its own would write what the others cannot read.
    other = make_settings(encryption_keys=generate_key())
    app = create_app(other, provider=llm)
    with pytest.raises(ConfigurationError, match="same keys"):
        async with app.router.lifespan_context(app):
            pass
