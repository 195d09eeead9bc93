"""``alice`` as a user runs it: separate processes, real model, real database."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from alice.settings import Settings

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
    with sqlite3.connect(tmp_path / "data" / "alice.db") as conn:
        rows = conn.execute("SELECT role, content FROM messages ORDER BY seq").fetchall()
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
    with sqlite3.connect(settings.resolved_data_dir / "alice.db") as conn:
        rows = conn.execute("SELECT content FROM messages WHERE role = 'assistant'").fetchall()
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
