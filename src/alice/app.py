"""``create_app(settings)``: wires Alice's parts into an ASGI application.

It decides nothing: every part is built from ``settings`` (or handed in, which is how
tests share one loaded model between apps), started in the lifespan, and closed in
reverse order when the server stops. The model loads in the background, so the process
answers ``/health`` at once and ``/ready`` reports the model ``unhealthy`` until it is
loaded; chat requests meanwhile get 503 with ``Retry-After`` (or, once every model is
known to be down, the offline answer).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import redis.asyncio
import structlog
from fastapi import FastAPI
from redis.backoff import NoBackoff
from redis.retry import Retry

from alice import __version__
from alice.api import BodyLimitMiddleware, GuardianHeaderMiddleware, install_error_handlers
from alice.api.routes import chat, conversations, health, openai
from alice.api.routes import guardian as guardian_routes
from alice.cache import MemoryCache, RedisCache, ResponseCache
from alice.chat import ChatConfig, ChatService
from alice.errors import ConfigurationError
from alice.guardian import GuardianPolicy, Mode, Sampler
from alice.guardian.runtime import Guardian, ModeEffects
from alice.llm import Provider
from alice.llm.backends import build_router
from alice.llm.router.router import ModelRouter
from alice.settings import Settings
from alice.store.database import Database, DatabaseConfig
from alice.store.migrate import migrate

__all__ = ["build_cache", "build_guardian", "chat_config", "create_app", "database_config"]

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
        shed_retry_after_s=settings.shed_retry_after_s,
    )


def build_guardian(settings: Settings, router: ModelRouter) -> Guardian:
    """The Guardian: policy from the thresholds, effects of each mode, the sampler."""
    effects: dict[Mode, ModeEffects] = {
        "ok": ModeEffects(tier="primary"),
        "brownout": ModeEffects(
            tier="small",
            max_tokens_cap=settings.brownout_max_tokens,
            history_cap=settings.brownout_history_messages,
        ),
        "emergency": ModeEffects(
            tier="small",
            max_tokens_cap=settings.emergency_max_tokens,
            history_cap=settings.emergency_history_messages,
            shed_background=True,
        ),
    }
    sampler = Sampler(data_dir=settings.resolved_data_dir) if settings.guardian_enabled else None
    return Guardian(
        policy=GuardianPolicy(settings.guardian),
        sampler=sampler,
        router=router,
        effects=effects,
        interval_s=settings.guardian_interval_s,
        log_file=settings.log_file,
    )


def build_cache(settings: Settings) -> ResponseCache | None:
    """The response cache ``ALICE_CACHE`` names."""
    if settings.cache == "off":
        return None
    if settings.cache == "memory":
        return MemoryCache(max_entries=settings.cache_max_entries, ttl_s=settings.cache_ttl_s)
    client = redis.asyncio.Redis.from_url(
        settings.redis_url,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
        # One quick retry: a cache must never hold a chat request up for seconds.
        retry=Retry(NoBackoff(), 1),
    )
    return RedisCache(
        client,
        prefix=settings.redis_prefix,
        max_entries=settings.cache_max_entries,
        ttl_s=settings.cache_ttl_s,
    )


async def _start_router(router: ModelRouter) -> None:
    try:
        await router.start()
    except ConfigurationError as exc:
        # The process stays up and /ready says why; a supervisor sees "not ready".
        log.error("model.start_failed", reason=str(exc))


async def _noop() -> None:
    return None


def create_app(settings: Settings, *, provider: Provider | None = None) -> FastAPI:
    """Build the ASGI app.

    Args:
        settings: validated settings.
        provider: an already built (possibly started) provider to use instead of the
            configured one; the caller keeps ownership and closes it.
    """
    # An injected provider belongs to the caller: the app neither starts nor closes it.
    owns_backends = provider is None
    router = build_router(settings, provider=provider)
    database = Database(database_config(settings))
    guardian = build_guardian(settings, router)
    cache = build_cache(settings)
    service = ChatService(
        router=router,
        database=database,
        config=chat_config(settings),
        guardian=guardian,
        cache=cache,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.auto_migrate:
            await migrate(database)
        loading = asyncio.create_task(_start_router(router) if owns_backends else _noop())
        await guardian.start()
        log.info(
            "alice.started",
            version=__version__,
            backends=list(router.backends),
            models=list(router.models),
            database=database.dialect,
        )
        try:
            yield
        finally:
            await guardian.stop()
            if isinstance(cache, RedisCache):
                await cache.aclose()
            loading.cancel()
            with suppress(asyncio.CancelledError):
                await loading
            if owns_backends:
                await router.aclose()
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
    app.state.guardian = guardian
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(GuardianHeaderMiddleware, mode=lambda: guardian.mode)
    for module in (health, chat, conversations, openai, guardian_routes):
        app.include_router(module.router)
    return app
