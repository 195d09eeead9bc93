"""Alice's one configuration object.

Every setting is read from the environment (prefix ``ALICE_``) or from a ``.env`` file in
the working directory, validated once at boot and then passed down explicitly. Nothing in
Alice reads the environment at call time.

``load_settings`` turns pydantic's validation report into a `ConfigurationError` whose
message is one line naming the environment variable and what it accepts, so a wrong value
stops start-up with something a person can act on.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from alice.errors import ConfigurationError
from alice.guardian.policy import Thresholds

__all__ = ["BackendSpec", "ProviderName", "Settings", "load_settings"]

ProviderName = Literal["llamacpp", "openai", "ollama"]
PromptFormat = Literal["auto", "few-shot", "chat-template"]
LogFormat = Literal["json", "console"]
LogLevel = Literal["debug", "info", "warning", "error"]
SqliteSynchronous = Literal["full", "normal"]
SttEngineName = Literal["whisper", "openai"]
TtsEngineName = Literal["piper", "espeak", "openai"]

_ENV_PREFIX = "ALICE_"
DEFAULT_LLAMACPP_MODEL = "gemma-3-270m"
_BACKEND_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_SETTINGS_FIELD = re.compile(r'field "([a-z_]+)"')


class BackendSpec(BaseModel):
    """One model backend, as declared in ``ALICE_BACKENDS`` (see `alice.llm.backends`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    provider: ProviderName
    models: tuple[str, ...] = Field(min_length=1)
    base_url: str | None = None
    api_key: SecretStr | None = None
    model_path: Path | None = None

    @field_validator("id")
    @classmethod
    def _kebab(cls, value: str) -> str:
        if not _BACKEND_ID.match(value):
            raise ValueError("backend ids are lowercase letters, digits and '-'")
        return value

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value.rstrip("/") if value else value


class Settings(BaseSettings):
    """All of Alice's settings; see ``.env.example`` for a documented copy."""

    model_config = SettingsConfigDict(
        env_prefix=_ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        env_nested_delimiter="__",
        # "ALICE_X=" (as in .env.example) means "use the default", not an empty value.
        env_ignore_empty=True,
    )

    # --- server -----------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Interface the HTTP server binds to.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port of the HTTP server.")
    data_dir: Path = Field(
        Path("data"), description="Folder for the SQLite database, the model and logs."
    )
    log_level: LogLevel = "info"
    log_format: LogFormat = Field("json", description="json (NDJSON lines) or console.")
    log_file: Path | None = Field(
        None, description="Also write logs here, rotated by size (stderr always gets them)."
    )
    log_max_bytes: int = Field(50 * 1024 * 1024, ge=1024)
    log_max_age_s: float | None = Field(
        86400.0, gt=0, description="Also rotate the log file when it is this old (empty: never)."
    )
    log_backups: int = Field(5, ge=0, le=1000)

    # --- database ---------------------------------------------------------------------
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; empty means SQLite in data_dir. "
        "postgresql://user@host/db is accepted and run through asyncpg.",
    )
    auto_migrate: bool = Field(True, description="Run migrations when the server starts.")
    db_pool_size: int = Field(10, ge=1, le=1000)
    db_max_overflow: int = Field(10, ge=0, le=1000)
    db_statement_cache: bool = Field(
        True, description="asyncpg prepared-statement cache; turn off behind PgBouncer."
    )
    sqlite_synchronous: SqliteSynchronous = Field(
        "full",
        description="full: every commit is fsynced before the client hears of it.",
    )

    # --- model provider ---------------------------------------------------------------
    provider: ProviderName = Field("llamacpp", description="llamacpp | openai | ollama.")
    model: str = Field(
        DEFAULT_LLAMACPP_MODEL, min_length=1, description="Model name sent to the provider."
    )
    extra_models: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="More model names the provider serves (comma separated)."
    )
    model_path: Path | None = Field(
        None, description="GGUF file for llamacpp; empty means the bundled Gemma 3 270M."
    )
    prompt_format: PromptFormat = Field(
        "auto", description="auto: the model's chat template if it has one, else few-shot."
    )
    llamacpp_n_ctx: int = Field(4096, ge=256, le=131072)
    llamacpp_n_threads: int | None = Field(None, ge=1, le=512)
    llamacpp_n_batch: int = Field(512, ge=8, le=8192)
    openai_base_url: str = Field(
        "http://127.0.0.1:8080/v1", description="Base URL of an OpenAI-compatible server."
    )
    openai_api_key: SecretStr | None = None
    ollama_base_url: str = Field("http://127.0.0.1:11434")
    upstream_connect_timeout_s: float = Field(5.0, gt=0, le=600)
    upstream_read_timeout_s: float = Field(120.0, gt=0, le=3600)
    upstream_max_connections: int = Field(100, ge=1, le=10000)

    # --- routing: backends, fallback chains, timeouts, capacity -------------------------
    backends: tuple[BackendSpec, ...] = Field(
        (), description="JSON list of backends; empty means the one provider above."
    )
    tiers: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description='JSON {"primary": ["backend[:model]", ...], "small": [...]}.',
    )
    offline_answers: bool = Field(True, description="Answer in offline mode when all fail.")
    first_token_timeout_s: float = Field(30.0, gt=0, le=3600)
    stall_timeout_s: float = Field(10.0, gt=0, le=3600)
    retries: int = Field(2, ge=0, le=10)
    retry_backoff_base_s: float = Field(0.1, ge=0, le=60)
    retry_backoff_max_s: float = Field(2.0, ge=0, le=600)
    backend_concurrency: int = Field(3, ge=1, le=10000)
    backend_queue: int = Field(16, ge=0, le=100000)
    backend_queue_max_wait: float = Field(
        0.25,
        ge=0,
        le=1000,
        description="Longest predicted queue wait, as a share of the mean model call.",
    )
    overload_retry_after_s: int = Field(2, ge=1, le=3600)
    breaker_failure_rate: float = Field(0.5, gt=0, le=1)
    breaker_min_requests: int = Field(4, ge=1, le=10000)
    breaker_window_s: float = Field(30.0, gt=0, le=86400)
    breaker_cooldown_s: float = Field(10.0, ge=0, le=86400)

    # --- guardian ---------------------------------------------------------------------
    guardian_enabled: bool = Field(True, description="Sample the machine and act on it.")
    guardian_interval_s: float = Field(2.0, gt=0, le=3600)
    guardian: Thresholds = Field(
        default_factory=Thresholds,
        description="Thresholds, as ALICE_GUARDIAN__<FIELD> (see alice.guardian.Thresholds).",
    )
    brownout_max_tokens: int = Field(128, ge=1, le=131072)
    brownout_history_messages: int = Field(4, ge=0, le=1000)
    emergency_max_tokens: int = Field(64, ge=1, le=131072)
    emergency_history_messages: int = Field(2, ge=0, le=1000)
    shed_retry_after_s: int = Field(10, ge=1, le=3600)

    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Proxies whose X-Forwarded-For is trusted for the client IP ('*': any).",
    )
    request_timeout_s: float = Field(
        300.0, gt=0, le=86400, description="Longest wait for a response to start: then 504."
    )

    # --- security ---------------------------------------------------------------------
    auth: Literal["keys", "off"] = Field(
        "keys", description="keys: every API call needs a key; off: development only."
    )
    auth_cache_ttl_s: float = Field(
        10.0, ge=0, le=3600, description="How long a process trusts a key lookup."
    )
    bootstrap_admin_key: SecretStr | None = Field(
        None, description="The first admin key (else one is generated and printed once)."
    )
    metrics_public: bool = Field(True, description="/metrics answers without a key.")
    otel_endpoint: str | None = Field(
        None,
        pattern=r"^https?://",
        description="OTLP/HTTP collector base URL; empty: tracing off (and free).",
    )
    otel_sample_ratio: float = Field(1.0, ge=0, le=1, description="Share of new traces kept.")
    otel_headers: SecretStr | None = Field(
        None, description="Extra headers for the collector: name=value,name=value."
    )
    otel_service_name: str = Field("alice", min_length=1, max_length=128)
    docs_public: bool = Field(False, description="/docs and /openapi.json answer without a key.")
    rate_limit: Literal["memory", "redis", "off"] = Field(
        "memory", description="Token buckets per key and per client IP; redis: across replicas."
    )
    rate_limit_requests: int = Field(6, ge=1, le=1_000_000, description="Per key per window.")
    rate_limit_window_s: float = Field(10.0, gt=0, le=86400)
    rate_limit_burst: int | None = Field(
        None, ge=1, le=1_000_000, description="Bucket size per key (default: the requests)."
    )
    rate_limit_ip_requests: int = Field(
        6, ge=1, le=1_000_000, description="Per client IP per window, for requests without a key."
    )

    # --- privacy ----------------------------------------------------------------------
    encryption: Literal["on", "off"] = Field(
        "on", description="Encrypt message contents and conversation titles at rest."
    )
    encryption_keys: SecretStr | None = Field(
        None,
        description="Fernet keys, comma-separated, newest first (else the key file is used).",
    )
    encryption_key_file: Path | None = Field(
        None,
        description="Key file, one key per line, newest first (default: "
        "<data_dir>/encryption.keys, made with one new key on first start).",
    )

    subject_key: SecretStr | None = Field(
        None,
        description="Key of the keyed hash that stores end-user ids (64+ hex characters; "
        "else the subject key file). The same on every replica, never changed.",
    )
    subject_key_file: Path | None = Field(
        None, description="Default: <data_dir>/subject.key, made on first start."
    )
    retention_days: int | None = Field(
        None,
        ge=1,
        le=36500,
        description="Delete conversations idle this many days (per tenant: PATCH "
        "/api/admin/tenants/{name}); unset: keep until deleted.",
    )
    retention_interval_s: float = Field(
        3600.0, ge=1, le=7 * 86400, description="How often the retention job runs."
    )
    pii_masking: bool = Field(
        True,
        description="Replace personal numbers, phones, e-mails, IBANs and cards with "
        "placeholders before the model (per tenant: PATCH /api/admin/tenants/{name}).",
    )

    # --- response cache ---------------------------------------------------------------
    cache: Literal["memory", "redis", "off"] = Field(
        "memory", description="Cache of deterministic (temperature 0) answers."
    )
    cache_max_entries: int = Field(500, ge=1, le=10_000_000)
    cache_ttl_s: float = Field(900.0, gt=0, le=30 * 86400)
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Redis for ALICE_CACHE=redis and ALICE_RATE_LIMIT=redis; with "
        "ALICE_REDIS_SENTINELS only its database, user, password and TLS are used.",
    )
    redis_sentinels: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Redis Sentinel addresses host:port (comma separated): Alice asks them "
        "for the master and follows a failover; empty means ALICE_REDIS_URL's host.",
    )
    redis_sentinel_master: str = Field(
        "mymaster", min_length=1, description="The master's name the sentinels monitor."
    )
    redis_sentinel_password: SecretStr | None = Field(
        None, description="Password of the sentinels themselves (their requirepass)."
    )
    redis_prefix: str = Field("alice:", description="Key prefix of every key Alice writes.")

    # --- chat -------------------------------------------------------------------------
    system_prompt: str = Field(
        "Du är Alice, en hjälpsam och saklig AI-assistent. Svara kort, korrekt och på "
        "samma språk som användaren.",
        description="System prompt for the native API when the client sends none.",
    )
    default_max_tokens: int = Field(256, ge=1, le=32768)
    max_tokens_limit: int = Field(2048, ge=1, le=131072)
    default_temperature: float = Field(0.7, ge=0.0, le=2.0)
    history_messages: int = Field(
        20, ge=0, le=1000, description="Earlier messages of a conversation given to the model."
    )
    max_message_chars: int = Field(16000, ge=1, le=1_000_000)
    max_messages_per_request: int = Field(200, ge=1, le=10000)
    max_body_bytes: int = Field(1_048_576, ge=1024, le=268_435_456)

    # --- voice ------------------------------------------------------------------------
    voice_enabled: bool = Field(True, description="Serve the voice and audio endpoints.")
    voice_input_language: str = Field(
        "sv", pattern=r"^[a-z]{2}$", description="Language the user speaks (ISO 639-1)."
    )
    voice_output_language: str = Field(
        "en", pattern=r"^[a-z]{2}$", description="Language Alice answers and speaks in."
    )
    voice_stt: Annotated[tuple[SttEngineName, ...], NoDecode] = Field(
        ("whisper",), description="Speech-to-text chain, in order: whisper, openai."
    )
    voice_tts: Annotated[tuple[TtsEngineName, ...], NoDecode] = Field(
        ("piper", "espeak"), description="Text-to-speech chain, in order: piper, espeak, openai."
    )
    voice_translate: Literal["speech", "llm", "off"] = Field(
        "speech", description="speech (Whisper translates the audio) | llm | off."
    )
    voice_stt_model_path: Path | None = Field(
        None, description="A CTranslate2 Whisper folder; empty: the bundled Whisper base."
    )
    voice_stt_beam_size: int = Field(5, ge=1, le=16)
    voice_stt_window_s: float = Field(
        10.0, ge=3, le=30, description="Shortest Whisper window for short speech; 30: standard."
    )
    voice_stt_threads: int = Field(0, ge=0, le=512, description="0: every core.")
    voice_stt_prompt: str | None = Field(
        None, max_length=500, description="Words Whisper should expect (names, jargon)."
    )
    voice_piper_model: Path | None = Field(
        None, description="A piper .onnx voice; empty: the bundled en_US voice."
    )
    voice_espeak_binary: str = Field("espeak-ng", min_length=1)
    voice_remote_url: str | None = Field(
        None, description="OpenAI-compatible audio server (…/v1) for the openai engines."
    )
    voice_remote_api_key: SecretStr | None = None
    voice_remote_stt_model: str = Field("whisper-1", min_length=1)
    voice_remote_tts_model: str = Field("tts-1", min_length=1)
    voice_remote_tts_voice: str = Field("alloy", min_length=1)
    voice_remote_tts_rate: int = Field(
        24_000, ge=8000, le=48000, description="Sample rate of the server's pcm (OpenAI: 24000)."
    )
    voice_max_audio_s: float = Field(60.0, gt=0, le=3600, description="Longer audio: 413.")
    voice_max_upload_bytes: int = Field(
        26_214_400, ge=1024, le=1_073_741_824, description="Body limit of audio uploads."
    )
    voice_output_rate: int = Field(22_050, ge=8000, le=48000)
    voice_stage_timeout_s: float = Field(
        30.0, gt=0, le=600, description="One engine call (or chunk) longer than this fails over."
    )
    voice_partial_interval_s: float = Field(
        1.0, ge=0, le=60, description="Partial transcripts while speaking; 0: off."
    )
    voice_vad_threshold: float = Field(0.5, gt=0, lt=1)
    voice_end_silence_s: float = Field(
        0.6, gt=0, le=10, description="Silence that ends an utterance on a stream."
    )

    @field_validator("extra_models", "voice_stt", "voice_tts", "redis_sentinels", mode="before")
    @classmethod
    def _split_models(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("redis_sentinels")
    @classmethod
    def _host_ports(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            host, sep, port = address.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError("must be host:port addresses separated by commas")
        return value

    @property
    def redis_sentinel_addresses(self) -> list[tuple[str, int]]:
        """``ALICE_REDIS_SENTINELS`` as (host, port) pairs."""
        pairs = (a.rpartition(":") for a in self.redis_sentinels)
        return [(host.strip("[]"), int(port)) for host, _, port in pairs]

    @field_validator(
        "database_url",
        "openai_api_key",
        "model_path",
        "log_file",
        "log_max_age_s",
        "otel_endpoint",
        "otel_headers",
        "encryption_keys",
        "encryption_key_file",
        "retention_days",
        "subject_key",
        "subject_key_file",
        "voice_stt_model_path",
        "voice_stt_prompt",
        "voice_piper_model",
        "voice_remote_url",
        "voice_remote_api_key",
        "redis_sentinel_password",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("otel_headers")
    @classmethod
    def _header_pairs(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            for pair in value.get_secret_value().split(","):
                name, sep, _ = pair.partition("=")
                if not sep or not name.strip():
                    raise ValueError("must be name=value pairs separated by commas")
        return value

    @property
    def otel_header_map(self) -> dict[str, str]:
        """``ALICE_OTEL_HEADERS`` as a mapping."""
        if self.otel_headers is None:
            return {}
        pairs = (p.partition("=") for p in self.otel_headers.get_secret_value().split(","))
        return {name.strip(): value.strip() for name, _, value in pairs}

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme = value.split(":", 1)[0]
        if not (scheme.startswith("sqlite") or scheme.startswith("postgres")):
            raise ValueError("must be a sqlite:// or postgresql:// URL")
        return value

    @field_validator("openai_base_url", "ollama_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.default_max_tokens > self.max_tokens_limit:
            raise ValueError(
                f"ALICE_DEFAULT_MAX_TOKENS ({self.default_max_tokens}) must not exceed "
                f"ALICE_MAX_TOKENS_LIMIT ({self.max_tokens_limit})"
            )
        if "openai" in (*self.voice_stt, *self.voice_tts) and not self.voice_remote_url:
            raise ValueError(
                "ALICE_VOICE_REMOTE_URL must be set when ALICE_VOICE_STT or ALICE_VOICE_TTS "
                "names the openai engine"
            )
        if not self.voice_stt or not self.voice_tts:
            raise ValueError("ALICE_VOICE_STT and ALICE_VOICE_TTS need at least one engine")
        return self

    # --- derived values ---------------------------------------------------------------
    @property
    def resolved_data_dir(self) -> Path:
        """Absolute data folder."""
        return self.data_dir.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL for the configured database, with the driver Alice uses."""
        url = self.database_url or f"sqlite:///{self.resolved_data_dir / 'alice.db'}"
        return _driver(url)

    @field_validator("bootstrap_admin_key")
    @classmethod
    def _key_shape(cls, value: SecretStr | None) -> SecretStr | None:
        from alice.security.keys import looks_like_key

        if value is not None and not looks_like_key(value.get_secret_value()):
            raise ValueError("an Alice key is 'alice_' and 40 letters or digits")
        return value

    @field_validator("encryption_keys")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        from alice.privacy.encryption import parse_keys

        if value is not None:
            try:
                parse_keys(value.get_secret_value(), source="ALICE_ENCRYPTION_KEYS")
            except ConfigurationError as exc:
                # The reason only: the message never carries the keys themselves.
                raise ValueError(str(exc).split(": ", 1)[-1]) from None
        return value

    @field_validator("subject_key")
    @classmethod
    def _subject_key(cls, value: SecretStr | None) -> SecretStr | None:
        from alice.privacy.subjects import parse_subject_key

        if value is not None:
            try:
                parse_subject_key(value.get_secret_value(), source="ALICE_SUBJECT_KEY")
            except ConfigurationError as exc:
                raise ValueError(str(exc).split(": ", 1)[-1]) from None
        return value

    @property
    def resolved_subject_key_file(self) -> Path:
        """The subject key file (used when ``ALICE_SUBJECT_KEY`` is not set)."""
        from alice.privacy.subjects import SUBJECT_KEY_FILE

        if self.subject_key_file is not None:
            return self.subject_key_file.expanduser().resolve()
        return self.resolved_data_dir / SUBJECT_KEY_FILE

    @property
    def resolved_key_file(self) -> Path:
        """The encryption key file (used when ``ALICE_ENCRYPTION_KEYS`` is not set)."""
        from alice.privacy.encryption import KEY_FILE_NAME

        if self.encryption_key_file is not None:
            return self.encryption_key_file.expanduser().resolve()
        return self.resolved_data_dir / KEY_FILE_NAME

    @property
    def public_paths(self) -> frozenset[str]:
        """Paths that answer without an API key."""
        paths = {"/health", "/ready"}
        if self.metrics_public:
            paths.add("/metrics")
        if self.docs_public:
            paths |= {"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
        return frozenset(paths)

    @property
    def models(self) -> tuple[str, ...]:
        """Model names the active provider serves, the default first."""
        return (self.model, *(m for m in self.extra_models if m != self.model))


def _driver(url: str) -> str:
    """Map database URLs onto the drivers Alice uses: stdlib sqlite3, asyncpg."""
    scheme, sep, rest = url.partition("://")
    if scheme in ("sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"):
        return f"sqlite://{rest}"
    if scheme in ("postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"):
        return f"postgresql+asyncpg://{rest}"
    return f"{scheme}{sep}{rest}"


def load_settings(**overrides: Any) -> Settings:
    """Build and validate `Settings` from the environment plus explicit overrides.

    Raises:
        ConfigurationError: naming the first invalid setting and what it accepts.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigurationError(_describe(exc)) from exc
    except SettingsError as exc:
        # Raised before validation when a JSON-valued variable does not parse.
        field = _SETTINGS_FIELD.search(str(exc))
        name = _ENV_PREFIX + field.group(1).upper() if field else "ALICE_*"
        raise ConfigurationError(f"invalid setting {name}: not valid JSON") from exc


def _describe(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    loc = [str(part) for part in err.get("loc", ()) if part != "__root__"]
    message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    if not loc:
        return f"invalid settings: {message}"
    # Nested groups (ALICE_GUARDIAN__RAM_BROWNOUT_ENTER_PCT) join their parts with "__";
    # list items (ALICE_BACKENDS) are named by the variable that holds the list.
    named = [part for part in loc if not part.isdigit()][:2]
    env_name = _ENV_PREFIX + "__".join(part.upper() for part in named)
    raw = os.environ.get(env_name)
    shown = f"={raw!r}" if raw is not None and "key" not in loc[-1] else ""
    return f"invalid setting {env_name}{shown}: {message}"
