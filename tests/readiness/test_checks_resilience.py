"""Resilience checks: circuit breakers, health and readiness endpoints, failover,
graceful degradation."""

from __future__ import annotations

from readiness.model import Outcome

from .conftest import MakeRepo, check_outcome


def locations(outcome: Outcome) -> list[str]:
    return [e.location for e in outcome.evidence]


BREAKER = '''
import time


class CircuitBreaker:
    """Opens after five failures in a row; half-open after the cooldown."""

    def __init__(self, threshold: int = 5, cooldown_s: float = 30.0) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.failures = 0
        self.opened_at = 0.0

    def allow(self) -> bool:
        if self.failures < self.threshold:
            return True
        return time.monotonic() - self.opened_at > self.cooldown_s

    def record(self, ok: bool) -> None:
        self.failures = 0 if ok else self.failures + 1
        if self.failures == self.threshold:
            self.opened_at = time.monotonic()
'''

USES_BREAKER = """
from svc.breaker import CircuitBreaker

breaker = CircuitBreaker()


def call(backend):
    if not breaker.allow():
        raise RuntimeError("open")
    try:
        result = backend()
    except Exception:
        breaker.record(False)
        raise
    breaker.record(True)
    return result
"""

STUB_BREAKER = '''
class CircuitBreaker:
    """To do."""

    def allow(self) -> bool:
        raise NotImplementedError

    def record(self, ok: bool) -> None:
        pass
'''


# --- resilience.circuit-breaker ------------------------------------------------------------
def test_own_breaker_wired_passes(make_repo: MakeRepo) -> None:
    root = make_repo({"svc/breaker.py": BREAKER, "svc/client.py": USES_BREAKER})
    outcome = check_outcome("resilience.circuit-breaker", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert locations(outcome) == ["svc/breaker.py:4"]
    assert outcome.evidence[0].strength == "wired"


def test_stub_breaker_fails_even_when_used(make_repo: MakeRepo) -> None:
    root = make_repo({"svc/breaker.py": STUB_BREAKER, "svc/client.py": USES_BREAKER})
    outcome = check_outcome("resilience.circuit-breaker", root)
    assert (outcome.status, outcome.score) == ("fail", 0)
    assert locations(outcome) == ["svc/breaker.py:1"]
    assert "is a stub" in outcome.evidence[0].note
    assert outcome.summary == "the circuit breaker is a stub: it does nothing"


def test_breaker_defined_but_never_used_fails(make_repo: MakeRepo) -> None:
    root = make_repo({"svc/breaker.py": BREAKER, "svc/client.py": "def call(b):\n    return b()\n"})
    outcome = check_outcome("resilience.circuit-breaker", root)
    assert (outcome.status, outcome.score) == ("fail", 15)
    assert locations(outcome) == ["svc/breaker.py:4"]
    assert "never called" in outcome.evidence[0].note


def test_breaker_used_only_by_tests_is_not_wired(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "svc/breaker.py": BREAKER,
            "tests/test_breaker.py": USES_BREAKER.replace("def call", "def test_call"),
        }
    )
    outcome = check_outcome("resilience.circuit-breaker", root)
    assert (outcome.status, outcome.score) == ("fail", 15)


def test_breaker_only_named_in_a_type_hint_is_not_wired(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "svc/breaker.py": BREAKER,
            "svc/client.py": """
                from svc.breaker import CircuitBreaker

                def call(backend, breaker: CircuitBreaker | None = None):
                    return backend()
            """,
        }
    )
    outcome = check_outcome("resilience.circuit-breaker", root)
    assert (outcome.status, outcome.score) == ("fail", 15)


def test_library_only_declared_warns(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "svc/app.py": "def main():\n    return 1\n",
            "pyproject.toml": '[project]\nname = "svc"\ndependencies = [\n    "pybreaker>=1",\n]\n',
        }
    )
    outcome = check_outcome("resilience.circuit-breaker", root)
    assert (outcome.status, outcome.score) == ("warn", 45)
    assert locations(outcome) == ["pyproject.toml:4"]
    assert outcome.evidence[0].strength == "dependency"


def test_library_breaker_used_passes(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "svc/app.py": """
                import pybreaker

                db_breaker = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60)

                @db_breaker
                def query():
                    return 1
            """
        }
    )
    outcome = check_outcome("resilience.circuit-breaker", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert locations(outcome) == ["svc/app.py:3"]


def test_breaker_config_and_error_classes_are_not_breakers(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "svc/app.py": """
                from dataclasses import dataclass

                @dataclass
                class BreakerConfig:
                    threshold: int = 5

                class CircuitOpenError(Exception):
                    pass

                def check_circuit_breaker(config: BreakerConfig) -> bool:
                    return config.threshold > 0

                ok = check_circuit_breaker(BreakerConfig())
            """
        }
    )
    outcome = check_outcome("resilience.circuit-breaker", root)
    assert (outcome.status, outcome.score) == ("fail", 0)
    assert outcome.evidence == ()


# --- resilience.health-endpoint ---------------------------------------------------------------
HEALTH_APP = """
from fastapi import FastAPI

from svc.db import database

app = FastAPI()


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/readyz")
async def readyz() -> dict[str, str]:
    await database.execute("SELECT 1")
    return {"status": "ready"}
"""


def test_health_route_passes(make_repo: MakeRepo) -> None:
    outcome = check_outcome("resilience.health-endpoint", make_repo({"svc/app.py": HEALTH_APP}))
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert locations(outcome) == ["svc/app.py:8"]


def test_service_without_health_route_fails(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app.py": """
                from flask import Flask

                app = Flask(__name__)

                @app.route("/chat", methods=["POST"])
                def chat():
                    return {}
            """,
            "bench/sink.py": """
                from fastapi import FastAPI

                app = FastAPI()

                @app.get("/health")
                def health():
                    return {}
            """,
        }
    )
    outcome = check_outcome("resilience.health-endpoint", root)
    assert (outcome.status, outcome.score) == ("fail", 0)


def test_only_readiness_route_warns(make_repo: MakeRepo) -> None:
    source = HEALTH_APP.replace('"/healthz"', '"/chat"')
    outcome = check_outcome("resilience.health-endpoint", make_repo({"svc/app.py": source}))
    assert (outcome.status, outcome.score) == ("warn", 60)
    assert locations(outcome) == ["svc/app.py:13"]


def test_health_route_registered_by_a_call_counts(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "svc/app.py": """
                from aiohttp import web

                async def health(request):
                    return web.Response(text="ok")

                app = web.Application()
                app.router.add_get("/health", health)
            """
        }
    )
    outcome = check_outcome("resilience.health-endpoint", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert locations(outcome) == ["svc/app.py:7"]


def test_not_a_web_service_is_unknown(make_repo: MakeRepo) -> None:
    outcome = check_outcome("resilience.health-endpoint", make_repo({"lib.py": "X = 1\n"}))
    assert outcome.status == "unknown"


# --- resilience.readiness-endpoint ------------------------------------------------------------
def test_readiness_that_checks_the_database_passes(make_repo: MakeRepo) -> None:
    outcome = check_outcome("resilience.readiness-endpoint", make_repo({"svc/app.py": HEALTH_APP}))
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert locations(outcome) == ["svc/app.py:13"]
    assert outcome.evidence[0].note == "GET /readyz: checks database.execute"


def test_readiness_through_a_helper_in_the_module_passes(make_repo: MakeRepo) -> None:
    source = (
        HEALTH_APP.replace(
            '    await database.execute("SELECT 1")\n',
            "    await _deps_ok()\n",
        )
        + '\n\nasync def _deps_ok():\n    await database.execute("SELECT 1")\n'
    )
    outcome = check_outcome("resilience.readiness-endpoint", make_repo({"svc/app.py": source}))
    assert (outcome.status, outcome.score) == ("pass", 100)


def test_constant_readiness_warns(make_repo: MakeRepo) -> None:
    source = HEALTH_APP.replace('    await database.execute("SELECT 1")\n', "")
    outcome = check_outcome("resilience.readiness-endpoint", make_repo({"svc/app.py": source}))
    assert (outcome.status, outcome.score) == ("warn", 50)
    assert outcome.evidence[0].note == "GET /readyz: returns without checking any dependency"


def test_deep_health_without_readiness_warns(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "svc/app.py": """
                from fastapi import FastAPI

                from svc.db import pool

                app = FastAPI()

                @app.get("/health")
                async def health():
                    await pool.fetchval("SELECT 1")
                    return {"ok": True}
            """
        }
    )
    outcome = check_outcome("resilience.readiness-endpoint", root)
    assert (outcome.status, outcome.score) == ("warn", 60)
    assert locations(outcome) == ["svc/app.py:7"]


def test_readiness_with_unknown_handler_warns(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "svc/app.py": """
                from fastapi import FastAPI

                from svc.probes import ready

                app = FastAPI()
                app.add_api_route("/ready", ready)
            """
        }
    )
    outcome = check_outcome("resilience.readiness-endpoint", root)
    assert (outcome.status, outcome.score) == ("warn", 70)


def test_no_readiness_fails(make_repo: MakeRepo) -> None:
    source = HEALTH_APP.replace('"/readyz"', '"/chat"').replace(
        '    await database.execute("SELECT 1")\n', ""
    )
    outcome = check_outcome("resilience.readiness-endpoint", make_repo({"svc/app.py": source}))
    assert (outcome.status, outcome.score) == ("fail", 0)


# --- resilience.failover ----------------------------------------------------------------------
def test_redis_sentinel_passes(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "svc/store.py": """
                from redis.sentinel import Sentinel

                sentinel = Sentinel([("s1", 26379), ("s2", 26379)], socket_timeout=0.5)
                master = sentinel.master_for("cache")
            """
        }
    )
    outcome = check_outcome("resilience.failover", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert locations(outcome) == ["svc/store.py:3"]


UPSTREAMS = """
import httpx

UPSTREAM_URLS = ("http://a:8080", "http://b:8080")


def fetch(path: str) -> bytes:
    for url in UPSTREAM_URLS:
        try:
            return httpx.get(url + path, timeout=5).content
        except httpx.HTTPError:
            continue
    raise RuntimeError("every upstream failed")
"""


def test_upstream_loop_wired_passes(make_repo: MakeRepo) -> None:
    root = make_repo(
        {"svc/up.py": UPSTREAMS, "svc/app.py": "from svc.up import fetch\n\nDATA = fetch('/x')\n"}
    )
    outcome = check_outcome("resilience.failover", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert locations(outcome) == ["svc/up.py:7"]


def test_upstream_loop_never_called_warns(make_repo: MakeRepo) -> None:
    outcome = check_outcome("resilience.failover", make_repo({"svc/up.py": UPSTREAMS}))
    assert (outcome.status, outcome.score) == ("warn", 45)


def test_single_target_fails(make_repo: MakeRepo) -> None:
    root = make_repo({"svc/store.py": "import redis\n\nr = redis.Redis(host='cache')\n"})
    outcome = check_outcome("resilience.failover", root)
    assert (outcome.status, outcome.score) == ("fail", 0)


# --- resilience.graceful-degradation ----------------------------------------------------------
SHEDDING = """
import asyncio

from fastapi import FastAPI
from fastapi.responses import JSONResponse

app = FastAPI()
slots = asyncio.Semaphore(8)


@app.post("/chat")
async def chat(body: dict):
    if slots.locked():
        return JSONResponse({"error": "busy"}, status_code=503, headers={"Retry-After": "2"})
    async with slots:
        return {"answer": "..."}
"""


def test_bounded_concurrency_and_shedding_pass(make_repo: MakeRepo) -> None:
    outcome = check_outcome("resilience.graceful-degradation", make_repo({"app.py": SHEDDING}))
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert locations(outcome) == ["app.py:7", "app.py:13"]
    assert outcome.gaps == ("no degraded/offline mode",)


def test_one_mechanism_warns(make_repo: MakeRepo) -> None:
    source = SHEDDING.replace(', headers={"Retry-After": "2"}', "")
    outcome = check_outcome("resilience.graceful-degradation", make_repo({"app.py": source}))
    assert (outcome.status, outcome.score) == ("warn", 60)
    assert locations(outcome) == ["app.py:7"]


def test_unbounded_queue_and_stub_offline_mode_do_not_count(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app.py": """
                import asyncio

                jobs = asyncio.Queue()

                class OfflineMode:
                    def answer(self, question):
                        raise NotImplementedError

                mode = OfflineMode()
            """
        }
    )
    outcome = check_outcome("resilience.graceful-degradation", root)
    assert (outcome.status, outcome.score) == ("fail", 0)


def test_degraded_mode_and_bounded_queue_pass(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "svc/offline.py": """
                class OfflineProvider:
                    def answer(self, question: str) -> str:
                        return "The model is unavailable; here is a cached answer."
            """,
            "svc/app.py": """
                import asyncio

                from svc.offline import OfflineProvider

                jobs = asyncio.Queue(maxsize=100)
                fallback = OfflineProvider()
                text = fallback.answer("hi")
            """,
        }
    )
    outcome = check_outcome("resilience.graceful-degradation", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert locations(outcome) == ["svc/app.py:5", "svc/offline.py:1"]


def test_code_that_inspects_a_mechanism_is_not_the_mechanism(make_repo: MakeRepo) -> None:
    # An auditor's own functions name the mechanisms they look for; they are none of them.
    root = make_repo(
        {
            "audit.py": """
                def check_failover(repo):
                    return "failover" in repo

                def degradation_kinds(repo):
                    return ["offline"] if "offline" in repo else []

                REPORT = (check_failover("x"), degradation_kinds("y"))
            """
        }
    )
    assert check_outcome("resilience.failover", root).status == "fail"
    outcome = check_outcome("resilience.graceful-degradation", root)
    assert (outcome.status, outcome.score) == ("fail", 0)


def test_offline_mode_never_switched_to_does_not_count(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "svc/offline.py": """
                class OfflineProvider:
                    def answer(self, question: str) -> str:
                        return "The model is unavailable."
            """,
            "svc/app.py": "import asyncio\n\nslots = asyncio.Semaphore(4)\n",
        }
    )
    outcome = check_outcome("resilience.graceful-degradation", root)
    assert (outcome.status, outcome.score) == ("warn", 60)
    assert locations(outcome) == ["svc/app.py:3"]
