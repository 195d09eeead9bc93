"""One NDJSON line per request, as an operator reads it from ``ALICE_LOG_FILE`` of a real
``alice serve``: ids, route, status, tenant, model, tokens and error class, and never the
conversation's text or an API key. Plus size-and-age rotation of the file."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx

from alice.observability.logging import SizeAndAgeRotatingFileHandler
from alice.security.keys import generate_key
from tests.support.alice_process import alice_serve
from tests.support.sse import read_events

QUESTION = "Vad heter huvudstaden i Norge, Oslo eller Bergen?"
REQUIRED = {
    "timestamp", "level", "event", "request_id", "trace_id", "method", "route", "status",
    "latency_ms", "tenant", "guardian_mode", "model", "prompt_tokens", "completion_tokens",
    "error_class", "stream",
}  # fmt: skip


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_every_request_is_one_line_with_what_an_operator_needs(
    tmp_path: Path, model_file: Path
) -> None:
    admin = generate_key()
    log_file = tmp_path / "alice.log"
    settings = {
        "ALICE_DATA_DIR": str(tmp_path / "data"),
        "ALICE_MODEL_PATH": str(model_file),
        "ALICE_LOG_FILE": str(log_file),
        "ALICE_AUTH": "keys",
        "ALICE_BOOTSTRAP_ADMIN_KEY": admin,
        "ALICE_RATE_LIMIT": "off",
        "ALICE_GUARDIAN_ENABLED": "false",
        "ALICE_DEFAULT_MAX_TOKENS": "8",
    }
    auth = {"Authorization": f"Bearer {admin}"}
    sent: dict[str, httpx.Response] = {}
    with alice_serve(settings, cwd=tmp_path, ready_path="/ready") as url:
        with httpx.Client(base_url=url, timeout=60) as client:

            def send(request_id: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
                headers = {"X-Request-ID": request_id, **kwargs.pop("headers", auth)}
                response = client.request(method, path, headers=headers, **kwargs)
                sent[request_id] = response
                return response

            send("chat-1", "POST", "/api/chat", json={"text": QUESTION})
            with client.stream(
                "POST",
                "/api/chat",
                json={"text": QUESTION, "stream": True},
                headers={"X-Request-ID": "chat-stream", **auth},
            ) as streamed:
                events = read_events(streamed)
            sent["chat-stream"] = streamed
            send("missing", "GET", "/api/conversations/does-not-exist")
            send("invalid", "POST", "/api/chat", json={"text": ""})
            send("no-key", "POST", "/api/chat", json={"text": QUESTION}, headers={})
            traced = send(
                "traced",
                "GET",
                "/api/conversations",
                headers={**auth, "traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01"},
            )
            too_long = "r" * 200
            unsafe = client.get("/api/conversations", headers={"X-Request-ID": too_long, **auth})
        # Let the last lines reach the file before the server stops.
        time.sleep(0.2)

    lines = _lines(log_file)
    requests = [line for line in lines if line["event"] == "http.request"]
    by_id = {line["request_id"]: line for line in requests}
    assert len(by_id) == len(requests)  # one line per request, never two
    for request_id, response in sent.items():
        line = by_id[request_id]
        assert line.keys() >= REQUIRED, REQUIRED - line.keys()
        assert line["status"] == response.status_code
        assert line["trace_id"] == response.headers["x-trace-id"]
        assert response.headers["x-request-id"] == request_id
        assert line["latency_ms"] > 0
        assert line["guardian_mode"] == "ok"
        if response.status_code >= 400:
            assert line["error_class"] == response.json()["error"]["code"]
        else:
            assert line["error_class"] is None

    chat = by_id["chat-1"]
    answer = sent["chat-1"].json()
    assert (chat["route"], chat["method"], chat["tenant"]) == ("/api/chat", "POST", "default")
    assert chat["model"] == answer["model"]
    assert chat["prompt_tokens"] == answer["usage"]["prompt_tokens"]
    assert chat["completion_tokens"] == answer["usage"]["completion_tokens"]
    assert chat["stream"] is False
    final = events[-1][1]
    assert by_id["chat-stream"]["stream"] is True
    assert by_id["chat-stream"]["completion_tokens"] == final["usage"]["completion_tokens"]
    assert by_id["missing"]["route"] == "/api/conversations/{conversation_id}"
    assert by_id["no-key"]["route"] == "/api/chat"
    assert by_id["no-key"]["tenant"] is None
    assert by_id["traced"]["trace_id"] == "ab" * 16 == traced.headers["x-trace-id"]
    # A request id unsafe to echo is replaced by one of Alice's own.
    assert unsafe.headers["x-request-id"] != too_long
    assert unsafe.headers["x-request-id"] in by_id

    # Lines written while serving a request carry its ids (the turn's own line here).
    turn_lines = [line for line in lines if line["event"] == "chat.turn"]
    assert {line["request_id"] for line in turn_lines} >= {"chat-1", "chat-stream"}
    assert all(line["trace_id"] == by_id[line["request_id"]]["trace_id"] for line in turn_lines)

    text = log_file.read_text()
    assert QUESTION not in text
    if len(answer["text"].strip()) >= 6:  # (a one-word answer could be any log word)
        assert answer["text"].strip() not in text
    assert admin not in text


def test_the_log_file_rotates_by_size_and_by_age(tmp_path: Path) -> None:
    path = tmp_path / "alice.log"
    handler = SizeAndAgeRotatingFileHandler(path, max_bytes=200, backups=3, max_age_s=3600)
    logger = logging.Logger("rotation-test")
    logger.addHandler(handler)
    try:
        logger.warning("x" * 50)
        assert not (tmp_path / "alice.log.1").exists()
        for _ in range(4):
            logger.warning("y" * 50)  # passes 200 bytes: rotated by size
        assert (tmp_path / "alice.log.1").exists()
        rotated_by_size = len(list(tmp_path.glob("alice.log.*")))

        logger.warning("z")
        assert len(list(tmp_path.glob("alice.log.*"))) == rotated_by_size  # small and young
        handler._opened_at -= 3601  # the file is now older than max_age_s
        logger.warning("after an hour")
        assert len(list(tmp_path.glob("alice.log.*"))) == rotated_by_size + 1
        assert path.read_text() == "after an hour\n"
    finally:
        handler.close()
