"""The privacy commands as an operator runs them: separate processes, real database."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx

from alice.app import create_app
from alice.llm.providers.llamacpp import LlamaCppProvider
from alice.privacy.encryption import key_id, parse_keys
from tests.conftest import SettingsFactory
from tests.support.cli import run_alice
from tests.support.servers import serve_in_thread

_alice = run_alice


def test_tenant_policy_and_encryption_commands(tmp_path: Path) -> None:
    env = {"ALICE_DATA_DIR": str(tmp_path / "data"), "ALICE_LOG_FORMAT": "console"}
    assert _alice("tenants", "create", "acme", env=env, cwd=tmp_path).returncode == 0
    changed = _alice(
        "tenants",
        "set",
        "acme",
        "--pii-masking",
        "off",
        "--retention-days",
        "30",
        env=env,
        cwd=tmp_path,
    )
    assert changed.returncode == 0, changed.stderr
    assert "PII masking off, retention 30 days" in changed.stdout
    listed = _alice("tenants", "list", env=env, cwd=tmp_path).stdout
    acme = next(line for line in listed.splitlines() if "acme" in line)
    assert "off" in acme and "30 d" in acme
    wrong = _alice("tenants", "set", "acme", "--pii-masking", "maybe", env=env, cwd=tmp_path)
    assert wrong.returncode == 2 and "on, off or default" in wrong.stderr
    back = _alice("tenants", "set", "acme", "--retention-days", "default", env=env, cwd=tmp_path)
    assert "retention default" in back.stdout

    status = _alice("keys", "encryption-status", env=env, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    file_keys = parse_keys((tmp_path / "data" / "encryption.keys").read_text(), source="f")
    assert key_id(file_keys[0]) in status.stdout
    assert file_keys[0] not in status.stdout + status.stderr  # ids, never keys

    generated = _alice("keys", "generate-encryption-key", env=env, cwd=tmp_path)
    (new_key,) = parse_keys(generated.stdout, source="stdout")
    from_env = {**env, "ALICE_ENCRYPTION_KEYS": new_key}
    refused = _alice("keys", "rotate-encryption", "--new-key", env=from_env, cwd=tmp_path)
    assert refused.returncode == 2 and "ALICE_ENCRYPTION_KEYS" in refused.stderr


def test_gdpr_export_forget_and_audit_from_the_command_line(
    make_settings: SettingsFactory, llm: LlamaCppProvider, tmp_path: Path
) -> None:
    settings = make_settings()
    with serve_in_thread(create_app(settings, provider=llm)) as url:
        turn = httpx.post(
            f"{url}/api/chat",
            json={"text": "Jag heter Greta.", "user": "greta@example.se", "max_tokens": 4},
            timeout=120,
        ).json()
    env = {"ALICE_DATA_DIR": str(settings.resolved_data_dir), "ALICE_LOG_FORMAT": "console"}
    out = tmp_path / "greta.json"
    exported = _alice(
        "gdpr", "export", "--user", "greta@example.se", "--out", str(out), env=env, cwd=tmp_path
    )
    assert exported.returncode == 0, exported.stderr
    document = json.loads(out.read_text())
    assert [c["id"] for c in document["conversations"]] == [turn["conversation_id"]]
    assert document["conversations"][0]["messages"][0]["content"] == "Jag heter Greta."
    assert stat.S_IMODE(out.stat().st_mode) == 0o600

    forgotten = _alice(
        "gdpr", "forget", "--user", "greta@example.se", "--yes", env=env, cwd=tmp_path
    )
    assert forgotten.returncode == 0, forgotten.stderr
    assert "erased 1 conversations, 2 messages" in forgotten.stdout
    again = _alice("gdpr", "export", "--user", "greta@example.se", env=env, cwd=tmp_path)
    assert json.loads(again.stdout)["conversations"] == []

    audit = _alice("audit", "list", env=env, cwd=tmp_path)
    assert audit.returncode == 0, audit.stderr
    rows = [line for line in audit.stdout.splitlines() if "gdpr." in line]
    assert [("gdpr.export" in r, "gdpr.forget" in r) for r in rows] == [
        (True, False),
        (False, True),
        (True, False),
    ]
    assert all(" cli " in r for r in rows)
    assert "greta" not in audit.stdout
