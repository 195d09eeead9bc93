"""Building the configured provider from settings."""

from __future__ import annotations

from alice.llm.provider import Provider
from alice.llm.providers._http import UpstreamConfig
from alice.llm.providers.llamacpp import BUNDLED_MODEL_FILE, LlamaCppConfig, LlamaCppProvider
from alice.llm.providers.ollama import OllamaProvider
from alice.llm.providers.openai import OpenAIProvider
from alice.settings import Settings

__all__ = ["build_provider", "llamacpp_config"]


def llamacpp_config(settings: Settings) -> LlamaCppConfig:
    """The embedded model's configuration from settings."""
    bundled = settings.model_path is None
    path = (
        settings.resolved_data_dir / "models" / BUNDLED_MODEL_FILE
        if settings.model_path is None
        else settings.model_path.expanduser().resolve()
    )
    return LlamaCppConfig(
        model_name=settings.model,
        model_path=path,
        bundled=bundled,
        prompt_format=settings.prompt_format,
        n_ctx=settings.llamacpp_n_ctx,
        n_threads=settings.llamacpp_n_threads,
        n_batch=settings.llamacpp_n_batch,
    )


def build_provider(settings: Settings) -> Provider:
    """The provider ``ALICE_PROVIDER`` names, configured from settings."""
    if settings.provider == "llamacpp":
        return LlamaCppProvider(llamacpp_config(settings))
    base_url = (
        settings.openai_base_url if settings.provider == "openai" else (settings.ollama_base_url)
    )
    upstream = UpstreamConfig(
        base_url=base_url,
        api_key=(
            settings.openai_api_key.get_secret_value()
            if settings.openai_api_key and settings.provider == "openai"
            else None
        ),
        connect_timeout_s=settings.upstream_connect_timeout_s,
        read_timeout_s=settings.upstream_read_timeout_s,
        max_connections=settings.upstream_max_connections,
    )
    if settings.provider == "openai":
        return OpenAIProvider(upstream, models=settings.models)
    return OllamaProvider(upstream, models=settings.models)
