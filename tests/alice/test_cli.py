"""``alice`` as a user runs it: separate processes, real model, real database."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx

from alice.app import create_app
from alice.llm.providers.llamacpp import LlamaCppProvider
from alice.security.keys import looks_like_key
from alice.settings import Settings
from tests.conftest import SettingsFactory
from tests.support.servers import serve_in_thread
from tests.support.stored import stored_rows

QUESTION = "Vad är huvudstaden i Sverige?"


def _alice(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alice", *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_chat_streams_the_answer_and_stores_the_conversation(
    tmp_path: Path, model_file: Path
) -> None:
    env = {"ALICE_DATA_DIR": str(tmp_path / "data"), "ALICE_MODEL_PATH": str(model_file)}
    result = _alice("chat", QUESTION, "--temperature", "0", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Stockholm" in result.stdout
    assert "conversation" in result.stderr
    rows = stored_rows(
        tmp_path / "data", "SELECT role, opened(content, content_key) FROM messages ORDER BY seq"
    )
    assert rows == [("user", QUESTION), ("assistant", result.stdout.strip())]

    conversation_id = result.stderr.split("conversation", 1)[1].split()[0]
    again = _alice(
        "chat", "Tack!", "-c", conversation_id, "--max-tokens", "8", env=env, cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr
    with sqlite3.connect(tmp_path / "data" / "alice.db") as conn:
        count = conn.execute(
            "SELECT count(*) FROM messages WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()
    assert count == (4,)


def test_chat_against_a_running_server(alice_url: str, settings: Settings, tmp_path: Path) -> None:
    result = _alice(
        "chat", QUESTION, "--temperature", "0", "--url", alice_url, env={}, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "Stockholm" in result.stdout
    rows = stored_rows(
        settings.resolved_data_dir,
        "SELECT opened(content, content_key) FROM messages WHERE role = 'assistant'",
    )
    assert rows == [(result.stdout.strip(),)]


def test_chat_reports_errors_in_one_line(tmp_path: Path, model_file: Path) -> None:
    env = {"ALICE_DATA_DIR": str(tmp_path / "data"), "ALICE_MODEL_PATH": str(model_file)}
    result = _alice("chat", "hej", "-c", "no-such-conversation", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "conversation-not-found" in result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_and_models(tmp_path: Path) -> None:
    env = {"ALICE_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    migrated = _alice("migrate", env=env, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert "database at revision" in migrated.stdout
    assert (tmp_path / "data" / "alice.db").is_file()
    listed = _alice("models", env=env, cwd=tmp_path)
    assert listed.returncode == 0
    assert "llamacpp" in listed.stdout and "gemma-3-270m" in listed.stdout
    remote = _alice(
        "models",
        env={
            **env,
            "ALICE_PROVIDER": "openai",
            "ALICE_MODEL": "qwen",
            "ALICE_EXTRA_MODELS": "small",
        },
        cwd=tmp_path,
    )
    assert "qwen" in remote.stdout and "small" in remote.stdout and "remote" in remote.stdout


def test_tenants_and_keys_from_the_command_line(
    tmp_path: Path, make_settings: SettingsFactory, llm: LlamaCppProvider
) -> None:
    data = tmp_path / "data"
    env = {"ALICE_DATA_DIR": str(data), "COLUMNS": "200"}
    assert _alice("tenants", "create", "acme", env=env, cwd=tmp_path).returncode == 0
    created = _alice("keys", "create", "--tenant", "acme", "--scope", "chat", env=env, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert looks_like_key(key) and created.stdout == key + "\n"  # the key alone on stdout
    # The change is logged on stderr by id; the key itself never is.
    assert "key.created" in created.stderr and key not in created.stderr
    listed = _alice("keys", "list", "--tenant", "acme", env=env, cwd=tmp_path)
    assert key[:12] in listed.stdout and key not in listed.stdout
    assert "acme" in _alice("tenants", "list", env=env, cwd=tmp_path).stdout
    settings = make_settings(data_dir=data, auth="keys")
    with serve_in_thread(create_app(settings, provider=llm)) as url:
        chatted = _alice(
            "chat", QUESTION, "--temperature", "0", "--max-tokens", "8", "--url", url,
            env={"ALICE_API_KEY": key}, cwd=tmp_path,
        )  # fmt: skip
        assert chatted.returncode == 0, chatted.stderr
        refused = _alice("chat", "Hej", "--url", url, env={"ALICE_API_KEY": "x"}, cwd=tmp_path)
        assert refused.returncode == 1 and "unauthenticated" in refused.stderr
        with sqlite3.connect(data / "alice.db") as conn:
            (key_id,) = conn.execute("SELECT id FROM api_keys WHERE tenant_id = 'acme'").fetchone()
        rotated = _alice("keys", "rotate", key_id, env=env, cwd=tmp_path)
        assert rotated.returncode == 0, rotated.stderr
        new_key = rotated.stdout.strip()
        assert looks_like_key(new_key) and new_key != key
        # The CLI wrote to the database; the server trusts its cached lookup for a while.
        with httpx.Client(base_url=url) as client:
            new_ok = client.get("/api/conversations", headers={"X-API-Key": new_key})
        assert new_ok.status_code == 200
    with sqlite3.connect(data / "alice.db") as conn:
        (new_id,) = conn.execute(
            "SELECT id FROM api_keys WHERE tenant_id = 'acme' AND revoked_at IS NULL"
        ).fetchone()
    assert _alice("keys", "revoke", new_id, env=env, cwd=tmp_path).returncode == 0
    deleted = _alice("tenants", "delete", "acme", "--yes", env=env, cwd=tmp_path)
    assert deleted.returncode == 0
    with sqlite3.connect(data / "alice.db") as conn:
        left = conn.execute("SELECT count(*) FROM api_keys WHERE tenant_id = 'acme'").fetchone()
        conversations = conn.execute("SELECT count(*) FROM conversations").fetchone()
    assert left == (0,) and conversations == (0,)


def test_a_wrong_scope_or_unknown_tenant_is_one_line(tmp_path: Path) -> None:
    env = {"ALICE_DATA_DIR": str(tmp_path / "data")}
    scope = _alice("keys", "create", "--scope", "root", env=env, cwd=tmp_path)
    assert scope.returncode == 2 and "--scope" in scope.stderr
    tenant = _alice("keys", "create", "--tenant", "nobody", env=env, cwd=tmp_path)
    assert tenant.returncode == 1 and "tenant-not-found" in tenant.stderr
    assert "Traceback" not in scope.stderr + tenant.stderr
