"""From settings to a router: backends, tiers of fallback chains, the last resort.

Simple setups name one provider (``ALICE_PROVIDER``, ``ALICE_MODEL``...): that is the
backend ``main``, and both tiers route to it. Fleets declare their backends as JSON in
``ALICE_BACKENDS`` and, optionally, the chains of each tier in ``ALICE_TIERS``::

    ALICE_BACKENDS='[
      {"id": "vllm", "provider": "openai", "base_url": "http://vllm:8000/v1",
       "models": ["qwen2.5-7b-instruct"]},
      {"id": "ollama", "provider": "ollama", "base_url": "http://ollama:11434",
       "models": ["gemma3:1b"]},
      {"id": "local", "provider": "llamacpp", "models": ["gemma-3-270m"]}
    ]'
    ALICE_TIERS='{"primary": ["vllm", "ollama", "local"], "small": ["ollama", "local"]}'

A tier entry is ``backend`` (its first model) or ``backend:model``. Without
``ALICE_TIERS`` the primary chain is every backend in order and ``small`` (the brownout
tier) is the same chain. The offline answer ends every chain unless
``ALICE_OFFLINE_ANSWERS=false``.
"""

from __future__ import annotations

from alice.errors import ConfigurationError
from alice.llm.provider import Provider
from alice.llm.providers._http import UpstreamConfig
from alice.llm.providers.llamacpp import BUNDLED_MODEL_FILE, LlamaCppConfig, LlamaCppProvider
from alice.llm.providers.offline import OfflineProvider
from alice.llm.providers.ollama import OllamaProvider
from alice.llm.providers.openai import OpenAIProvider
from alice.llm.router.breaker import BreakerConfig
from alice.llm.router.policy import Backoff
from alice.llm.router.router import ModelRouter, Route, RouterConfig
from alice.settings import BackendSpec, Settings

__all__ = ["build_router", "default_backends", "router_config", "tier_routes"]


def default_backends(settings: Settings) -> tuple[BackendSpec, ...]:
    """The backends from ``ALICE_BACKENDS``, or the one ``main`` backend."""
    if settings.backends:
        return settings.backends
    base_url = {
        "openai": settings.openai_base_url,
        "ollama": settings.ollama_base_url,
        "llamacpp": None,
    }[settings.provider]
    return (
        BackendSpec(
            id="main",
            provider=settings.provider,
            models=settings.models,
            base_url=base_url,
            api_key=settings.openai_api_key if settings.provider == "openai" else None,
            model_path=settings.model_path,
        ),
    )


def tier_routes(
    backends: tuple[BackendSpec, ...], tiers: dict[str, tuple[str, ...]]
) -> dict[str, list[Route]]:
    """Parse tier chains; every tier falls back to the primary chain's backends.

    Raises:
        ConfigurationError: a chain names an unknown backend or model.
    """
    by_id = {b.id: b for b in backends}
    chains = dict(tiers)
    chains.setdefault("primary", tuple(b.id for b in backends))
    chains.setdefault("small", chains["primary"])
    routes: dict[str, list[Route]] = {}
    for tier, entries in chains.items():
        routes[tier] = []
        for entry in entries:
            backend_id, _, model = entry.partition(":")
            spec = by_id.get(backend_id)
            if spec is None:
                raise ConfigurationError(
                    f"invalid setting ALICE_TIERS: tier {tier!r} names unknown backend "
                    f"{backend_id!r}; known: {', '.join(by_id)}"
                )
            if model and model not in spec.models:
                raise ConfigurationError(
                    f"invalid setting ALICE_TIERS: backend {backend_id!r} serves no model "
                    f"{model!r}; it serves: {', '.join(spec.models)}"
                )
            routes[tier].append(Route(backend_id, model or spec.models[0]))
        if not routes[tier]:
            raise ConfigurationError(f"invalid setting ALICE_TIERS: tier {tier!r} is empty")
    return routes


def router_config(settings: Settings) -> RouterConfig:
    """Timeouts, retries, capacity and breakers from settings."""
    return RouterConfig(
        first_token_timeout_s=settings.first_token_timeout_s,
        stall_timeout_s=settings.stall_timeout_s,
        backoff=Backoff(
            base_s=settings.retry_backoff_base_s,
            max_s=settings.retry_backoff_max_s,
            retries=settings.retries,
        ),
        concurrency=settings.backend_concurrency,
        max_queue=settings.backend_queue,
        max_wait_share=settings.backend_queue_max_wait,
        retry_after_s=settings.overload_retry_after_s,
        breaker=BreakerConfig(
            failure_rate=settings.breaker_failure_rate,
            min_requests=settings.breaker_min_requests,
            window_s=settings.breaker_window_s,
            cooldown_s=settings.breaker_cooldown_s,
        ),
    )


def _provider(spec: BackendSpec, settings: Settings) -> Provider:
    if spec.provider == "llamacpp":
        bundled = spec.model_path is None
        path = (
            settings.resolved_data_dir / "models" / BUNDLED_MODEL_FILE
            if spec.model_path is None
            else spec.model_path.expanduser().resolve()
        )
        return LlamaCppProvider(
            LlamaCppConfig(
                model_name=spec.models[0],
                model_path=path,
                bundled=bundled,
                prompt_format=settings.prompt_format,
                n_ctx=settings.llamacpp_n_ctx,
                n_threads=settings.llamacpp_n_threads,
                n_batch=settings.llamacpp_n_batch,
            )
        )
    default_url = (
        settings.openai_base_url if spec.provider == "openai" else settings.ollama_base_url
    )
    upstream = UpstreamConfig(
        base_url=spec.base_url or default_url,
        api_key=spec.api_key.get_secret_value() if spec.api_key else None,
        connect_timeout_s=settings.upstream_connect_timeout_s,
        read_timeout_s=settings.upstream_read_timeout_s,
        max_connections=settings.upstream_max_connections,
    )
    if spec.provider == "openai":
        return OpenAIProvider(upstream, models=spec.models)
    return OllamaProvider(upstream, models=spec.models)


def build_router(settings: Settings, *, provider: Provider | None = None) -> ModelRouter:
    """The router the settings describe.

    Args:
        settings: validated settings.
        provider: use this (already built) provider as the only backend, ``main``.
    """
    if provider is not None:
        providers: dict[str, Provider] = {"main": provider}
        specs: tuple[BackendSpec, ...] = (
            BackendSpec(id="main", provider="openai", models=provider.models),
        )
    else:
        specs = default_backends(settings)
        providers = {spec.id: _provider(spec, settings) for spec in specs}
    return ModelRouter(
        providers=providers,
        tiers=tier_routes(specs, settings.tiers),
        config=router_config(settings),
        last_resort=OfflineProvider() if settings.offline_answers else None,
    )
