"""What one ``POST /api/chat`` came to, from its status and body (pure, no I/O).

Outcomes:

- ``ok``: HTTP 200 with the stored answer's ids (a whole JSON answer, or a stream that
  ended with its ``done`` event), answered by a model;
- ``offline``: the same, but Alice's offline message (every model was down);
- ``refused``: 429 or 503, Alice's back-pressure (``Retry-After``): nothing was
  acknowledged, the client may retry;
- ``error``: any other HTTP error;
- ``stream-error``: a 200 stream that ended in an ``error`` event or was cut short;
- ``transport``: no HTTP response at all (connection refused or reset, timeout).

``ok`` and ``offline`` are *acknowledged*: Alice said the turn is stored, and the
durability check looks both messages up in the database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ACKNOWLEDGED", "ChatResult", "Outcome", "parse_chat_response"]

Outcome = Literal["ok", "offline", "refused", "error", "stream-error", "transport"]
ACKNOWLEDGED: frozenset[str] = frozenset({"ok", "offline"})
_REFUSAL_STATUSES = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class ChatResult:
    """The parts of a chat response the load test keeps."""

    outcome: Outcome
    status: int
    error_code: str | None = None
    conversation_id: str | None = None
    message_id: str | None = None
    user_message_id: str | None = None
    model: str | None = None
    completion_tokens: int | None = None
    cached: bool | None = None

    @property
    def acknowledged(self) -> bool:
        """Alice reported the turn stored (its ids are in the response)."""
        return self.outcome in ACKNOWLEDGED


def _error_code(body: bytes) -> str | None:
    try:
        data = json.loads(body)
        code = data["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
    return code if isinstance(code, str) else None


def _sse_events(body: bytes) -> list[tuple[str, Any]]:
    """``(event, data)`` pairs of a complete SSE body (unparsable data as None)."""
    events: list[tuple[str, Any]] = []
    name = ""
    for raw_line in body.decode("utf-8", errors="replace").splitlines():
        if raw_line.startswith("event:"):
            name = raw_line[6:].strip()
        elif raw_line.startswith("data:"):
            try:
                data = json.loads(raw_line[5:].strip())
            except ValueError:
                data = None
            events.append((name, data))
            name = ""
    return events


def _answer(status: int, data: dict[str, Any], user_message_id: str | None) -> ChatResult:
    usage = data.get("usage") or {}
    offline = bool(data.get("offline"))
    return ChatResult(
        outcome="offline" if offline else "ok",
        status=status,
        conversation_id=data.get("conversation_id"),
        message_id=data.get("message_id"),
        user_message_id=user_message_id or data.get("user_message_id") or None,
        model=data.get("model"),
        completion_tokens=usage.get("completion_tokens"),
        cached=data.get("cached"),
    )


def _parse_stream(status: int, body: bytes) -> ChatResult:
    user_message_id: str | None = None
    conversation_id: str | None = None
    for name, data in _sse_events(body):
        if not isinstance(data, dict):
            continue
        if name == "start":
            user_message_id = data.get("user_message_id")
            conversation_id = data.get("conversation_id")
        elif name == "done" and data.get("message_id"):
            return _answer(status, data, user_message_id)
        elif name == "error":
            error = data.get("error")
            code = error.get("code") if isinstance(error, dict) else None
            return ChatResult(
                "stream-error",
                status,
                error_code=code or "stream-error",
                conversation_id=conversation_id,
                user_message_id=user_message_id,
            )
    return ChatResult(
        "stream-error",
        status,
        error_code="stream-truncated",
        conversation_id=conversation_id,
        user_message_id=user_message_id,
    )


def parse_chat_response(status: int, body: bytes | None, *, stream: bool) -> ChatResult:
    """Classify one response (``status`` 0: no HTTP response was received).

    Args:
        status: the HTTP status, or 0 for a transport failure.
        body: the whole response body.
        stream: the request asked for Server-Sent Events.
    """
    body = body or b""
    if status == 0:
        return ChatResult("transport", 0, error_code="no-response")
    if status != 200:
        outcome: Outcome = "refused" if status in _REFUSAL_STATUSES else "error"
        return ChatResult(outcome, status, error_code=_error_code(body) or f"http-{status}")
    if stream:
        return _parse_stream(status, body)
    try:
        data = json.loads(body)
    except ValueError:
        return ChatResult("error", status, error_code="unparsable-answer")
    if not isinstance(data, dict) or not data.get("message_id"):
        return ChatResult("error", status, error_code="answer-without-ids")
    return _answer(status, data, None)
