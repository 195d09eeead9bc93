from __future__ import annotations

from dataclasses import replace

import pytest

from alice.cache import key as key_module
from alice.cache.key import cache_key as scoped_key
from alice.llm.types import ChatMessage, CompletionRequest


def cache_key(request: CompletionRequest, scope: str = "tenant-a") -> str | None:
    return scoped_key(request, scope=scope)


def request(*contents: str, **overrides: object) -> CompletionRequest:
    messages = tuple(
        ChatMessage(role="user" if i % 2 == 0 else "assistant", content=c)
        for i, c in enumerate(contents or ("Hej Alice, vad är klockan?",))
    )
    values: dict[str, object] = {
        "messages": messages,
        "model": "gemma-3-270m",
        "max_tokens": 64,
        "temperature": 0.0,
    }
    values.update(overrides)
    return CompletionRequest(**values)  # type: ignore[arg-type]


def test_a_deterministic_request_gets_a_sha256_hex_key() -> None:
    key = cache_key(request())
    assert key is not None
    tag, digest = key.split(".")
    assert len(tag) == 16 and len(digest) == 64
    assert set(tag + digest) <= set("0123456789abcdef")


def test_the_key_is_stable() -> None:
    assert cache_key(request()) == cache_key(request())


@pytest.mark.parametrize(
    "variant",
    [
        "  Hej Alice,   vad är klockan?",
        "Hej Alice, vad är klockan?\n",
        "Hej\tAlice,\n\nvad  är\u00a0klockan?",
        "\n Hej Alice, vad är klockan? \r\n",
    ],
)
def test_whitespace_variants_share_a_key(variant: str) -> None:
    assert cache_key(request(variant)) == cache_key(request("Hej Alice, vad är klockan?"))


def test_case_is_kept() -> None:
    assert cache_key(request("hej alice")) != cache_key(request("Hej Alice"))


def test_whitespace_inside_words_still_separates_them() -> None:
    assert cache_key(request("hej alice")) != cache_key(request("hejalice"))


def test_role_and_message_boundaries_matter() -> None:
    as_user = request("Hej")
    as_system = replace(as_user, messages=(ChatMessage(role="system", content="Hej"),))
    assert cache_key(as_user) != cache_key(as_system)
    assert cache_key(request("a b", "c")) != cache_key(request("a", "b c"))


def test_every_conversation_turn_counts() -> None:
    assert cache_key(request("Hej", "Hej!", "Vad heter du?")) != cache_key(
        request("Hej", "Hallå!", "Vad heter du?")
    )


@pytest.mark.parametrize(
    "change",
    [
        {"model": "qwen2.5-0.5b"},
        {"max_tokens": 65},
        {"top_p": 0.9},
        {"stop": ("\n",)},
        {"seed": 1},
        {"seed": 0},
        {"temperature": -0.5},
    ],
)
def test_every_sampling_parameter_is_part_of_the_key(change: dict[str, object]) -> None:
    assert cache_key(request(**change)) != cache_key(request())


def test_stop_order_and_duplicates_do_not_matter() -> None:
    assert cache_key(request(stop=("b", "a"))) == cache_key(request(stop=("a", "b", "a")))


def test_stop_sequences_are_not_whitespace_normalised() -> None:
    assert cache_key(request(stop=("\n\n",))) != cache_key(request(stop=("\n",)))


def test_temperature_zero_is_deterministic_in_any_spelling() -> None:
    assert cache_key(request(temperature=0)) == cache_key(request(temperature=0.0))
    assert cache_key(request(temperature=-0.0)) == cache_key(request(temperature=0.0))


@pytest.mark.parametrize("temperature", [0.7, 1e-9, 2.0, float("nan")])
def test_sampling_requests_get_no_key(temperature: float) -> None:
    assert cache_key(request(temperature=temperature)) is None
    assert cache_key(request(temperature=temperature, seed=42)) is None


def test_the_default_temperature_samples() -> None:
    default = CompletionRequest(
        messages=(ChatMessage(role="user", content="Hej"),), model="m", max_tokens=8
    )
    assert cache_key(default) is None
    assert cache_key(replace(default, temperature=0.0)) is not None


def test_a_new_version_invalidates_every_key(monkeypatch: pytest.MonkeyPatch) -> None:
    before = cache_key(request())
    monkeypatch.setattr(key_module, "CACHE_KEY_VERSION", key_module.CACHE_KEY_VERSION + 1)
    assert cache_key(request()) != before


def test_tenants_never_share_a_key() -> None:
    assert cache_key(request(), "tenant-a") != cache_key(request(), "tenant-b")
    assert cache_key(request(), "tenant-a") == cache_key(request(), "tenant-a")
