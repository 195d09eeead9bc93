"""OWASP API4: a request that takes too long is stopped with 504, its question kept."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from alice.app import create_app
from tests.conftest import SettingsFactory
from tests.support import faulty
from tests.support.servers import serve_in_thread


@pytest.fixture(scope="module")
def hanging_upstream() -> Iterator[str]:
    with serve_in_thread(faulty.app) as url:
        yield f"{url}/hang/v1"


def test_a_request_over_the_timeout_is_504_and_the_question_is_kept(
    make_settings: SettingsFactory, hanging_upstream: str
) -> None:
    settings = make_settings(
        provider="openai",
        openai_base_url=hanging_upstream,
        model="faulty",
        upstream_read_timeout_s=60,
        first_token_timeout_s=60,
        offline_answers=False,
        request_timeout_s=0.5,
    )
    with serve_in_thread(create_app(settings)) as url, httpx.Client(base_url=url) as client:
        answer = client.post("/api/chat", json={"text": "Hinner du?"}, timeout=30)
        listed = client.get("/api/conversations").json()["data"]
        stored = client.get(f"/api/conversations/{listed[0]['id']}").json()
        health = client.get("/health")
    assert answer.status_code == 504
    assert answer.json()["error"]["code"] == "request-timeout"
    assert stored["messages"][0]["content"] == "Hinner du?"
    assert health.status_code == 200
