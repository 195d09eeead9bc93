"""Rate limits as a client sees them: one process, and three replicas sharing Redis."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import httpx

from alice.app import create_app, database_config
from alice.llm.providers.llamacpp import LlamaCppProvider
from alice.privacy.encryption import generate_key as encryption_key
from alice.security.keys import generate_key
from alice.settings import Settings
from alice.store import Database, migrate
from alice.store.tenants import KeyStore
from tests.conftest import SettingsFactory
from tests.support.alice_process import alice_serve
from tests.support.servers import serve_in_thread


def test_a_key_over_its_limit_gets_429_with_headers(
    make_settings: SettingsFactory, llm: LlamaCppProvider
) -> None:
    key = generate_key()
    settings = make_settings(
        auth="keys",
        bootstrap_admin_key=key,
        rate_limit="memory",
        rate_limit_requests=3,
        rate_limit_window_s=600,
    )
    with serve_in_thread(create_app(settings, provider=llm)) as url:
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"})
        answers = [client.get("/api/conversations") for _ in range(4)]
        public = client.get("/health")
        client.close()
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[0].headers["ratelimit-policy"] == "3;w=600"
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "rate-limited"
    assert int(refused.headers["retry-after"]) == 200  # one token per 600/3 s
    assert "ratelimit-limit" not in public.headers  # public paths are not limited


def test_a_key_can_have_its_own_limit(
    make_settings: SettingsFactory, llm: LlamaCppProvider
) -> None:
    operator = generate_key()
    settings = make_settings(
        auth="keys", bootstrap_admin_key=operator, rate_limit="memory", rate_limit_window_s=600
    )
    with serve_in_thread(create_app(settings, provider=llm)) as url:
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {operator}"})
        issued = admin.post("/api/keys", json={"scope": "chat", "rate_requests": 10}).json()
        admin.close()
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {issued['key']}"})
        statuses = [client.get("/api/conversations").status_code for _ in range(11)]
        client.close()
    assert statuses == [200] * 10 + [429]  # the default would have been 6


def test_guessing_keys_is_limited_per_client_ip(
    make_settings: SettingsFactory, llm: LlamaCppProvider
) -> None:
    settings = make_settings(
        auth="keys", rate_limit="memory", rate_limit_ip_requests=5, rate_limit_window_s=600
    )
    with serve_in_thread(create_app(settings, provider=llm)) as url:
        statuses = [
            httpx.get(
                f"{url}/api/conversations", headers={"Authorization": f"Bearer {generate_key()}"}
            ).status_code
            for _ in range(7)
        ]
    assert statuses == [401] * 5 + [429] * 2


def _issue_key(database_url: str) -> str:
    async def go() -> str:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, database_url=database_url, encryption="off"
        )
        database = Database(database_config(settings))
        try:
            await migrate(database)
            return (await KeyStore(database).create_key("default", ("chat",))).key
        finally:
            await database.aclose()

    return asyncio.run(go())


def test_the_limit_holds_across_three_replicas_sharing_redis_and_postgresql(
    postgres_url: str, redis_url: str, redis_prefix: str, model_file: Path, tmp_path: Path
) -> None:
    key = _issue_key(postgres_url)
    settings = {
        "ALICE_DATABASE_URL": postgres_url,
        "ALICE_MODEL_PATH": str(model_file),
        "ALICE_GUARDIAN_ENABLED": "false",
        "ALICE_LOG_LEVEL": "warning",
        # Replicas share their keys (a Kubernetes secret), not key files.
        "ALICE_ENCRYPTION_KEYS": encryption_key(),
        "ALICE_SUBJECT_KEY": secrets.token_hex(32),
        "ALICE_RATE_LIMIT": "redis",
        "ALICE_REDIS_URL": redis_url,
        "ALICE_REDIS_PREFIX": redis_prefix,
        "ALICE_RATE_LIMIT_REQUESTS": "6",
        # One token back per 100 s: the test's requests all come out of the first burst.
        "ALICE_RATE_LIMIT_WINDOW_S": "600",
    }
    replicas = []
    with (
        alice_serve({**settings, "ALICE_DATA_DIR": str(tmp_path / "a")}, cwd=tmp_path) as a,
        alice_serve({**settings, "ALICE_DATA_DIR": str(tmp_path / "b")}, cwd=tmp_path) as b,
        alice_serve({**settings, "ALICE_DATA_DIR": str(tmp_path / "c")}, cwd=tmp_path) as c,
    ):
        replicas = [a, b, c]
        headers = {"Authorization": f"Bearer {key}"}
        statuses = [
            httpx.get(f"{replicas[i % 3]}/api/conversations", headers=headers).status_code
            for i in range(18)
        ]
    allowed = statuses.count(200)
    # Six in all, not six per replica (18): "within one request" of the global limit.
    assert 6 <= allowed <= 7, statuses
    assert statuses.count(429) == 18 - allowed
    assert statuses[:6] == [200] * 6
