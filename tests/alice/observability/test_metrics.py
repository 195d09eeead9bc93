"""``/metrics`` counts what really happened: requests by route and status, errors by
class, model turns, cache hits, rate-limit refusals, and the state read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from alice.app import create_app
from alice.llm.providers.llamacpp import LlamaCppProvider
from alice.security.keys import generate_key
from tests.conftest import SettingsFactory
from tests.support.servers import serve_in_thread

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str, headers: dict[str, str] | None = None) -> Samples:
    """Every sample of a scrape, by name and label set."""
    response = httpx.get(f"{url}/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum over every series of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


@pytest.fixture
def served(make_settings: SettingsFactory, llm: LlamaCppProvider) -> Iterator[str]:
    settings = make_settings(cache="memory", default_max_tokens=8)
    with serve_in_thread(create_app(settings, provider=llm)) as url:
        yield url


def test_requests_turns_cache_and_errors_are_counted(served: str) -> None:
    questions = ["Hej!", "Vad heter Sveriges huvudstad?", "Hej!"]  # the third is a cache hit
    answers = [
        httpx.post(f"{served}/api/chat", json={"text": q, "temperature": 0}, timeout=60).json()
        for q in questions
    ]
    missing = httpx.get(f"{served}/api/conversations/does-not-exist")
    invalid = httpx.post(f"{served}/api/chat", json={"text": 5})
    assert (missing.status_code, invalid.status_code) == (404, 422)

    samples = scrape(served)

    chat = {"method": "POST", "route": "/api/chat"}
    assert value(samples, "alice_http_requests_total", **chat, status="200") == len(questions)
    assert value(samples, "alice_http_requests_total", **chat, status="422") == 1
    route = "/api/conversations/{conversation_id}"
    assert value(samples, "alice_http_requests_total", method="GET", route=route, status="404") == 1
    assert value(samples, "alice_http_request_duration_seconds_count", **chat, status="200") == len(
        questions
    )
    # The SLO thresholds are buckets of their own.
    assert (
        "alice_http_request_duration_seconds_bucket",
        frozenset({**chat, "status": "200", "le": "2.0"}.items()),
    ) in samples
    assert value(samples, "alice_errors_total", error_class=missing.json()["error"]["code"]) == 1
    assert value(samples, "alice_errors_total", error_class=invalid.json()["error"]["code"]) == 1

    model = answers[0]["model"]
    model_turns = len(questions) - 1
    assert value(samples, "alice_chat_turns_total", outcome="complete") == model_turns
    assert value(samples, "alice_chat_turns_total", outcome="cached") == 1
    assert value(samples, "alice_cache_requests_total", result="hit") == 1
    assert value(samples, "alice_cache_requests_total", result="miss") == model_turns
    ttft_count = value(samples, "alice_model_time_to_first_token_seconds_count", model=model)
    assert ttft_count == model_turns
    completion = sum(a["usage"]["completion_tokens"] for a in answers[:2])
    prompt = sum(a["usage"]["prompt_tokens"] for a in answers[:2])
    assert value(samples, "alice_model_tokens_total", model=model, kind="completion") == completion
    assert value(samples, "alice_model_tokens_total", model=model, kind="prompt") == prompt
    # Every answer with more than one token gives a decode rate.
    decoded = sum(1 for a in answers[:2] if a["usage"]["completion_tokens"] > 1)
    assert value(samples, "alice_model_tokens_per_second_count", model=model) == decoded

    # State read at scrape time: exactly one mode and one breaker state per backend.
    assert total(samples, "alice_guardian_mode") == 1
    assert value(samples, "alice_guardian_mode", mode="ok") == 1
    backends = {
        dict(labels)["backend"] for name, labels in samples if name == "alice_circuit_breaker_state"
    }
    assert backends
    for backend in backends:
        assert total(samples, "alice_circuit_breaker_state", backend=backend) == 1
        assert value(samples, "alice_circuit_breaker_state", backend=backend, state="closed") == 1
        assert value(samples, "alice_model_queue_length", backend=backend) == 0
    assert value(samples, "alice_http_requests_in_flight") == 1  # the scrape itself
    assert total(samples, "alice_build_info") == 1


def test_drills_show_in_the_mode_and_transition_metrics(
    make_settings: SettingsFactory, llm: LlamaCppProvider
) -> None:
    with serve_in_thread(create_app(make_settings(), provider=llm)) as url:
        drill = httpx.post(f"{url}/api/admin/guardian/drill", json={"action": "brownout"})
        assert drill.status_code == 200, drill.text
        during = scrape(url)
        httpx.post(f"{url}/api/admin/guardian/drill", json={"action": "clear"})
        after = scrape(url)
    assert value(during, "alice_guardian_mode", mode="brownout") == 1
    assert value(during, "alice_guardian_transitions_total", mode="brownout") == 1
    assert value(after, "alice_guardian_mode", mode="ok") == 1
    assert value(after, "alice_guardian_transitions_total", mode="ok") == 1


def test_refusals_before_routing_are_named_by_their_route(
    make_settings: SettingsFactory, llm: LlamaCppProvider
) -> None:
    settings = make_settings(
        auth="keys",
        bootstrap_admin_key=generate_key(),
        rate_limit="memory",
        rate_limit_ip_requests=1,
        metrics_public=True,
    )
    with serve_in_thread(create_app(settings, provider=llm)) as url:
        first = httpx.post(f"{url}/api/chat", json={"text": "Hej"})
        second = httpx.post(f"{url}/api/chat", json={"text": "Hej"})
        unknown = httpx.get(f"{url}/no/such/route")
        samples = scrape(url)
    assert (first.status_code, second.status_code) == (401, 429)
    chat = {"method": "POST", "route": "/api/chat"}
    assert value(samples, "alice_http_requests_total", **chat, status="401") == 1
    assert value(samples, "alice_http_requests_total", **chat, status="429") == 1
    refused = [r for r in (first, second, unknown) if r.status_code == 429]
    assert value(samples, "alice_rate_limit_rejections_total", bucket="ip") == len(refused)
    code = second.json()["error"]["code"]
    assert value(samples, "alice_errors_total", error_class=code) == len(refused)
    assert total(samples, "alice_http_requests_total", route="unmatched") == 1


def test_private_metrics_need_an_operator_key(
    make_settings: SettingsFactory, llm: LlamaCppProvider
) -> None:
    admin = generate_key()
    settings = make_settings(auth="keys", bootstrap_admin_key=admin, metrics_public=False)
    with serve_in_thread(create_app(settings, provider=llm)) as url:
        anonymous = httpx.get(f"{url}/metrics")
        samples = scrape(url, {"Authorization": f"Bearer {admin}"})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"]
    assert total(samples, "alice_build_info") == 1


@pytest.mark.postgres
def test_the_postgresql_pool_is_reported(
    make_settings: SettingsFactory, llm: LlamaCppProvider, postgres_url: str
) -> None:
    # (SQLite runs on one thread with one connection: no pool to report.)
    settings = make_settings(database_url=postgres_url, db_pool_size=4)
    with serve_in_thread(create_app(settings, provider=llm)) as url:
        assert httpx.get(f"{url}/ready").status_code == 200
        samples = scrape(url)
    assert value(samples, "alice_db_pool_size") == 4
    connections = total(samples, "alice_db_pool_connections")
    assert 1 <= connections <= 4
