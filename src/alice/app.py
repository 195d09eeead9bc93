"""``create_app(settings)``: wires Alice's parts into an ASGI application.

It decides nothing: every part is built from ``settings`` (or handed in, which is how
tests share one loaded model between apps), started in the lifespan, and closed in
reverse order when the server stops. The model loads in the background, so the process
answers ``/health`` at once and ``/ready`` reports the model ``unhealthy`` until it is
loaded; chat requests meanwhile get 503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import structlog
from fastapi import FastAPI

from alice import __version__
from alice.api import BodyLimitMiddleware, install_error_handlers
from alice.api.routes import chat, conversations, health, openai
from alice.chat import ChatConfig, ChatService
from alice.errors import ConfigurationError
from alice.llm import Provider, build_provider
from alice.settings import Settings
from alice.store.database import Database, DatabaseConfig
from alice.store.migrate import migrate

__all__ = ["chat_config", "create_app", "database_config"]

log = structlog.get_logger("alice.app")


def database_config(settings: Settings) -> DatabaseConfig:
    """The database configuration from settings."""
    return DatabaseConfig(
        url=settings.resolved_database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        statement_cache=settings.db_statement_cache,
        sqlite_synchronous=settings.sqlite_synchronous,
    )


def chat_config(settings: Settings) -> ChatConfig:
    """The chat service configuration from settings."""
    return ChatConfig(
        system_prompt=settings.system_prompt,
        default_max_tokens=settings.default_max_tokens,
        max_tokens_limit=settings.max_tokens_limit,
        default_temperature=settings.default_temperature,
        history_messages=settings.history_messages,
        max_message_chars=settings.max_message_chars,
    )


async def _start_provider(provider: Provider) -> None:
    try:
        await provider.start()
    except ConfigurationError as exc:
        # The process stays up and /ready says why; a supervisor sees "not ready".
        log.error("model.start_failed", reason=str(exc))


def create_app(settings: Settings, *, provider: Provider | None = None) -> FastAPI:
    """Build the ASGI app.

    Args:
        settings: validated settings.
        provider: an already built (possibly started) provider to use instead of the
            configured one; the caller keeps ownership and closes it.
    """
    owns_provider = provider is None
    active_provider = provider if provider is not None else build_provider(settings)
    database = Database(database_config(settings))
    service = ChatService(
        provider=active_provider, sessions=database.sessions, config=chat_config(settings)
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.auto_migrate:
            await migrate(database)
        loading = asyncio.create_task(_start_provider(active_provider))
        log.info(
            "alice.started",
            version=__version__,
            provider=active_provider.name,
            models=list(active_provider.models),
            database=database.engine.dialect.name,
        )
        try:
            yield
        finally:
            loading.cancel()
            with suppress(asyncio.CancelledError):
                await loading
            if owns_provider:
                await active_provider.aclose()
            await database.aclose()
            log.info("alice.stopped")

    app = FastAPI(
        title="Alice",
        version=__version__,
        summary="Self-hosted AI assistant server.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.chat = service
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    for module in (health, chat, conversations, openai):
        app.include_router(module.router)
    return app
