from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from alice.errors import ConfigurationError
from alice.guardian import Thresholds
from alice.settings import Settings, load_settings


def test_defaults_are_valid_and_local(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.provider == "llamacpp"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path}/alice.db"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:////tmp/a.db", "sqlite:////tmp/a.db"),
        ("sqlite+aiosqlite:////tmp/a.db", "sqlite:////tmp/a.db"),
    ],
)
def test_database_urls_map_to_the_drivers_alice_uses(url: str, expected: str) -> None:
    assert Settings(_env_file=None, database_url=url).resolved_database_url == expected  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        ("ALICE_PROVIDER", "gpt", "'llamacpp', 'openai' or 'ollama'"),
        ("ALICE_PORT", "99999", "less than or equal to 65535"),
        ("ALICE_PORT", "eighty", "valid integer"),
        ("ALICE_DATABASE_URL", "mysql://x/y", "sqlite:// or postgresql://"),
        ("ALICE_OPENAI_BASE_URL", "localhost:8080", "http:// or https://"),
        ("ALICE_LOG_FORMAT", "xml", "'json' or 'console'"),
        ("ALICE_REDIS_SENTINELS", "s1:26379,s2", "host:port addresses"),
        ("ALICE_REDIS_SENTINELS", "s1:263790", "host:port addresses"),
    ],
)
def test_invalid_value_names_the_setting_and_what_is_allowed(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigurationError) as info:
        load_settings(_env_file=None)
    message = str(info.value)
    assert message.startswith(f"invalid setting {env}='{value}':")
    assert expected in message
    assert "\n" not in message


def test_a_copy_of_env_example_is_a_valid_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = Path(__file__).parents[2] / ".env.example"
    (tmp_path / ".env").write_text(example.read_text())
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.backends == ()
    assert settings.guardian.rss_limit_bytes is None
    assert settings.model == "gemma-3-270m"


@pytest.mark.parametrize("env", ["ALICE_BACKENDS", "ALICE_TIERS"])
def test_json_settings_that_do_not_parse_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    monkeypatch.setenv(env, "[not json")
    with pytest.raises(ConfigurationError, match=f"invalid setting {env}: not valid JSON"):
        load_settings(_env_file=None)


def test_inconsistent_token_limits_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALICE_DEFAULT_MAX_TOKENS", "500")
    monkeypatch.setenv("ALICE_MAX_TOKENS_LIMIT", "100")
    with pytest.raises(ConfigurationError, match="ALICE_DEFAULT_MAX_TOKENS"):
        load_settings(_env_file=None)


def test_secret_values_are_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALICE_OPENAI_API_KEY", "sk-secret-value")
    assert "sk-secret-value" not in repr(load_settings(_env_file=None))
    monkeypatch.setenv("ALICE_PORT", "0")
    with pytest.raises(ConfigurationError) as info:
        load_settings(_env_file=None)
    assert "sk-secret-value" not in str(info.value)


def test_extra_models_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALICE_MODEL", "big")
    monkeypatch.setenv("ALICE_EXTRA_MODELS", "small, tiny,big")
    assert load_settings(_env_file=None).models == ("big", "small", "tiny")


def test_redis_sentinels_are_host_port_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(_env_file=None).redis_sentinel_addresses == []
    monkeypatch.setenv("ALICE_REDIS_SENTINELS", "s1:26379, 10.0.0.2:26380,[::1]:5000")
    assert load_settings(_env_file=None).redis_sentinel_addresses == [
        ("s1", 26379),
        ("10.0.0.2", 26380),
        ("::1", 5000),
    ]


def test_env_example_documents_every_setting() -> None:
    example = (Path(__file__).parents[2] / ".env.example").read_text()
    documented = {
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in example.splitlines()
        if "ALICE_" in line and "=" in line
    }
    expected = {f"ALICE_{name.upper()}" for name in Settings.model_fields} - {"ALICE_GUARDIAN"}
    expected |= {f"ALICE_GUARDIAN__{name.upper()}" for name in Thresholds.__dataclass_fields__}
    assert expected - documented == set()


def test_cli_stops_with_one_clear_line_on_a_bad_setting(tmp_path: Path) -> None:
    env = {**os.environ, "ALICE_PROVIDER": "nope", "ALICE_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "alice", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "ALICE_PROVIDER='nope'" in lines[0]
    assert "Traceback" not in result.stderr
