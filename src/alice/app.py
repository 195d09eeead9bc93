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
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import redis.asyncio
import structlog
from fastapi import Depends, FastAPI
from redis.asyncio.connection import SSLConnection, parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelManagedConnection
from redis.backoff import NoBackoff

from alice import __version__
from alice.api import BodyLimitMiddleware, GuardianHeaderMiddleware, install_error_handlers
from alice.api.deps import require_chat
from alice.api.middleware import SingleQueryMiddleware, UploadGuardMiddleware
from alice.api.routes import audio, chat, conversations, health, openai, voice
from alice.api.routes import gdpr as gdpr_routes
from alice.api.routes import guardian as guardian_routes
from alice.api.routes import keys as key_routes
from alice.api.routes import metrics as metrics_routes
from alice.api.security import install_openapi
from alice.cache import MemoryCache, RedisCache, ResponseCache
from alice.chat import ChatConfig, ChatService
from alice.errors import ConfigurationError
from alice.guardian import GuardianPolicy, Mode, Sampler
from alice.guardian.runtime import Guardian, ModeEffects
from alice.llm import Provider
from alice.llm.backends import build_router
from alice.llm.router.router import ModelRouter
from alice.observability import Metrics, ObservabilityMiddleware, StateSources, Tracing
from alice.privacy import cipher_from_settings, subject_index_from_settings
from alice.privacy.audit import AuditLog
from alice.privacy.gdpr import Gdpr
from alice.privacy.policy import TenantPolicies
from alice.privacy.retention import RetentionJob
from alice.privacy.rotation import check_keys
from alice.privacy.subjects import check_subject_key
from alice.security.auth import Authenticator
from alice.security.middleware import RequestTimeoutMiddleware, SecurityMiddleware
from alice.security.ratelimit import (
    BucketSpec,
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
)
from alice.settings import Settings
from alice.store.database import Database, DatabaseConfig
from alice.store.migrate import migrate
from alice.store.tenants import KeyStore
from alice.voice import VoiceMetrics, VoicePipeline, build_voice

__all__ = [
    "build_cache",
    "build_guardian",
    "build_rate_limiter",
    "build_tracing",
    "chat_config",
    "create_app",
    "database_config",
]

log = structlog.get_logger("alice.app")


def database_config(settings: Settings) -> DatabaseConfig:
    """The database configuration from settings."""
    return DatabaseConfig(
        url=settings.resolved_database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        statement_cache=settings.db_statement_cache,
        sqlite_synchronous=settings.sqlite_synchronous,
        cipher=cipher_from_settings(settings),
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
        mask_pii=settings.pii_masking,
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


def build_tracing(settings: Settings) -> Tracing:
    """Tracing as ``ALICE_OTEL_*`` configure it (off, and free, by default)."""
    return Tracing(
        endpoint=settings.otel_endpoint,
        sample_ratio=settings.otel_sample_ratio,
        service_name=settings.otel_service_name,
        version=__version__,
        headers=settings.otel_header_map,
    )


def _state_sources(guardian: Guardian, router: ModelRouter, database: Database) -> StateSources:
    def sample() -> dict[str, float | None] | None:
        s = guardian.last_sample
        if s is None:
            return None
        return {
            "ram_pct": s.ram_pct,
            "cpu_pct": s.cpu_pct,
            "disk_free_bytes": s.disk_free_bytes,
            "rss_bytes": s.rss_bytes,
            "loop_lag_s": s.loop_lag_s,
            "gpu_mem_used_pct": s.gpu.mem_used_pct if s.gpu is not None else None,
        }

    return StateSources(
        guardian_mode=lambda: guardian.mode,
        guardian_sample=sample,
        disk_low=lambda: guardian.disk_low,
        transitions=lambda: guardian.transition_counts,
        backends=router.status,
        db_pool=database.pool_status,
    )


def _route_templates(app: FastAPI) -> list[tuple[str, list[str]]]:
    """Every route template with its methods, as the OpenAPI document lists them."""
    paths: dict[str, dict[str, Any]] = app.openapi().get("paths", {})
    return [(template, [m.upper() for m in ops]) for template, ops in paths.items()]


#: Socket timeouts of the cache's and the rate limiter's Redis client. A command that
#: times out on a hung server and its one retry on the new master fit in the cache's own
#: 0.5 s budget (`RedisCache` ``timeout_s``); Redis answers these commands in well under 1 ms.
REDIS_TIMEOUTS: dict[str, Any] = {"socket_timeout": 0.2, "socket_connect_timeout": 0.2}


class _MasterConnection(SentinelManagedConnection):
    """Asks the sentinels where the master is on every connect, a retry's included.

    redis-py asks only when the pool hands out a connection; a retry reconnects to the
    address it had, the lost master's (redis/redis-py#3874, open in 8.2).
    """

    async def _connect(self) -> None:
        if self.connection_pool.is_master:
            self.host, self.port = await self.connection_pool.get_master_address()
        await super()._connect()  # type: ignore[no-untyped-call]  # redis-py is untyped here


class _MasterSSLConnection(_MasterConnection, SSLConnection):
    pass


class _SentinelRedis(redis.asyncio.Redis):
    """A client of the master that sentinels name; closing it closes the sentinel clients."""

    owner: Sentinel | None = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        if self.owner is not None:
            await self.owner.aclose()


def _redis(settings: Settings) -> redis.asyncio.Redis:
    """The Redis client of the cache or the rate limiter.

    With ``ALICE_REDIS_SENTINELS`` each new connection asks the sentinels where the master
    is, and a connection to a demoted or lost master is dropped, so the one quick retry
    lands on the new master after a failover.
    """
    timeouts: dict[str, Any] = dict(REDIS_TIMEOUTS)
    # One quick retry: a cache or a counter must never hold a request up for seconds.
    retry = Retry(NoBackoff(), 1)
    if not settings.redis_sentinels:
        return redis.asyncio.Redis.from_url(settings.redis_url, retry=retry, **timeouts)
    # The URL still says how to talk to the master: database, user, password and TLS.
    master: dict[str, Any] = {
        k: v
        for k, v in parse_url(settings.redis_url).items()
        if k in ("db", "username", "password", "connection_class") or k.startswith("ssl_")
    }
    tls = master.pop("connection_class", None) is SSLConnection
    master["connection_class"] = _MasterSSLConnection if tls else _MasterConnection
    password = settings.redis_sentinel_password
    sentinel = Sentinel(
        settings.redis_sentinel_addresses,
        sentinel_kwargs={
            **timeouts,
            "password": password.get_secret_value() if password is not None else None,
        },
    )
    client: _SentinelRedis = sentinel.master_for(
        settings.redis_sentinel_master,
        redis_class=_SentinelRedis,
        retry=retry,
        **timeouts,
        **master,
    )
    client.owner = sentinel
    return client


def build_cache(settings: Settings) -> ResponseCache | None:
    """The response cache ``ALICE_CACHE`` names."""
    if settings.cache == "off":
        return None
    if settings.cache == "memory":
        return MemoryCache(max_entries=settings.cache_max_entries, ttl_s=settings.cache_ttl_s)
    return RedisCache(
        _redis(settings),
        prefix=settings.redis_prefix,
        max_entries=settings.cache_max_entries,
        ttl_s=settings.cache_ttl_s,
    )


def build_rate_limiter(settings: Settings) -> RateLimiter | None:
    """The rate limiter ``ALICE_RATE_LIMIT`` names."""
    if settings.rate_limit == "off":
        return None
    if settings.rate_limit == "memory":
        return MemoryRateLimiter()
    return RedisRateLimiter(_redis(settings), prefix=settings.redis_prefix)


def _buckets(settings: Settings) -> tuple[BucketSpec, BucketSpec]:
    key = BucketSpec(
        requests=settings.rate_limit_requests,
        window_s=settings.rate_limit_window_s,
        burst=settings.rate_limit_burst or settings.rate_limit_requests,
    )
    ip = BucketSpec(
        requests=settings.rate_limit_ip_requests,
        window_s=settings.rate_limit_window_s,
        burst=settings.rate_limit_ip_requests,
    )
    return key, ip


_NO_AUTH_WARNING = """\
************************************************************************
WARNING: authentication is OFF (ALICE_AUTH=off). Anyone who can reach
this server can read every conversation and use the admin API.
Use this for development on your own machine only.
************************************************************************
"""


async def _bootstrap_key(settings: Settings, keys: KeyStore) -> None:
    """Issue the first admin key once per database; print a generated one once."""
    given = settings.bootstrap_admin_key
    issued = await keys.bootstrap(given.get_secret_value() if given else None)
    if issued is None:
        return
    # The key goes to the terminal only, never into a log record.
    log.info("auth.bootstrap_key_issued", key_id=issued.record.id, prefix=issued.record.prefix)
    if given is None:
        sys.stderr.write(
            "\nAlice issued the first admin API key (shown this once; store it now):\n\n"
            f"    {issued.key}\n\n"
            "Use it as 'Authorization: Bearer <key>'; create more with\n"
            "'alice keys create --tenant default --scope chat'.\n\n"
        )
        sys.stderr.flush()


async def _start_router(router: ModelRouter) -> None:
    try:
        await router.start()
    except ConfigurationError as exc:
        # The process stays up and /ready says why; a supervisor sees "not ready".
        log.error("model.start_failed", reason=str(exc))


async def _noop() -> None:
    return None


def create_app(
    settings: Settings, *, provider: Provider | None = None, tracing: Tracing | None = None
) -> FastAPI:
    """Build the ASGI app.

    Args:
        settings: validated settings.
        provider: an already built (possibly started) provider to use instead of the
            configured one; the caller keeps ownership and closes it.
        tracing: tracing to use instead of the configured one (tests hand in one with an
            in-memory exporter); the app shuts it down when it stops.
    """
    # An injected provider belongs to the caller: the app neither starts nor closes it.
    owns_backends = provider is None
    router = build_router(settings, provider=provider)
    database = Database(database_config(settings))
    guardian = build_guardian(settings, router)
    metrics = Metrics(version=__version__)
    metrics.watch(_state_sources(guardian, router, database))
    tracing = tracing or build_tracing(settings)
    cache = build_cache(settings)
    keys = KeyStore(database)
    authenticator = (
        Authenticator(keys, ttl_s=settings.auth_cache_ttl_s) if settings.auth == "keys" else None
    )
    limiter = build_rate_limiter(settings)
    subjects = subject_index_from_settings(settings)
    audit = AuditLog(database)
    gdpr = Gdpr(database, subjects=subjects, keys=keys, cache=cache)
    retention = RetentionJob(
        database,
        keys,
        default_days=settings.retention_days,
        interval_s=settings.retention_interval_s,
    )
    policies = TenantPolicies(keys, mask_pii=settings.pii_masking, ttl_s=settings.auth_cache_ttl_s)
    service = ChatService(
        router=router,
        database=database,
        config=chat_config(settings),
        guardian=guardian,
        cache=cache,
        policies=policies,
        subjects=subjects,
        metrics=metrics,
    )

    pipeline: VoicePipeline | None = None
    if settings.voice_enabled:
        # The engines load on first use: a server that never hears speech pays nothing.
        pipeline = build_voice(
            settings,
            chat=service,
            metrics=VoiceMetrics(metrics.registry),
            under_pressure=lambda: guardian.mode != "ok",
        )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.auto_migrate:
            await migrate(database)
        await check_keys(database)
        await check_subject_key(database, subjects)
        if authenticator is None:
            sys.stderr.write(_NO_AUTH_WARNING)
            log.warning("auth.disabled", setting="ALICE_AUTH=off")
        else:
            await _bootstrap_key(settings, keys)
        loading = asyncio.create_task(_start_router(router) if owns_backends else _noop())
        await guardian.start()
        retention.start()
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
            await retention.stop()
            await guardian.stop()
            if pipeline is not None:
                await pipeline.aclose()
            if isinstance(cache, RedisCache):
                await cache.aclose()
            if limiter is not None:
                await limiter.aclose()
            if authenticator is not None:
                await authenticator.aclose()
            loading.cancel()
            with suppress(asyncio.CancelledError):
                await loading
            if owns_backends:
                await router.aclose()
            await database.aclose()
            tracing.shutdown()
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
    app.state.voice = pipeline
    app.state.guardian = guardian
    app.state.keys = keys
    app.state.authenticator = authenticator
    app.state.policies = policies
    app.state.retention = retention
    app.state.audit = audit
    app.state.gdpr = gdpr
    app.state.metrics = metrics
    app.state.tracing = tracing
    install_error_handlers(app)
    public = settings.public_paths
    key_bucket, ip_bucket = _buckets(settings)
    # Outermost last: request log line, metrics and span; Guardian header; auth and rate
    # limit; uploads on low disk; body size; timeout; single-valued query parameters.
    app.add_middleware(SingleQueryMiddleware)
    app.add_middleware(
        RequestTimeoutMiddleware, timeout_s=settings.request_timeout_s, exempt_paths=public
    )
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        path_limits=(
            ("/api/voice/", settings.voice_max_upload_bytes),
            ("/v1/audio/", settings.voice_max_upload_bytes),
        ),
    )
    app.add_middleware(
        UploadGuardMiddleware,
        disk_low=lambda: guardian.disk_low,
        retry_after_s=settings.shed_retry_after_s,
    )
    app.add_middleware(
        SecurityMiddleware,
        authenticator=authenticator,
        limiter=limiter,
        key_bucket=key_bucket,
        ip_bucket=ip_bucket,
        public_paths=public,
    )
    app.add_middleware(GuardianHeaderMiddleware, mode=lambda: guardian.mode)
    # Outermost: it sees every answer, the refusals of the layers above included.
    app.add_middleware(
        ObservabilityMiddleware,
        metrics=metrics,
        tracing=tracing,
        mode=lambda: guardian.mode,
        routes=lambda: _route_templates(app),
        quiet_paths=("/health", "/ready", "/metrics"),
    )
    app.include_router(health.router)
    for module in (chat, conversations, openai, audio):
        app.include_router(module.router, dependencies=[Depends(require_chat)])
    # Its HTTP route takes the tenant (chat scope); the WebSocket checks the scope itself.
    app.include_router(voice.router)
    app.include_router(guardian_routes.router)
    app.include_router(key_routes.router)
    app.include_router(gdpr_routes.router)
    app.include_router(metrics_routes.router)
    install_openapi(app, settings, public)
    return app
