"""Performance checks: load tests, caching, capacity and cost documented, blocking calls in
async code."""

from __future__ import annotations

from readiness.model import Outcome

from .conftest import MakeRepo, check_outcome


def locations(outcome: Outcome) -> list[str]:
    return [e.location for e in outcome.evidence]


SERVICE = """
from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
def health():
    return {"ok": True}
"""

LOCUSTFILE = """
from locust import HttpUser, between, task


class ChatUser(HttpUser):
    wait_time = between(1, 3)

    @task
    def chat(self):
        self.client.post("/chat", json={"q": "hi"})
"""


# --- performance.load-tests ---------------------------------------------------------------
def test_locust_run_by_a_makefile_target_passes(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app.py": SERVICE,
            "loadtest/locustfile.py": LOCUSTFILE,
            "Makefile": "test:\n\tpytest\n\nload:\n\tlocust -f loadtest/locustfile.py --headless\n",
        }
    )
    outcome = check_outcome("performance.load-tests", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert locations(outcome) == ["Makefile:5", "loadtest/locustfile.py:4"]
    assert outcome.evidence[0].note == "make load runs locust"


def test_locustfile_nobody_runs_warns(make_repo: MakeRepo) -> None:
    root = make_repo({"app.py": SERVICE, "tests/load/locustfile.py": LOCUSTFILE})
    outcome = check_outcome("performance.load-tests", root)
    assert (outcome.status, outcome.score) == ("warn", 70)
    assert locations(outcome) == ["tests/load/locustfile.py:4"]


def test_k6_script_run_in_ci_passes(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app.py": SERVICE,
            "perf/chat.js": "import http from 'k6/http';\n\nexport default function () {}\n",
            ".github/workflows/load.yml": """
                name: load
                on:
                  schedule:
                    - cron: "0 3 * * *"
                jobs:
                  k6:
                    runs-on: ubuntu-latest
                    steps:
                      - uses: actions/checkout@v4
                      - run: k6 run perf/chat.js
            """,
        }
    )
    outcome = check_outcome("performance.load-tests", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert locations(outcome) == [".github/workflows/load.yml:10", "perf/chat.js:1"]


def test_installing_locust_in_ci_is_not_running_it(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app.py": SERVICE,
            "loadtest/locustfile.py": LOCUSTFILE,
            ".github/workflows/ci.yml": """
                on: [push]
                jobs:
                  test:
                    runs-on: ubuntu-latest
                    steps:
                      - run: pip install locust pytest
                      - run: pytest
            """,
        }
    )
    outcome = check_outcome("performance.load-tests", root)
    assert (outcome.status, outcome.score) == ("warn", 70)


def test_python_load_driver_package_run_by_make_passes(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app.py": SERVICE,
            "loadtest/__main__.py": "import httpx\n\nhttpx.get('http://localhost:8000/health')\n",
            "Makefile": "loadtest:\n\tpython -m loadtest all\n",
        }
    )
    outcome = check_outcome("performance.load-tests", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert locations(outcome) == ["Makefile:2", "loadtest/__main__.py"]


def test_locust_only_declared_warns(make_repo: MakeRepo) -> None:
    root = make_repo({"app.py": SERVICE, "requirements-dev.txt": "pytest\nlocust\n"})
    outcome = check_outcome("performance.load-tests", root)
    assert (outcome.status, outcome.score) == ("warn", 45)
    assert locations(outcome) == ["requirements-dev.txt:2"]


def test_service_without_load_tests_fails(make_repo: MakeRepo) -> None:
    outcome = check_outcome("performance.load-tests", make_repo({"app.py": SERVICE}))
    assert (outcome.status, outcome.score) == ("fail", 0)


def test_library_without_load_tests_is_unknown(make_repo: MakeRepo) -> None:
    outcome = check_outcome("performance.load-tests", make_repo({"lib.py": "X = 1\n"}))
    assert outcome.status == "unknown"


# --- performance.caching ----------------------------------------------------------------------
def test_ttl_cache_on_a_running_path_passes(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "svc/answers.py": """
                from cachetools import TTLCache

                answers = TTLCache(maxsize=10_000, ttl=300)
            """
        }
    )
    outcome = check_outcome("performance.caching", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert locations(outcome) == ["svc/answers.py:3"]


def test_own_redis_cache_class_wired_passes(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "svc/cache.py": """
                import redis

                class AnswerCache:
                    def __init__(self, client: redis.Redis) -> None:
                        self.client = client

                    def put(self, key: str, value: str) -> None:
                        self.client.set(key, value, ex=300)
            """,
            "svc/app.py": """
                import redis

                from svc.cache import AnswerCache

                cache = AnswerCache(redis.Redis())
                cache.put("k", "v")
            """,
        }
    )
    outcome = check_outcome("performance.caching", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert locations(outcome) == ["svc/cache.py:3", "svc/cache.py:8"]


def test_only_memoisation_warns(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "svc/settings.py": """
                import functools

                @functools.lru_cache
                def settings() -> dict:
                    return {}

                CONFIG = settings()
            """
        }
    )
    outcome = check_outcome("performance.caching", root)
    assert (outcome.status, outcome.score) == ("warn", 60)
    assert locations(outcome) == ["svc/settings.py:4"]


def test_cache_config_class_is_not_a_cache(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "svc/app.py": """
                class CacheConfig:
                    def ttl(self) -> int:
                        return 60

                config = CacheConfig()
                print(config.ttl())
            """
        }
    )
    outcome = check_outcome("performance.caching", root)
    assert (outcome.status, outcome.score) == ("fail", 0)


def test_declared_cache_library_only_warns(make_repo: MakeRepo) -> None:
    root = make_repo({"app.py": "X = 1\n", "requirements.txt": "cachetools\n"})
    outcome = check_outcome("performance.caching", root)
    assert (outcome.status, outcome.score) == ("warn", 45)
    assert locations(outcome) == ["requirements.txt:1"]


# --- performance.capacity-docs ------------------------------------------------------------------
CAPACITY = """
# Capacity

Measured on 2 vCPU: 40 req/s sustained with p95 latency 850 ms.

| concurrency | p95 (ms) |
|---|---|
| 10 | 420 |
| 50 | 1300 |
"""

COST = """
# Cost

About $0.004 per request in model tokens; hosting is €30 per month per replica.
"""


def test_capacity_and_cost_documented_pass(make_repo: MakeRepo) -> None:
    root = make_repo({"docs/capacity.md": CAPACITY, "docs/cost.md": COST})
    outcome = check_outcome("performance.capacity-docs", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert locations(outcome) == [
        "docs/capacity.md:3",
        "docs/capacity.md:7",
        "docs/capacity.md:8",
        "docs/cost.md:3",
    ]


def test_capacity_without_cost_warns(make_repo: MakeRepo) -> None:
    outcome = check_outcome("performance.capacity-docs", make_repo({"docs/capacity.md": CAPACITY}))
    assert (outcome.status, outcome.score) == ("warn", 50)
    assert outcome.gaps == ("no cost per user or per request",)


def test_cost_without_capacity_warns(make_repo: MakeRepo) -> None:
    outcome = check_outcome("performance.capacity-docs", make_repo({"docs/cost.md": COST}))
    assert (outcome.status, outcome.score) == ("warn", 40)


def test_cost_table_counts(make_repo: MakeRepo) -> None:
    root = make_repo({"docs/cost.md": "| plan | cost per user |\n|---|---|\n| team | $4.20 |\n"})
    outcome = check_outcome("performance.capacity-docs", root)
    assert (outcome.status, outcome.score) == ("warn", 40)
    assert locations(outcome) == ["docs/cost.md:3"]


def test_words_without_numbers_fail(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "README.md": "We care about throughput, latency and cost per user.\n",
            "requirements.txt": "fastapi==0.115\n",
        }
    )
    outcome = check_outcome("performance.capacity-docs", root)
    assert (outcome.status, outcome.score) == ("fail", 0)


# --- performance.blocking-in-async --------------------------------------------------------------
def test_sleep_in_an_async_route_handler_fails(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app.py": """
                import time

                from fastapi import FastAPI

                app = FastAPI()

                @app.get("/slow")
                async def slow():
                    time.sleep(1)
                    return {}
            """
        }
    )
    outcome = check_outcome("performance.blocking-in-async", root)
    assert (outcome.status, outcome.score) == ("fail", 40)
    assert locations(outcome) == ["app.py:9"]
    assert outcome.evidence[0].note == (
        "time.sleep blocks the event loop in route handler slow: use await asyncio.sleep"
    )


def test_sync_http_in_async_helper_warns(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "worker.py": """
                import requests

                async def refresh(url):
                    return requests.get(url, timeout=5).json()
            """
        }
    )
    outcome = check_outcome("performance.blocking-in-async", root)
    assert (outcome.status, outcome.score) == ("warn", 80)
    assert locations(outcome) == ["worker.py:4"]


def test_blocking_call_moved_to_a_thread_is_fine(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "worker.py": """
                import asyncio
                import time

                import requests

                async def refresh(url):
                    await asyncio.sleep(1)
                    await asyncio.to_thread(lambda: requests.get(url, timeout=5))

                    def blocking():
                        time.sleep(1)

                    return await asyncio.to_thread(blocking)
            """
        }
    )
    outcome = check_outcome("performance.blocking-in-async", root)
    assert (outcome.status, outcome.score) == ("pass", 100)


def test_no_async_code_is_unknown(make_repo: MakeRepo) -> None:
    root = make_repo({"cli.py": "import time\n\ndef main():\n    time.sleep(1)\n"})
    outcome = check_outcome("performance.blocking-in-async", root)
    assert outcome.status == "unknown"
