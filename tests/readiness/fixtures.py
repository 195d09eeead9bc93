"""Four small repositories for the accuracy tests: a toy chatbot, a medium service, a
mature one, and one full of traps. Each is a dict of relative path -> file text.

They are written to be judged by a reader: each file says in a comment what it is
meant to show, and `test_accuracy.py` states the findings a careful reviewer would
record for each repository.
"""

from __future__ import annotations

__all__ = ["MATURE", "MEDIUM", "TOY", "TRAPS"]

# A real-looking OpenAI key (random, not a real credential): the toy leaks it.
LEAKED_KEY = "sk-proj-" + "Q7v2Lm9XpR4tY8wZk3Nc6Bf1Hs5Dg0Jq"

TOY: dict[str, str] = {
    "README.md": """
        # chatbot

        A bot.
    """,
    "requirements.txt": """
        flask
        openai
    """,
    "app.py": f'''
        """A chatbot: one route, one provider, the key in the code."""

        from flask import Flask, request
        from openai import OpenAI

        OPENAI_API_KEY = "{LEAKED_KEY}"
        app = Flask(__name__)
        client = OpenAI(api_key=OPENAI_API_KEY)


        @app.route("/chat", methods=["POST"])
        def chat():
            question = request.json["q"]
            reply = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{{"role": "user", "content": question}}]
            )
            return {{"answer": reply.choices[0].message.content}}


        if __name__ == "__main__":
            app.run(debug=True)
    ''',
}

_MEDIUM_APP = '''
    """The service: FastAPI, two providers with a fallback, API keys, metrics, JSON logs."""

    from __future__ import annotations

    import os

    import structlog
    from fastapi import Depends, FastAPI, Header, HTTPException
    from fastapi.responses import StreamingResponse
    from prometheus_client import Counter, make_asgi_app

    from service.llm import answer, stream_answer

    log = structlog.get_logger()
    structlog.configure(processors=[structlog.processors.JSONRenderer()])
    REQUESTS = Counter("chat_requests_total", "Chat requests")
    API_KEYS = frozenset(os.environ.get("SERVICE_API_KEYS", "").split(","))

    app = FastAPI()
    app.mount("/metrics", make_asgi_app())


    def require_key(x_api_key: str = Header(...)) -> str:
        if x_api_key not in API_KEYS:
            raise HTTPException(status_code=401, detail="bad key")
        return x_api_key


    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}


    @app.get("/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ok"}


    @app.post("/chat", dependencies=[Depends(require_key)])
    async def chat(body: dict[str, str]) -> dict[str, str]:
        REQUESTS.inc()
        log.info("chat", size=len(body["q"]))
        return {"answer": await answer(body["q"])}


    @app.post("/chat/stream", dependencies=[Depends(require_key)])
    async def chat_stream(body: dict[str, str]) -> StreamingResponse:
        REQUESTS.inc()
        return StreamingResponse(stream_answer(body["q"]), media_type="text/event-stream")
'''

_MEDIUM_LLM = '''
    """Two providers, tried in order, each call with a timeout and retries."""

    from __future__ import annotations

    import os
    from collections.abc import AsyncIterator

    import anthropic
    import openai
    from tenacity import retry, stop_after_attempt, wait_exponential

    openai_client = openai.AsyncOpenAI(api_key=os.environ["OPENAI_API_KEY"], timeout=20.0)
    claude = anthropic.AsyncAnthropic(api_key=os.environ["ANTHROPIC_API_KEY"], timeout=20.0)


    @retry(stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.2))
    async def _openai(question: str) -> str:
        reply = await openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
        )
        return reply.choices[0].message.content or ""


    @retry(stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.2))
    async def _claude(question: str) -> str:
        reply = await claude.messages.create(
            model="claude-3-5-haiku-latest",
            max_tokens=512,
            messages=[{"role": "user", "content": question}],
        )
        return reply.content[0].text


    PROVIDERS = (_openai, _claude)


    async def answer(question: str) -> str:
        """The first provider that answers."""
        last: Exception | None = None
        for provider in PROVIDERS:
            try:
                return await provider(question)
            except Exception as exc:  # fall back to the next provider
                last = exc
                continue
        raise RuntimeError("every provider failed") from last


    async def stream_answer(question: str) -> AsyncIterator[str]:
        """Stream from the first provider."""
        stream = await openai_client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": question}],
            stream=True,
        )
        async for chunk in stream:
            yield f"data: {chunk.choices[0].delta.content or ''}\\n\\n"
'''

_MEDIUM_TESTS = '''
    """Tests of the service."""

    import pytest
    from fastapi.testclient import TestClient

    from service import llm
    from service.app import app

    client = TestClient(app)


    def test_health():
        assert client.get("/health").status_code == 200


    def test_ready():
        assert client.get("/ready").status_code == 200


    def test_chat_needs_a_key():
        assert client.post("/chat", json={"q": "hi"}).status_code == 401


    def test_bad_key_is_rejected():
        response = client.post("/chat", json={"q": "hi"}, headers={"x-api-key": "nope"})
        assert response.status_code == 401


    async def test_fallback_to_second_provider(monkeypatch):
        async def broken(question):
            raise TimeoutError("first provider down")

        async def works(question):
            return "from claude"

        monkeypatch.setattr(llm, "PROVIDERS", (broken, works))
        assert await llm.answer("hi") == "from claude"


    async def test_every_provider_failing_raises(monkeypatch):
        async def broken(question):
            raise TimeoutError("down")

        monkeypatch.setattr(llm, "PROVIDERS", (broken, broken))
        with pytest.raises(RuntimeError):
            await llm.answer("hi")
'''

MEDIUM: dict[str, str] = {
    "README.md": """
        # service

        An LLM chat service with two providers.

        ## Install

        ```
        pip install -e .
        ```

        ## Run

        ```
        uvicorn service.app:app
        ```

        ## Usage

        `POST /chat` with `{"q": "..."}` and an `x-api-key` header.

        ## Configuration

        | variable | meaning |
        |---|---|
        | `OPENAI_API_KEY` | the OpenAI key |
        | `ANTHROPIC_API_KEY` | the Anthropic key |
        | `SERVICE_API_KEYS` | comma-separated client keys |
    """,
    "docs/api.md": """
        # API

        ## POST /chat

        Body `{"q": "question"}`, header `x-api-key`. Answers `{"answer": "..."}`.

        ## POST /chat/stream

        The same, streamed as Server-Sent Events.

        ## GET /health, GET /ready

        Liveness and readiness.
    """,
    "pyproject.toml": """
        [project]
        name = "service"
        version = "1.2.0"
        dependencies = [
            "fastapi",
            "uvicorn",
            "openai",
            "anthropic",
            "tenacity",
            "structlog",
            "prometheus-client",
        ]

        [project.optional-dependencies]
        dev = ["pytest", "pytest-asyncio", "httpx"]
    """,
    "src/service/__init__.py": '"""The service."""\n',
    "src/service/app.py": _MEDIUM_APP,
    "src/service/llm.py": _MEDIUM_LLM,
    "tests/test_app.py": _MEDIUM_TESTS,
    "Dockerfile": """
        FROM python:3.11-slim
        WORKDIR /app
        COPY . .
        RUN pip install --no-cache-dir .
        RUN useradd --create-home app
        USER app
        EXPOSE 8000
        HEALTHCHECK --interval=30s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health')"
        CMD ["uvicorn", "service.app:app", "--host", "0.0.0.0"]
    """,
    ".github/workflows/ci.yml": """
        name: ci
        on:
          push:
          pull_request:
        jobs:
          test:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
              - uses: actions/setup-python@v5
                with:
                  python-version: "3.11"
              - run: pip install -e '.[dev]'
              - run: pytest -q
    """,
}

_MATURE_BREAKER = '''
    """A circuit breaker around every provider call."""

    from __future__ import annotations

    import time
    from collections.abc import Awaitable, Callable
    from typing import Any


    class CircuitOpenError(RuntimeError):
        """The provider failed too often; calls are refused until the reset time."""


    class CircuitBreaker:
        """Opens after ``failures`` consecutive errors, half-opens after ``reset_s``."""

        def __init__(self, failures: int = 5, reset_s: float = 30.0) -> None:
            self.failures = failures
            self.reset_s = reset_s
            self.errors = 0
            self.opened_at = 0.0

        async def call(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
            if self.errors >= self.failures:
                if time.monotonic() - self.opened_at < self.reset_s:
                    raise CircuitOpenError("open")
            try:
                result = await fn(*args)
            except Exception:
                self.errors += 1
                self.opened_at = time.monotonic()
                raise
            self.errors = 0
            return result
'''

_MATURE_CACHE = '''
    """A response cache in Redis (shared by every replica)."""

    from __future__ import annotations

    import hashlib
    import os

    import redis.asyncio as redis

    _redis = redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"))


    def _key(tenant_id: str, question: str) -> str:
        digest = hashlib.sha256(question.encode()).hexdigest()
        return f"answer:{tenant_id}:{digest}"


    async def cached_answer(tenant_id: str, question: str) -> str | None:
        value = await _redis.get(_key(tenant_id, question))
        return value.decode() if value is not None else None


    async def store_answer(tenant_id: str, question: str, answer: str) -> None:
        await _redis.set(_key(tenant_id, question), answer, ex=3600)
'''

_MATURE_PRIVACY = '''
    """PII masking before the model sees a question."""

    from __future__ import annotations

    from presidio_analyzer import AnalyzerEngine
    from presidio_anonymizer import AnonymizerEngine

    _analyzer = AnalyzerEngine()
    _anonymizer = AnonymizerEngine()


    def mask_pii(text: str) -> str:
        findings = _analyzer.analyze(text=text, language="en")
        return _anonymizer.anonymize(text=text, analyzer_results=findings).text
'''

_MATURE_STORE = '''
    """Conversations, per tenant, with retention."""

    from __future__ import annotations

    import datetime as dt

    from sqlalchemy import DateTime, String, delete, select
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


    class Base(DeclarativeBase):
        pass


    class Conversation(Base):
        __tablename__ = "conversations"
        id: Mapped[str] = mapped_column(String, primary_key=True)
        tenant_id: Mapped[str] = mapped_column(String, index=True)
        text: Mapped[str] = mapped_column(String)
        created_at: Mapped[dt.datetime] = mapped_column(DateTime)


    async def conversations_of(session: AsyncSession, tenant_id: str) -> list[Conversation]:
        rows = await session.scalars(
            select(Conversation).where(Conversation.tenant_id == tenant_id)
        )
        return list(rows)


    async def forget(session: AsyncSession, tenant_id: str, conversation_id: str) -> None:
        await session.execute(
            delete(Conversation).where(
                Conversation.tenant_id == tenant_id, Conversation.id == conversation_id
            )
        )


    async def apply_retention(session: AsyncSession, days: int) -> None:
        """Delete conversations older than the retention period."""
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
        await session.execute(delete(Conversation).where(Conversation.created_at < cutoff))
'''

_MATURE_APP = '''
    """The service: auth per tenant, rate limits, tracing, metrics, cache, PII masking."""

    from __future__ import annotations

    import os

    import structlog
    from fastapi import Depends, FastAPI, Header, HTTPException, Request
    from fastapi.responses import StreamingResponse
    from opentelemetry import trace
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from prometheus_client import Counter, make_asgi_app
    from slowapi import Limiter
    from slowapi.util import get_remote_address

    from service.cache import cached_answer, store_answer
    from service.llm import answer, stream_answer
    from service.privacy import mask_pii
    from service.store import forget

    def add_trace_id(logger, method, event):
        span = trace.get_current_span()
        event["trace_id"] = format(span.get_span_context().trace_id, "032x")
        return event


    structlog.configure(processors=[add_trace_id, structlog.processors.JSONRenderer()])
    log = structlog.get_logger()
    REQUESTS = Counter("chat_requests_total", "Chat requests")
    TENANT_KEYS = dict(
        item.split(":", 1) for item in os.environ.get("TENANT_KEYS", "").split(",") if item
    )

    app = FastAPI()
    limiter = Limiter(key_func=get_remote_address)
    app.state.limiter = limiter
    app.mount("/metrics", make_asgi_app())
    FastAPIInstrumentor.instrument_app(app)


    def tenant(x_api_key: str = Header(...)) -> str:
        tenant_id = TENANT_KEYS.get(x_api_key)
        if tenant_id is None:
            raise HTTPException(status_code=401, detail="bad key")
        return tenant_id


    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}


    @app.get("/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ok"}


    @app.post("/chat")
    @limiter.limit("30/minute")
    async def chat(request: Request, body: dict[str, str], tenant_id: str = Depends(tenant)):
        REQUESTS.inc()
        question = mask_pii(body["q"])
        hit = await cached_answer(tenant_id, question)
        if hit is not None:
            return {"answer": hit, "cached": True}
        text = await answer(question)
        await store_answer(tenant_id, question, text)
        log.info("chat", tenant=tenant_id)
        return {"answer": text}


    @app.post("/chat/stream")
    @limiter.limit("30/minute")
    async def chat_stream(request: Request, body: dict[str, str], tenant_id: str = Depends(tenant)):
        return StreamingResponse(
            stream_answer(mask_pii(body["q"])), media_type="text/event-stream"
        )


    @app.delete("/conversations/{conversation_id}")
    async def delete_conversation(conversation_id: str, tenant_id: str = Depends(tenant)):
        await forget(None, tenant_id, conversation_id)
        return {"deleted": conversation_id}
'''

_MATURE_LLM = _MEDIUM_LLM.replace(
    '''    async def answer(question: str) -> str:
        """The first provider that answers."""
        last: Exception | None = None
        for provider in PROVIDERS:
            try:
                return await provider(question)''',
    '''    BREAKERS = {provider: CircuitBreaker() for provider in PROVIDERS}


    async def answer(question: str) -> str:
        """The first provider that answers (a provider whose breaker is open is skipped)."""
        last: Exception | None = None
        for provider in PROVIDERS:
            try:
                return await BREAKERS[provider].call(provider, question)''',
).replace(
    "from tenacity import retry, stop_after_attempt, wait_exponential\n",
    "from tenacity import retry, stop_after_attempt, wait_exponential\n\n"
    "    from service.breaker import CircuitBreaker\n",
)

MATURE: dict[str, str] = {
    **MEDIUM,
    "pyproject.toml": """
        [project]
        name = "service"
        version = "2.4.0"
        dependencies = [
            "fastapi",
            "uvicorn",
            "openai",
            "anthropic",
            "tenacity",
            "structlog",
            "prometheus-client",
            "opentelemetry-sdk",
            "opentelemetry-instrumentation-fastapi",
            "redis",
            "slowapi",
            "sqlalchemy",
            "presidio-analyzer",
            "presidio-anonymizer",
        ]

        [project.optional-dependencies]
        dev = ["pytest", "pytest-asyncio", "httpx", "locust"]
    """,
    "src/service/app.py": _MATURE_APP,
    "src/service/llm.py": _MATURE_LLM,
    "src/service/breaker.py": _MATURE_BREAKER,
    "src/service/cache.py": _MATURE_CACHE,
    "src/service/privacy.py": _MATURE_PRIVACY,
    "src/service/store.py": _MATURE_STORE,
    "tests/test_breaker.py": """
        import pytest

        from service.breaker import CircuitBreaker, CircuitOpenError


        async def test_breaker_opens_after_failures():
            breaker = CircuitBreaker(failures=2, reset_s=60)

            async def fail():
                raise TimeoutError("upstream timeout")

            for _ in range(2):
                with pytest.raises(TimeoutError):
                    await breaker.call(fail)
            with pytest.raises(CircuitOpenError):
                await breaker.call(fail)


        async def test_breaker_closes_after_success():
            breaker = CircuitBreaker(failures=1, reset_s=0)

            async def ok():
                return 1

            assert await breaker.call(ok) == 1
            assert breaker.errors == 0
    """,
    "tests/test_privacy.py": """
        from service.privacy import mask_pii


        def test_email_is_masked():
            assert "ada@example.com" not in mask_pii("mail ada@example.com")
    """,
    "loadtest/locustfile.py": '''
        """Load test: the chat endpoint at a steady rate."""

        from locust import HttpUser, between, task


        class ChatUser(HttpUser):
            wait_time = between(0.5, 1.5)

            @task
            def chat(self):
                self.client.post("/chat", json={"q": "hello"}, headers={"x-api-key": "load"})
    ''',
    "Makefile": """
        test:
        \tpytest -q

        loadtest:
        \tlocust -f loadtest/locustfile.py --headless -u 50 -r 5 -t 5m --host http://127.0.0.1:8000
    """,
    ".env.example": """
        # Provider keys
        OPENAI_API_KEY=
        ANTHROPIC_API_KEY=
        # tenant-key pairs: key:tenant,key:tenant
        TENANT_KEYS=
        REDIS_URL=redis://localhost:6379/0
    """,
    "deploy/k8s/deployment.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: service
        spec:
          replicas: 3
          selector:
            matchLabels:
              app: service
          template:
            metadata:
              labels:
                app: service
            spec:
              securityContext:
                runAsNonRoot: true
              containers:
                - name: service
                  image: registry.example.com/service:2.4.0
                  ports:
                    - containerPort: 8000
                  livenessProbe:
                    httpGet:
                      path: /health
                      port: 8000
                  readinessProbe:
                    httpGet:
                      path: /ready
                      port: 8000
                  resources:
                    requests:
                      cpu: 500m
                      memory: 512Mi
                    limits:
                      memory: 1Gi
        ---
        apiVersion: autoscaling/v2
        kind: HorizontalPodAutoscaler
        metadata:
          name: service
        spec:
          scaleTargetRef:
            apiVersion: apps/v1
            kind: Deployment
            name: service
          minReplicas: 3
          maxReplicas: 12
          metrics:
            - type: Resource
              resource:
                name: cpu
                target:
                  type: Utilization
                  averageUtilization: 70
    """,
    "deploy/prometheus/alerts.yml": """
        groups:
          - name: service
            rules:
              - alert: ServiceDown
                expr: up{job="service"} == 0
                for: 2m
                labels:
                  severity: critical
                annotations:
                  summary: The service is down
                  runbook_url: https://example.com/docs/runbook.md#servicedown
              - alert: HighErrorRate
                expr: rate(chat_requests_total{status=~"5.."}[5m]) > 0.05
                for: 10m
                labels:
                  severity: warning
                annotations:
                  summary: More than 5% errors
                  runbook_url: https://example.com/docs/runbook.md#higherrorrate
    """,
    "deploy/grafana/service.json": """
        {
          "title": "Service",
          "panels": [
            {"type": "timeseries", "title": "Requests/s",
             "targets": [{"expr": "rate(chat_requests_total[5m])"}]},
            {"type": "timeseries", "title": "Errors",
             "targets": [{"expr": "rate(chat_requests_total{status=~\\"5..\\"}[5m])"}]}
          ]
        }
    """,
    "docs/architecture.md": """
        # Architecture

        Clients call the FastAPI service; it masks PII, checks the Redis cache, then asks
        OpenAI with a fallback to Anthropic, each behind a circuit breaker. Conversations
        are stored per tenant in PostgreSQL. Three replicas run behind the ingress.

        ## Components

        - `service.app`: HTTP API, authentication, rate limits
        - `service.llm`: providers, fallback, retries, circuit breakers
        - `service.cache`: response cache (Redis)
        - `service.store`: conversations, retention
    """,
    "docs/runbook.md": """
        # Runbook

        ## ServiceDown

        1. `kubectl get pods -l app=service`; look at the events of any pod not Ready.
        2. Check the last deploy; roll back with `kubectl rollout undo deployment/service`.

        ## HighErrorRate

        1. Open the Service dashboard; find which provider fails.
        2. If one provider is down, its circuit breaker sheds it; confirm the fallback answers.
    """,
    "docs/troubleshooting.md": """
        # Troubleshooting

        ## Every request answers 401

        The client key is not in `TENANT_KEYS`; add `key:tenant` and restart.

        ## Answers are slow

        Check the provider latency panel; the cache hit rate should be above 20%.
    """,
    "docs/capacity.md": """
        # Capacity and cost

        Measured with `make loadtest` (50 users, 5 minutes) on 3 replicas of 1 CPU:
        120 requests/s at p95 850 ms, p99 1.4 s; one replica handles 40 requests/s.

        Cost per user: about $0.04 per active user per month (1,200 tokens per day at
        gpt-4o-mini prices, 30% cache hits), plus $0.002 per request of infrastructure.
    """,
    "docs/deployment.md": """
        # Deployment

        ## Rollout

        `kubectl apply -f deploy/k8s/`; the Deployment rolls pods one at a time.

        ## Rollback

        `kubectl rollout undo deployment/service` returns to the previous ReplicaSet;
        database migrations are backward compatible for one release.

        ## Backup and restore

        PostgreSQL is backed up nightly with `pg_dump` to object storage (kept 30 days);
        restore with `pg_restore --clean -d service backup.dump`. Restores are tested
        monthly.
    """,
    ".github/workflows/ci.yml": """
        name: ci
        on:
          push:
          pull_request:
        jobs:
          test:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
              - uses: actions/setup-python@v5
                with:
                  python-version: "3.11"
              - run: pip install -e '.[dev]'
              - run: make test
    """,
}

TRAPS: dict[str, str] = {
    "README.md": """
        # resilient-bot

        Production grade: circuit breakers, retries with backoff, rate limiting, PII
        masking, Kubernetes autoscaling, Grafana dashboards and alerts.

        ## Install

        `pip install .`

        ## Run

        `uvicorn trap.app:app`
    """,
    "pyproject.toml": """
        [project]
        name = "trap"
        version = "0.1.0"
        dependencies = ["fastapi", "httpx", "tenacity"]
    """,
    "src/trap/__init__.py": '"""A bot that looks resilient."""\n',
    # A breaker in name only: every method is a stub.
    "src/trap/breaker.py": '''
        """Circuit breaker."""


        class CircuitBreaker:
            """A circuit breaker."""

            def __init__(self, failures: int = 5) -> None:
                self.failures = failures

            def call(self, fn, *args):
                raise NotImplementedError

            def record_failure(self) -> None:
                pass
    ''',
    # A real breaker that nothing calls.
    "src/trap/resilience.py": '''
        """A second breaker, never used."""

        import time


        class RetryingBreaker:
            def __init__(self, failures: int = 3) -> None:
                self.failures = failures
                self.errors = 0
                self.opened = 0.0

            def call(self, fn, *args):
                if self.errors >= self.failures and time.monotonic() - self.opened < 30:
                    raise RuntimeError("open")
                try:
                    return fn(*args)
                except Exception:
                    self.errors += 1
                    self.opened = time.monotonic()
                    raise
    ''',
    "src/trap/app.py": '''
        """The app: one health route at /health."""

        import httpx
        from fastapi import FastAPI

        from trap.breaker import CircuitBreaker

        app = FastAPI()
        breaker = CircuitBreaker()


        @app.get("/health")
        async def health():
            return {"status": "ok"}


        @app.post("/chat")
        async def chat(body: dict):
            async with httpx.AsyncClient() as client:
                reply = breaker.call(client.post, "http://llm:8080/v1/chat/completions", json=body)
            return reply.json()
    ''',
    # Placeholders in test fixtures are not leaks.
    "tests/fixtures/settings.py": """
        API_KEY = "your-api-key-here"
        DB_PASSWORD = "changeme123"
        OPENAI_API_KEY = "sk-xxxxxxxxxxxxxxxxxxxxxxxx"
    """,
    "tests/test_app.py": """
        from fastapi.testclient import TestClient

        from trap.app import app


        def test_health():
            assert TestClient(app).get("/health").status_code == 200
    """,
    # The health check probes a path the app does not serve; USER 0 is root.
    "Dockerfile": """
        FROM python:3.11-slim
        COPY . /app
        RUN pip install /app
        USER 0
        HEALTHCHECK CMD curl -f http://localhost:8000/healthz || exit 1
        CMD ["uvicorn", "trap.app:app", "--host", "0.0.0.0"]
    """,
    # CI that lints but never runs the tests.
    ".github/workflows/lint.yml": """
        name: lint
        on: [push, pull_request]
        jobs:
          lint:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
              - run: pip install ruff
              - run: ruff check .
    """,
}
