"""LLM integration checks: providers, fallback, timeouts, retries, streaming."""

from __future__ import annotations

from readiness.model import Outcome
from readiness.pyindex import analyse_source

from .conftest import MakeRepo, check_outcome


def locations(outcome: Outcome) -> list[str]:
    return [e.location for e in outcome.evidence]


def notes(outcome: Outcome) -> list[str]:
    return [e.note for e in outcome.evidence]


TWO_PROVIDERS = """
import anthropic
from openai import AsyncOpenAI

gpt = AsyncOpenAI(timeout=20)
claude = anthropic.AsyncAnthropic(timeout=20)
"""


# --- llm.multi-provider -------------------------------------------------------------------
def test_two_wired_sdks_pass(make_repo: MakeRepo) -> None:
    root = make_repo({"app/llm.py": TWO_PROVIDERS})
    outcome = check_outcome("llm.multi-provider", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert locations(outcome) == ["app/llm.py:4", "app/llm.py:5"]
    assert "Anthropic, OpenAI-compatible API" in outcome.summary


def test_one_provider_warns(make_repo: MakeRepo) -> None:
    root = make_repo({"app.py": "from openai import OpenAI\nclient = OpenAI(timeout=5)\n"})
    outcome = check_outcome("llm.multi-provider", root)
    assert (outcome.status, outcome.score) == ("warn", 50)
    assert locations(outcome) == ["app.py:2"]


def test_second_provider_only_declared_is_not_wired(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app.py": "from openai import OpenAI\nclient = OpenAI(timeout=5)\n",
            "requirements.txt": "openai\nanthropic\n",
        }
    )
    outcome = check_outcome("llm.multi-provider", root)
    assert (outcome.status, outcome.score) == ("warn", 60)
    assert locations(outcome) == ["app.py:2", "requirements.txt:2"]
    assert outcome.evidence[1].strength == "dependency"


def test_api_paths_in_a_table_are_not_calls(make_repo: MakeRepo) -> None:
    # urllib.parse builds URLs, it sends nothing: a table of provider paths (an auditor's,
    # a router's documentation) in such a module is not an HTTP call to the provider.
    root = make_repo(
        {
            "app.py": "from openai import OpenAI\nclient = OpenAI(timeout=5)\n",
            "paths.py": (
                "from urllib.parse import urlsplit\n"
                'PATHS = {"anthropic": "/v1/messages", "ollama": "/api/generate"}\n'
                "def host(url):\n    return urlsplit(url).hostname\n"
            ),
        }
    )
    outcome = check_outcome("llm.multi-provider", root)
    assert (outcome.status, outcome.score) == ("warn", 50)
    assert locations(outcome) == ["app.py:2"]


def test_raw_http_to_ollama_counts_as_a_provider(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "svc/ollama_backend.py": """
                import httpx

                async def ask(client: httpx.AsyncClient, body: dict) -> dict:
                    response = await client.post("/api/chat", json=body)
                    return response.json()
            """,
            "svc/gpt.py": "import openai\nclient = openai.OpenAI(timeout=5)\n",
        }
    )
    outcome = check_outcome("llm.multi-provider", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert "svc/ollama_backend.py:4" in locations(outcome)


def test_client_of_the_services_own_route_is_not_a_provider(make_repo: MakeRepo) -> None:
    # The service serves /api/chat itself; its CLI posting there is not an Ollama backend.
    root = make_repo(
        {
            "svc/api.py": """
                from fastapi import FastAPI
                from openai import OpenAI

                app = FastAPI()
                gpt = OpenAI(timeout=5)

                @app.post("/api/chat")
                def chat(body: dict) -> dict:
                    return {}
            """,
            "svc/cli.py": """
                import httpx

                def main() -> None:
                    httpx.post("http://localhost:8000/api/chat", json={}, timeout=5)
                    with httpx.Client(timeout=5) as client:
                        client.post("/api/chat", json={})
            """,
        }
    )
    outcome = check_outcome("llm.multi-provider", root)
    assert (outcome.status, outcome.score) == ("warn", 50)
    assert locations(outcome) == ["svc/api.py:5"]


def test_imported_but_never_called_fails(make_repo: MakeRepo) -> None:
    root = make_repo({"app.py": "import openai\n\nVERSION = 1\n"})
    outcome = check_outcome("llm.multi-provider", root)
    assert (outcome.status, outcome.score) == ("fail", 25)
    assert outcome.evidence[0].note == "imports openai but never calls it"


def test_no_llm_at_all_fails(make_repo: MakeRepo) -> None:
    outcome = check_outcome("llm.multi-provider", make_repo({"app.py": "print('hi')\n"}))
    assert (outcome.status, outcome.score) == ("fail", 0)


def test_benchmarks_and_tests_do_not_count(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app.py": "from openai import OpenAI\nclient = OpenAI(timeout=5)\n",
            "bench/claude.py": "import anthropic\nc = anthropic.Anthropic(timeout=5)\n",
            "tests/test_x.py": "import ollama\nollama.chat(model='m', messages=[])\n",
        }
    )
    outcome = check_outcome("llm.multi-provider", root)
    assert (outcome.status, outcome.score) == ("warn", 50)
    assert locations(outcome) == ["app.py:2"]


def test_no_python_is_unknown(make_repo: MakeRepo) -> None:
    outcome = check_outcome("llm.multi-provider", make_repo({"README.md": "# x\n"}))
    assert outcome.status == "unknown"


# --- llm.fallback -----------------------------------------------------------------------------
FALLBACK_LOOP = """
import anthropic
import openai

gpt = openai.OpenAI(timeout=10)
claude = anthropic.Anthropic(timeout=10)
PROVIDERS = (gpt, claude)


def answer(question: str) -> str:
    for provider in PROVIDERS:
        try:
            return provider.ask(question)
        except Exception:
            continue
    raise RuntimeError("every provider failed")
"""

USES_ANSWER = "from svc.llm import answer\n\n\ndef handle(q):\n    return answer(q)\n"


def test_provider_loop_that_moves_on_passes(make_repo: MakeRepo) -> None:
    root = make_repo({"svc/llm.py": FALLBACK_LOOP, "svc/api.py": USES_ANSWER})
    outcome = check_outcome("llm.fallback", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert locations(outcome) == ["svc/llm.py:10"]
    assert outcome.evidence[0].strength == "wired"


def test_fallback_loop_in_a_function_never_called_warns(make_repo: MakeRepo) -> None:
    outcome = check_outcome("llm.fallback", make_repo({"svc/llm.py": FALLBACK_LOOP}))
    assert (outcome.status, outcome.score) == ("warn", 45)
    assert outcome.evidence[0].note.endswith("(in a function never called)")


def test_loop_that_reraises_is_not_a_fallback(make_repo: MakeRepo) -> None:
    source = FALLBACK_LOOP.replace("            continue", "            raise")
    root = make_repo({"svc/llm.py": source, "svc/api.py": USES_ANSWER})
    outcome = check_outcome("llm.fallback", root)
    assert (outcome.status, outcome.score) == ("fail", 0)


def test_litellm_fallbacks_pass(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app.py": """
                import litellm

                def ask(messages):
                    return litellm.completion(
                        model="gpt-4o", messages=messages, fallbacks=["claude-3-haiku"]
                    )
            """
        }
    )
    outcome = check_outcome("llm.fallback", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert locations(outcome) == ["app.py:4"]


def test_stub_fallback_class_fails(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app.py": """
                from openai import OpenAI

                client = OpenAI(timeout=5)

                class FallbackRouter:
                    def complete(self, prompt):
                        raise NotImplementedError

                router = FallbackRouter()
            """
        }
    )
    outcome = check_outcome("llm.fallback", root)
    assert (outcome.status, outcome.score) == ("fail", 0)
    assert locations(outcome) == ["app.py:5"]
    assert "is a stub" in outcome.evidence[0].note


def test_fallback_without_llm_is_unknown(make_repo: MakeRepo) -> None:
    outcome = check_outcome("llm.fallback", make_repo({"app.py": "print(1)\n"}))
    assert outcome.status == "unknown"


# --- llm.timeouts -------------------------------------------------------------------------------
def test_one_of_two_clients_without_timeout_is_listed(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "svc/a.py": "import httpx\n\nclient = httpx.AsyncClient(timeout=30)\n",
            "svc/b.py": "from openai import AsyncOpenAI\n\n\nllm = AsyncOpenAI()\n",
        }
    )
    outcome = check_outcome("llm.timeouts", root)
    assert (outcome.status, outcome.score) == ("warn", 50)
    assert locations(outcome) == ["svc/b.py:4", "svc/a.py:3"]
    assert outcome.evidence[0].note == (
        "openai.AsyncOpenAI(...) without a timeout (the SDK waits up to 10 min)"
    )
    assert outcome.gaps == (
        "svc/b.py:4: openai.AsyncOpenAI(...) without a timeout (the SDK waits up to 10 min)",
    )


def test_every_client_with_a_timeout_passes(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app.py": """
                import requests
                from anthropic import Anthropic

                claude = Anthropic(timeout=30.0)

                def fetch(url):
                    return requests.get(url, timeout=5)
            """
        }
    )
    outcome = check_outcome("llm.timeouts", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert locations(outcome) == ["app.py:4", "app.py:7"]


def test_timeout_none_is_a_missing_timeout(make_repo: MakeRepo) -> None:
    root = make_repo(
        {"app.py": "import requests\n\ndef f(u):\n    return requests.post(u, timeout=None)\n"}
    )
    outcome = check_outcome("llm.timeouts", root)
    assert (outcome.status, outcome.score) == ("fail", 0)
    assert locations(outcome) == ["app.py:4"]
    assert "timeout disabled" in outcome.evidence[0].note


def test_deadline_wrapper_covers_a_call(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app.py": """
                import asyncio
                import aiohttp

                async def fetch(url):
                    async with aiohttp.ClientSession() as session:
                        return await asyncio.wait_for(session.get(url), 10)
            """
        }
    )
    outcome = check_outcome("llm.timeouts", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert notes(outcome) == ["aiohttp.ClientSession bounded by a deadline wrapper"]


def test_splatted_kwargs_are_not_judged(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app.py": """
                import httpx

                def make(**options):
                    return httpx.Client(**options)

                plain = httpx.Client(timeout=3)
            """
        }
    )
    outcome = check_outcome("llm.timeouts", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert outcome.notes == ("1 call(s) pass **kwargs and were not judged",)


def test_no_clients_is_unknown(make_repo: MakeRepo) -> None:
    outcome = check_outcome("llm.timeouts", make_repo({"app.py": "x = 1\n"}))
    assert outcome.status == "unknown"


def test_test_code_without_timeouts_is_ignored(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app.py": "import httpx\nc = httpx.Client(timeout=1)\n",
            "tests/test_app.py": "import requests\n\ndef test_x():\n    requests.get('x')\n",
        }
    )
    outcome = check_outcome("llm.timeouts", root)
    assert (outcome.status, outcome.score) == ("pass", 100)


# --- llm.retries ----------------------------------------------------------------------------------
def test_tenacity_with_exponential_wait_passes(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app.py": """
                from tenacity import retry, stop_after_attempt, wait_exponential

                @retry(stop=stop_after_attempt(3), wait=wait_exponential())
                def ask():
                    return 1
            """
        }
    )
    outcome = check_outcome("llm.retries", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert locations(outcome) == ["app.py:3"]


def test_tenacity_without_wait_warns(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app.py": """
                import tenacity

                @tenacity.retry(stop=tenacity.stop_after_attempt(3))
                def ask():
                    return 1
            """
        }
    )
    outcome = check_outcome("llm.retries", root)
    assert (outcome.status, outcome.score) == ("warn", 60)
    assert notes(outcome) == ["tenacity retry without backoff (no wait=)"]


RETRY_LOOP = """
import time

import requests


def fetch(url):
    for attempt in range(3):
        try:
            return requests.get(url, timeout=5)
        except requests.RequestException:
            time.sleep({delay})
    raise RuntimeError(url)


def main():
    fetch("http://x")
"""


def test_hand_written_retry_with_backoff_passes(make_repo: MakeRepo) -> None:
    root = make_repo({"app.py": RETRY_LOOP.format(delay="0.5 * 2 ** attempt")})
    outcome = check_outcome("llm.retries", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert locations(outcome) == ["app.py:7"]
    assert notes(outcome) == ["retry loop with a computed (growing) delay"]


def test_hand_written_retry_with_fixed_delay_warns(make_repo: MakeRepo) -> None:
    outcome = check_outcome("llm.retries", make_repo({"app.py": RETRY_LOOP.format(delay="1")}))
    assert (outcome.status, outcome.score) == ("warn", 60)
    assert notes(outcome) == ["retry loop, fixed delay"]


def test_polling_loop_is_not_a_retry(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app.py": """
                import asyncio
                import httpx

                async def poll(client: httpx.AsyncClient):
                    while True:
                        try:
                            await client.get("/jobs")
                        except httpx.HTTPError:
                            pass
                        await asyncio.sleep(5)

                client = httpx.AsyncClient(timeout=5)
                task = poll(client)
            """
        }
    )
    outcome = check_outcome("llm.retries", root)
    assert (outcome.status, outcome.score) == ("fail", 0)


def test_sdk_default_retries_warn(make_repo: MakeRepo) -> None:
    root = make_repo({"app.py": "from openai import OpenAI\nclient = OpenAI(timeout=5)\n"})
    outcome = check_outcome("llm.retries", root)
    assert (outcome.status, outcome.score) == ("warn", 50)
    assert outcome.evidence[0].strength == "code"


def test_sdk_retries_turned_off_fail(make_repo: MakeRepo) -> None:
    root = make_repo(
        {"app.py": "from openai import OpenAI\nc = OpenAI(timeout=5, max_retries=0)\n"}
    )
    outcome = check_outcome("llm.retries", root)
    assert (outcome.status, outcome.score) == ("fail", 0)


def test_declared_retry_library_only_warns(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app.py": "import httpx\nc = httpx.Client(timeout=2)\n",
            "pyproject.toml": '[project]\nname = "x"\ndependencies = ["httpx", "tenacity"]\n',
        }
    )
    outcome = check_outcome("llm.retries", root)
    assert (outcome.status, outcome.score) == ("warn", 45)
    assert locations(outcome) == ["pyproject.toml:3"]


# --- llm.streaming --------------------------------------------------------------------------------
STREAMING_APP = """
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from openai import AsyncOpenAI

app = FastAPI()
client = AsyncOpenAI(timeout=30)


async def tokens(question):
    stream = await client.chat.completions.create(model="m", messages=[], stream={flag})
    async for chunk in stream:
        yield chunk.choices[0].delta.content or ""


@app.post("/chat")
async def chat(body: dict):
    return {response}
"""


def test_streamed_from_model_to_client_passes(make_repo: MakeRepo) -> None:
    source = STREAMING_APP.format(flag="True", response="StreamingResponse(tokens(body['q']))")
    outcome = check_outcome("llm.streaming", make_repo({"app.py": source}))
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert locations(outcome) == ["app.py:10", "app.py:17"]


def test_model_streams_but_client_gets_it_whole_warns(make_repo: MakeRepo) -> None:
    source = STREAMING_APP.format(flag="True", response="{'answer': 'x'}")
    outcome = check_outcome("llm.streaming", make_repo({"app.py": source}))
    assert (outcome.status, outcome.score) == ("warn", 55)


def test_stream_false_is_not_streaming(make_repo: MakeRepo) -> None:
    source = STREAMING_APP.format(flag="False", response="StreamingResponse(tokens(body['q']))")
    outcome = check_outcome("llm.streaming", make_repo({"app.py": source}))
    assert (outcome.status, outcome.score) == ("warn", 50)
    assert locations(outcome) == ["app.py:17"]


def test_no_streaming_fails(make_repo: MakeRepo) -> None:
    source = STREAMING_APP.format(flag="False", response="{'answer': 'x'}")
    outcome = check_outcome("llm.streaming", make_repo({"app.py": source}))
    assert (outcome.status, outcome.score) == ("fail", 0)


def test_raw_http_stream_read_piecewise_counts(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "svc/ollama.py": """
                import httpx

                async def stream(client: httpx.AsyncClient, payload: dict):
                    async with client.stream("POST", "/api/chat", json=payload) as response:
                        async for line in response.aiter_lines():
                            yield line
            """,
            "svc/api.py": """
                from sse_starlette.sse import EventSourceResponse

                def respond(events):
                    return EventSourceResponse(events)
            """,
        }
    )
    outcome = check_outcome("llm.streaming", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert locations(outcome) == ["svc/api.py:4", "svc/ollama.py:4", "svc/ollama.py:5"]


def test_streaming_without_llm_is_unknown(make_repo: MakeRepo) -> None:
    outcome = check_outcome("llm.streaming", make_repo({"app.py": "x = 1\n"}))
    assert outcome.status == "unknown"


# --- the facts these checks rely on ---------------------------------------------------------------
def test_loop_facts_record_retry_shape() -> None:
    facts = analyse_source(
        "m.py",
        "import time\n"
        "def f(providers):\n"
        "    attempt = 0\n"
        "    while attempt < 3:\n"
        "        try:\n"
        "            return providers[0]()\n"
        "        except OSError:\n"
        "            attempt += 1\n"
        "            time.sleep(min(8, 2 ** attempt))\n",
    )
    (loop,) = facts.loops
    assert (loop.kind, loop.line, loop.iter, loop.counters) == ("while", 4, "attempt", ("attempt",))
    assert (loop.handled, loop.sleeps, loop.backoff) == (True, True, True)


def test_calls_know_async_scope_and_disabled_keywords() -> None:
    facts = analyse_source(
        "m.py",
        "import time\n"
        "async def f(client, **kw):\n"
        "    time.sleep(1)\n"
        "    g = lambda: time.sleep(2)\n"
        "    client.get('/x', timeout=None, **kw)\n"
        "def h():\n"
        "    time.sleep(3)\n",
    )
    by_line = {c.line: c for c in facts.calls if c.tail in ("sleep", "get")}
    assert [by_line[n].in_async for n in (3, 4, 7)] == [True, False, False]
    assert (by_line[5].off, by_line[5].splat) == (("timeout",), True)


def test_loop_over_retrieved_documents_is_not_a_retry(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app.py": """
                import httpx

                client = httpx.Client(timeout=5)

                def fetch_all(retrieved_docs):
                    out = []
                    for doc in retrieved_docs:
                        try:
                            out.append(client.get(doc).text)
                        except httpx.HTTPError:
                            continue
                    return out

                TEXTS = fetch_all(["/a"])
            """
        }
    )
    outcome = check_outcome("llm.retries", root)
    assert (outcome.status, outcome.score) == ("fail", 0)
