from __future__ import annotations

import json

import pytest

from alice.cache import CachedAnswer
from alice.llm.types import Usage

ANSWER = CachedAnswer(
    text='Klockan är tolv. 🕛 "citat"\n',
    model="gemma-3-270m",
    finish_reason="stop",
    prompt_tokens=12,
    completion_tokens=7,
    created_at=1_700_000_000.25,
)


def test_json_round_trip() -> None:
    assert CachedAnswer.from_json(ANSWER.to_json()) == ANSWER
    assert CachedAnswer.from_json(ANSWER.to_json().encode()) == ANSWER


def test_json_is_a_plain_object() -> None:
    assert json.loads(ANSWER.to_json()) == {
        "text": ANSWER.text,
        "model": "gemma-3-270m",
        "finish_reason": "stop",
        "prompt_tokens": 12,
        "completion_tokens": 7,
        "created_at": 1_700_000_000.25,
    }


def test_an_integer_created_at_is_read_as_a_float() -> None:
    raw = json.loads(ANSWER.to_json()) | {"created_at": 1_700_000_000}
    answer = CachedAnswer.from_json(json.dumps(raw))
    assert answer.created_at == 1_700_000_000.0
    assert isinstance(answer.created_at, float)


def test_usage() -> None:
    assert ANSWER.usage == Usage(prompt_tokens=12, completion_tokens=7)


@pytest.mark.parametrize(
    "data",
    [
        "not json",
        b"\xff\xfe",
        "[]",
        '{"text": "x"}',
        json.dumps(json.loads(ANSWER.to_json()) | {"prompt_tokens": "12"}),
        json.dumps(json.loads(ANSWER.to_json()) | {"completion_tokens": True}),
        json.dumps(json.loads(ANSWER.to_json()) | {"text": None}),
        json.dumps(json.loads(ANSWER.to_json()) | {"created_at": "yesterday"}),
    ],
)
def test_anything_else_is_a_value_error(data: str | bytes) -> None:
    with pytest.raises(ValueError, match="cached answer"):
        CachedAnswer.from_json(data)
