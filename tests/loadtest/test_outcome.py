"""Classifying chat responses: whole answers, streams, refusals, errors, no response."""

from __future__ import annotations

import json

from loadtest.outcome import parse_chat_response


def _sse(*events: tuple[str, dict[str, object]]) -> bytes:
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()


def test_a_whole_answer_is_acknowledged_with_both_ids() -> None:
    body = {
        "conversation_id": "c1",
        "message_id": "m2",
        "user_message_id": "m1",
        "text": "Hej!",
        "model": "gemma-3-270m",
        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
        "offline": False,
        "cached": False,
    }

    result = parse_chat_response(200, json.dumps(body).encode(), stream=False)

    assert result.outcome == "ok" and result.acknowledged
    assert (result.conversation_id, result.message_id, result.user_message_id) == ("c1", "m2", "m1")
    assert result.completion_tokens == 3


def test_an_offline_answer_is_acknowledged_but_not_ok() -> None:
    body = {"conversation_id": "c", "message_id": "m", "user_message_id": "u", "offline": True}

    result = parse_chat_response(200, json.dumps(body).encode(), stream=False)

    assert result.outcome == "offline" and result.acknowledged


def test_a_stream_is_acknowledged_by_its_done_event() -> None:
    body = _sse(
        ("start", {"conversation_id": "c", "user_message_id": "u", "model": "g"}),
        ("delta", {"text": "Hej"}),
        ("done", {"conversation_id": "c", "message_id": "m", "model": "g", "usage": {}}),
    )

    result = parse_chat_response(200, body, stream=True)

    assert result.outcome == "ok"
    assert (result.message_id, result.user_message_id) == ("m", "u")


def test_a_stream_that_ends_in_an_error_or_breaks_off_is_not_acknowledged() -> None:
    start = ("start", {"conversation_id": "c", "user_message_id": "u", "model": "g"})
    failed = _sse(start, ("error", {"error": {"code": "model-unavailable", "message": "x"}}))
    cut = _sse(start, ("delta", {"text": "Hej"}))

    errored = parse_chat_response(200, failed, stream=True)
    truncated = parse_chat_response(200, cut, stream=True)

    assert (errored.outcome, errored.error_code) == ("stream-error", "model-unavailable")
    assert (truncated.outcome, truncated.error_code) == ("stream-error", "stream-truncated")
    assert not errored.acknowledged and not truncated.acknowledged


def test_refusals_errors_and_missing_responses() -> None:
    refusal = json.dumps({"error": {"code": "overloaded", "message": "busy"}}).encode()

    assert parse_chat_response(429, refusal, stream=False).outcome == "refused"
    assert parse_chat_response(429, refusal, stream=False).error_code == "overloaded"
    assert parse_chat_response(503, b"", stream=True).outcome == "refused"
    assert parse_chat_response(500, b"oops", stream=False).error_code == "http-500"
    assert parse_chat_response(0, None, stream=False).outcome == "transport"
    assert parse_chat_response(200, b"{}", stream=False).outcome == "error"
