"""The pure request/response mapping of the HTTP providers, tested on fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from alice.errors import UpstreamError
from alice.llm.providers import ollama, openai
from alice.llm.types import ChatMessage, CompletionRequest, Usage

REQUEST = CompletionRequest(
    messages=(ChatMessage("system", "Var kort."), ChatMessage("user", "Hej")),
    model="m",
    max_tokens=32,
    temperature=0.2,
    top_p=0.9,
    stop=("\nUser:",),
    seed=7,
)


def test_openai_payload() -> None:
    assert openai.to_payload(REQUEST) == {
        "model": "m",
        "messages": [
            {"role": "system", "content": "Var kort."},
            {"role": "user", "content": "Hej"},
        ],
        "max_tokens": 32,
        "temperature": 0.2,
        "top_p": 0.9,
        "stream": True,
        "stream_options": {"include_usage": True},
        "stop": ["\nUser:"],
        "seed": 7,
    }


def test_openai_chunk_with_text() -> None:
    event = {"choices": [{"index": 0, "delta": {"content": "Hej"}, "finish_reason": None}]}
    assert openai.parse_event(event) == ("Hej", None, None)


def test_openai_final_chunks_carry_finish_reason_and_usage() -> None:
    final = {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
    assert openai.parse_event(final) == ("", "length", None)
    usage = {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3}}
    assert openai.parse_event(usage) == ("", None, Usage(5, 3))


def test_openai_error_event_raises() -> None:
    with pytest.raises(UpstreamError, match="overloaded"):
        openai.parse_event({"error": {"message": "overloaded"}})


def test_ollama_payload() -> None:
    assert ollama.to_payload(REQUEST) == {
        "model": "m",
        "messages": [
            {"role": "system", "content": "Var kort."},
            {"role": "user", "content": "Hej"},
        ],
        "stream": True,
        "options": {
            "num_predict": 32,
            "temperature": 0.2,
            "top_p": 0.9,
            "stop": ["\nUser:"],
            "seed": 7,
        },
    }


def test_ollama_lines() -> None:
    piece = {"model": "m", "message": {"role": "assistant", "content": "Hej"}, "done": False}
    assert ollama.parse_line(piece) == ("Hej", None, None)
    done = {
        "model": "m",
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "length",
        "prompt_eval_count": 11,
        "eval_count": 4,
    }
    assert ollama.parse_line(done) == ("", "length", Usage(11, 4))
    with pytest.raises(UpstreamError, match="model not found"):
        ollama.parse_line({"error": "model not found"})


@pytest.mark.parametrize(
    "chunks",
    [
        [b"data: a\n\ndata: b\n\n"],
        [b"data: a\r\n\r\ndata: b\r\n\r\n"],
        [b"data: a\r", b"\n\r\nda", b"ta: b\r\n", b"\r\n"],
        [b"data: a\r\rdata: b\r\r"],
        [b"da", b"ta: a\n", b"\n", b"data: b"],
    ],
)
async def test_body_lines_split_bytes_on_every_line_ending(chunks: list[bytes]) -> None:
    from alice.llm.providers._http import body_lines

    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    lines = [line async for line in body_lines(body())]
    expected = b"".join(chunks).decode().splitlines()
    assert [line for line in lines if line] == [b"data: a", b"data: b"]
    assert [line.decode() for line in lines if line] == [x for x in expected if x]
