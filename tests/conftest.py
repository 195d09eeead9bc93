"""Fixtures shared by the whole suite.

The real embedded model is loaded once per run and shared by every app under test
(``create_app(settings, provider=...)``); each test gets its own data folder and
database. PostgreSQL comes from `tests.support.postgres` (never skipped).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from alice.app import create_app, database_config
from alice.llm.providers.llamacpp import (
    BUNDLED_MODEL_FILE,
    LlamaCppConfig,
    LlamaCppProvider,
    ensure_bundled_model,
)
from alice.privacy.encryption import generate_key
from alice.settings import DEFAULT_LLAMACPP_MODEL, Settings
from alice.store import Database, migrate
from tests.support import postgres
from tests.support import redis as redis_support
from tests.support.servers import serve_in_thread

SettingsFactory = Callable[..., Settings]


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment() -> Iterator[None]:
    """No ALICE_* variable of the developer's shell leaks into the tests."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("ALICE_")}
    for key in saved:
        if key not in ("ALICE_TEST_POSTGRES_URL", "ALICE_TEST_REDIS_URL"):
            del os.environ[key]
    yield
    os.environ.update(saved)


@pytest.fixture(scope="session", autouse=True)
def _plain_tracebacks() -> Iterator[None]:
    """structlog's default console output, with plain tracebacks.

    Its default renders tracebacks with rich and every frame's local variables: seconds
    of CPU per logged exception on a busy machine, spent inside the request that logged
    it (alice serve configures the same plain format, see alice.observability).
    """
    saved = structlog.get_config()
    structlog.configure(
        processors=[
            *saved["processors"][:-1],
            structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback),
        ]
    )
    yield
    structlog.configure(**saved)


@pytest.fixture(scope="session")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled GGUF, assembled once for the run."""
    return ensure_bundled_model(tmp_path_factory.mktemp("models") / BUNDLED_MODEL_FILE)


@pytest.fixture(scope="session")
async def llm(model_file: Path) -> AsyncIterator[LlamaCppProvider]:
    """The real embedded model, loaded once and shared."""
    provider = LlamaCppProvider(
        LlamaCppConfig(model_name=DEFAULT_LLAMACPP_MODEL, model_path=model_file, bundled=False)
    )
    await provider.start()
    yield provider
    await provider.aclose()
    # llama-cpp-python opens two /dev/null handles at import and never closes them,
    # which prints a ResourceWarning when the interpreter exits.
    from llama_cpp import _utils

    _utils.outnull_file.close()
    _utils.errnull_file.close()


@pytest.fixture(scope="session")
def whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled Whisper base, assembled once for the run (each app would otherwise
    join its 145 MB again in its own data folder)."""
    from alice.voice.stt.whisper import ensure_bundled_whisper

    return ensure_bundled_whisper(tmp_path_factory.mktemp("models") / "whisper-base")


@pytest.fixture
def make_settings(tmp_path: Path, model_file: Path, whisper_dir: Path) -> SettingsFactory:
    """Settings for one test: its own data folder, no .env file, the shared model file."""

    def make(**overrides: Any) -> Settings:
        # No machine sampling unless a test is about it: the Guardian would (rightly)
        # brown out when the test machine is busy, and change what a test observes.
        # Authentication and rate limits are off unless a test is about them (the
        # security suite turns them on; tests/alice/security/test_every_route.py proves
        # that every non-public route refuses a request without a key when they are on).
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "model_path": model_file,
            "voice_stt_model_path": whisper_dir,
            "guardian_enabled": False,
            "auth": "off",
            "rate_limit": "off",
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings()


@pytest.fixture
def alice_url(settings: Settings, llm: LlamaCppProvider) -> Iterator[str]:
    """A real Alice HTTP server (uvicorn) with the shared model and its own database."""
    with serve_in_thread(create_app(settings, provider=llm)) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    with postgres.postgres_server() as url:
        yield url


@pytest.fixture
async def postgres_url(postgres_admin_url: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    name = f"alice_test_{uuid.uuid4().hex[:12]}"
    url = await postgres.create_database(postgres_admin_url, name)
    yield url
    await postgres.drop_database(postgres_admin_url, name)


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_admin_url: str
) -> AsyncIterator[str]:
    """Each store test runs once on SQLite and once on the real PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'alice.db'}"
        return
    name = f"alice_test_{uuid.uuid4().hex[:12]}"
    url = await postgres.create_database(postgres_admin_url, name)
    yield url
    await postgres.drop_database(postgres_admin_url, name)


# One encryption key for store tests: they run with encryption on, as production does.
TEST_ENCRYPTION_KEY = generate_key()


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A migrated `Database` on SQLite and on PostgreSQL (see `database_url`), encrypting."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=database_url, encryption_keys=TEST_ENCRYPTION_KEY
    )
    db = Database(database_config(settings))
    await migrate(db)
    yield db
    await db.aclose()


# Read at import: _isolated_environment removes ALICE_* variables before fixtures run.
_TEST_REDIS_URL = os.environ.get("ALICE_TEST_REDIS_URL")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A running Redis server (the local one, or a throwaway started for the run)."""
    with redis_support.redis_server(_TEST_REDIS_URL) as url:
        yield url


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of one's own for one test; its keys are deleted afterwards."""
    prefix = f"alice-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    redis_support.delete_prefix(redis_url, prefix)
