"""Every error a client sees is ``{"error": {"code", "message"}}`` with the right status."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from alice.app import create_app
from alice.llm.provider import ComponentHealth
from alice.llm.providers.llamacpp import LlamaCppProvider
from alice.llm.types import Chunk, CompletionRequest
from tests.conftest import SettingsFactory
from tests.support import faulty
from tests.support.servers import free_port, serve_in_thread
from tests.support.sse import read_events


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    return dict(error)


@pytest.fixture
def small_limits(make_settings: SettingsFactory, llm: LlamaCppProvider) -> Iterator[httpx.Client]:
    settings = make_settings(
        max_message_chars=200,
        max_body_bytes=4096,
        max_messages_per_request=3,
        max_tokens_limit=64,
        default_max_tokens=16,
    )
    with (
        serve_in_thread(create_app(settings, provider=llm)) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield client


@pytest.mark.parametrize(
    ("body", "field", "message_part"),
    [
        ({}, "text", "required"),
        ({"text": 5}, "text", "string"),
        ({"text": "hej", "temperature": "hot"}, "temperature", "number"),
        ({"text": "hej", "temperature": 9}, "temperature", "2"),
        ({"text": "hej", "max_tokens": 0}, "max_tokens", "1"),
        ({"text": "hej", "stream": "maybe"}, "stream", "boolean"),
        ({"text": "hej", "colour": "blue"}, "colour", "not permitted"),
        ({"text": "   "}, "text", "empty"),
        ({"text": "hej", "max_tokens": 65}, "max_tokens", "64"),
    ],
)
def test_invalid_input_is_422_naming_the_field(
    small_limits: httpx.Client, body: dict[str, Any], field: str, message_part: str
) -> None:
    error = assert_error(small_limits.post("/api/chat", json=body), 422, "invalid-request")
    assert error["field"] == field
    assert message_part in error["message"]


def test_malformed_json_is_422(small_limits: httpx.Client) -> None:
    response = small_limits.post(
        "/api/chat", content=b'{"text": "hej"', headers={"content-type": "application/json"}
    )
    error = assert_error(response, 422, "invalid-request")
    assert "JSON" in error["message"]


def test_a_body_that_is_not_an_object_is_422(small_limits: httpx.Client) -> None:
    assert_error(small_limits.post("/api/chat", json=["hej"]), 422, "invalid-request")


def test_a_too_long_message_is_413(small_limits: httpx.Client) -> None:
    response = small_limits.post("/api/chat", json={"text": "å" * 201})
    error = assert_error(response, 413, "message-too-long")
    assert "200" in error["message"]


def test_an_oversized_body_is_413_declared_or_chunked(small_limits: httpx.Client) -> None:
    big = {"text": "x" * 5000}
    assert_error(small_limits.post("/api/chat", json=big), 413, "payload-too-large")

    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    response = small_limits.post(
        "/api/chat", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "payload-too-large")


def test_unknown_ids_are_404(small_limits: httpx.Client) -> None:
    assert_error(small_limits.get("/api/conversations/nope"), 404, "conversation-not-found")
    assert_error(small_limits.delete("/api/conversations/nope"), 404, "conversation-not-found")
    assert_error(
        small_limits.post("/api/chat", json={"text": "hej", "conversation_id": "nope"}),
        404,
        "conversation-not-found",
    )
    assert_error(
        small_limits.post("/api/chat", json={"text": "hej", "model": "gpt-5"}),
        404,
        "model-not-found",
    )


def test_a_repeated_query_parameter_is_422_not_the_last_value(small_limits: httpx.Client) -> None:
    # ?limit=1&limit=200 would otherwise list 200 (the last value), silently.
    error = assert_error(
        small_limits.get("/api/conversations?limit=1&limit=200"), 422, "invalid-request"
    )
    assert error["field"] == "limit"
    assert small_limits.get("/api/conversations?limit=1&offset=0").status_code == 200


def test_unknown_routes_and_methods_are_json(small_limits: httpx.Client) -> None:
    assert_error(small_limits.get("/no/such/route"), 404, "not-found")
    assert_error(small_limits.get("/api/chat"), 405, "method-not-allowed")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"model": "gemma-3-270m", "messages": []}, 422, "invalid-request"),
        (
            {"model": "gemma-3-270m", "messages": [{"role": "assistant", "content": "hej"}]},
            422,
            "invalid-request",
        ),
        (
            {"model": "gemma-3-270m", "n": 2, "messages": [{"role": "user", "content": "hej"}]},
            422,
            "invalid-request",
        ),
        (
            {
                "model": "gemma-3-270m",
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}
                ],
            },
            422,
            "invalid-request",
        ),
        (
            {"model": "gemma-3-270m", "messages": [{"role": "user", "content": "hej"}] * 4},
            413,
            "payload-too-large",
        ),
        (
            {"model": "gemma-3-270m", "messages": [{"role": "user", "content": "x" * 300}]},
            413,
            "message-too-long",
        ),
        (
            {"model": "nope", "messages": [{"role": "user", "content": "hej"}]},
            404,
            "model-not-found",
        ),
    ],
)
def test_openai_api_errors(
    small_limits: httpx.Client, body: dict[str, Any], status: int, code: str
) -> None:
    assert_error(small_limits.post("/v1/chat/completions", json=body), status, code)


# --- broken upstreams ---------------------------------------------------------------


@pytest.fixture(scope="module")
def faulty_url() -> Iterator[str]:
    with serve_in_thread(faulty.app) as url:
        yield url


def _alice_in_front_of(
    make_settings: SettingsFactory, base_url: str, *, offline: bool = False
) -> Any:
    settings = make_settings(
        provider="openai",
        openai_base_url=base_url,
        model="faulty",
        upstream_read_timeout_s=0.5,
        upstream_connect_timeout_s=1,
        retry_backoff_base_s=0.01,
        offline_answers=offline,
    )
    return serve_in_thread(create_app(settings))


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ("status-500", 502, "upstream-error"),
        ("status-429", 503, "model-unavailable"),
        ("hang", 504, "model-timeout"),
        ("garbage", 502, "upstream-error"),
        ("cut", 502, "upstream-error"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_a_broken_upstream_is_a_clear_error(
    make_settings: SettingsFactory,
    faulty_url: str,
    fault: str,
    status: int,
    code: str,
    stream: bool,
) -> None:
    with _alice_in_front_of(make_settings, f"{faulty_url}/{fault}/v1") as url:
        response = httpx.post(f"{url}/api/chat", json={"text": "hej", "stream": stream}, timeout=30)
    if stream and fault == "cut":
        # Two pieces reached the client before the upstream died: the stream ends with
        # an error event, never a silent cut.
        assert response.status_code == 200
        events = read_events(response)
        assert [name for name, _ in events] == ["start", "delta", "delta", "error"]
        assert events[-1][1]["error"]["code"] == code
        return
    error = assert_error(response, status, code)
    if status == 503:
        assert int(response.headers["retry-after"]) == 7
    assert "CUDA" not in error["message"] or fault == "status-500"


def test_with_offline_answers_on_a_broken_upstream_gets_the_offline_answer(
    make_settings: SettingsFactory, faulty_url: str
) -> None:
    with _alice_in_front_of(make_settings, f"{faulty_url}/status-500/v1", offline=True) as url:
        response = httpx.post(f"{url}/api/chat", json={"text": "What is the time?"}, timeout=30)
    assert response.status_code == 200
    assert response.json()["offline"] is True
    assert "offline mode" in response.json()["text"]


def test_an_unreachable_upstream_is_503_with_retry_after(make_settings: SettingsFactory) -> None:
    with _alice_in_front_of(make_settings, f"http://127.0.0.1:{free_port()}/v1") as url:
        response = httpx.post(
            f"{url}/v1/chat/completions",
            json={
                "model": "faulty",
                "messages": [{"role": "user", "content": "hej"}],
                "stream": True,
            },
            timeout=30,
        )
        ready = httpx.get(f"{url}/ready", timeout=30)
    assert_error(response, 503, "model-unavailable")
    assert int(response.headers["retry-after"]) > 0
    assert ready.status_code == 503
    assert ready.json()["components"]["model"]["state"] == "unhealthy"


def test_a_failed_turn_keeps_the_user_message_and_marks_the_answer(
    make_settings: SettingsFactory, faulty_url: str
) -> None:
    with _alice_in_front_of(make_settings, f"{faulty_url}/cut/v1") as url:
        httpx.post(f"{url}/api/chat", json={"text": "hej", "stream": True}, timeout=30)
        listed = httpx.get(f"{url}/api/conversations").json()["data"]
        stored = httpx.get(f"{url}/api/conversations/{listed[0]['id']}").json()
    messages = stored["messages"]
    assert [(m["role"], m["status"]) for m in messages] == [
        ("user", "complete"),
        ("assistant", "error"),
    ]
    assert messages[1]["content"] == "Hej då"
    assert messages[1]["error_code"] == "upstream-error"


# --- bugs never leak ----------------------------------------------------------------


class _BrokenProvider:
    """A provider with a bug: it raises an unexpected exception."""

    name = "broken"
    models = ("broken",)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def health(self) -> ComponentHealth:
        return ComponentHealth("healthy")

    async def stream(self, request: CompletionRequest) -> AsyncIterator[Chunk]:
        if request.messages[-1].content == "later":
            yield Chunk(text="Hej")
        raise KeyError("secret internal detail")


@pytest.mark.parametrize("stream", [False, True])
def test_an_unexpected_exception_is_a_generic_500(
    make_settings: SettingsFactory, stream: bool
) -> None:
    app = create_app(make_settings(), provider=_BrokenProvider())
    with serve_in_thread(app) as url:
        response = httpx.post(f"{url}/api/chat", json={"text": "hej", "stream": stream})
        later = httpx.post(f"{url}/api/chat", json={"text": "later", "stream": True})
    error = assert_error(response, 500, "internal-error")
    assert "secret" not in error["message"]
    events = read_events(later)
    assert [name for name, _ in events] == ["start", "delta", "error"]
    assert events[-1][1]["error"]["code"] == "internal-error"
    assert "secret" not in later.text
