"""``/api/chat`` and ``/api/conversations`` through a real server and the real model."""

from __future__ import annotations

import httpx

from alice.settings import Settings
from tests.support.sse import read_events
from tests.support.stored import stored_rows

QUESTION = "Vad är huvudstaden i Sverige?"


def _db_rows(settings: Settings, sql: str, *args: object) -> list[tuple[object, ...]]:
    return stored_rows(settings.resolved_data_dir, sql, *args)


def test_question_is_answered_and_the_conversation_is_stored(
    alice_url: str, settings: Settings
) -> None:
    with httpx.Client(base_url=alice_url, timeout=60) as client:
        response = client.post("/api/chat", json={"text": QUESTION, "temperature": 0})
        assert response.status_code == 200
        answer = response.json()
        assert "Stockholm" in answer["text"]
        assert answer["model"] == "gemma-3-270m"
        usage = answer["usage"]
        assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]

        stored = client.get(f"/api/conversations/{answer['conversation_id']}").json()
    assert [(m["role"], m["content"]) for m in stored["messages"]] == [
        ("user", QUESTION),
        ("assistant", answer["text"]),
    ]
    assert stored["messages"][0]["id"] == answer["user_message_id"]
    reply = stored["messages"][1]
    assert reply["id"] == answer["message_id"]
    assert reply["model"] == "gemma-3-270m"
    assert reply["completion_tokens"] == usage["completion_tokens"]
    assert reply["latency_ms"] is not None and reply["first_token_ms"] is not None

    rows = _db_rows(
        settings,
        "SELECT role, opened(content, content_key), status, model, prompt_tokens, "
        "completion_tokens "
        "FROM messages WHERE conversation_id = ? ORDER BY seq",
        answer["conversation_id"],
    )
    assert rows == [
        ("user", QUESTION, "complete", None, None, None),
        (
            "assistant",
            answer["text"],
            "complete",
            "gemma-3-270m",
            usage["prompt_tokens"],
            usage["completion_tokens"],
        ),
    ]


def test_streaming_sends_start_deltas_then_done_with_ids_and_usage(
    alice_url: str, settings: Settings
) -> None:
    with (
        httpx.Client(base_url=alice_url, timeout=60) as client,
        client.stream(
            "POST", "/api/chat", json={"text": QUESTION, "stream": True, "temperature": 0}
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = read_events(response)
    names = [name for name, _ in events]
    assert names[0] == "start"
    assert names[-1] == "done"
    assert set(names[1:-1]) == {"delta"} and len(names) > 2
    text = "".join(data["text"] for name, data in events if name == "delta")
    assert "Stockholm" in text
    start, done = events[0][1], events[-1][1]
    assert done["conversation_id"] == start["conversation_id"]
    assert done["usage"]["completion_tokens"] > 0
    stored = _db_rows(
        settings,
        "SELECT opened(content, content_key) FROM messages WHERE id = ?",
        done["message_id"],
    )
    assert stored == [(text,)]


def test_a_conversation_continues_with_its_history(alice_url: str) -> None:
    with httpx.Client(base_url=alice_url, timeout=60) as client:
        first = client.post("/api/chat", json={"text": "Hej! Jag heter Eva.", "max_tokens": 24})
        conversation_id = first.json()["conversation_id"]
        second = client.post(
            "/api/chat",
            json={"text": "Vad heter jag?", "conversation_id": conversation_id, "max_tokens": 24},
        )
        assert second.status_code == 200
        assert second.json()["conversation_id"] == conversation_id
        # The first turn is context for the second: the prompt grew by at least it.
        assert second.json()["usage"]["prompt_tokens"] > first.json()["usage"]["prompt_tokens"]
        stored = client.get(f"/api/conversations/{conversation_id}").json()
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant", "user", "assistant"]


def test_conversations_are_listed_and_deleted(alice_url: str) -> None:
    with httpx.Client(base_url=alice_url, timeout=60) as client:
        ids = [
            client.post("/api/chat", json={"text": t, "max_tokens": 8}).json()["conversation_id"]
            for t in ("första", "andra")
        ]
        listed = client.get("/api/conversations").json()
        assert [c["id"] for c in listed["data"]] == ids[::-1]
        assert [c["message_count"] for c in listed["data"]] == [2, 2]
        assert client.delete(f"/api/conversations/{ids[0]}").status_code == 204
        assert client.get(f"/api/conversations/{ids[0]}").status_code == 404
        assert [c["id"] for c in client.get("/api/conversations").json()["data"]] == [ids[1]]
