"""The embedded provider, with the real Gemma 3 270M model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from alice.errors import InvalidRequestError, ModelUnavailableError
from alice.llm.prompt import FewShotPrompt
from alice.llm.providers._llamacpp_worker import _HeadTokens, chat_template
from alice.llm.providers.llamacpp import LlamaCppConfig, LlamaCppProvider
from alice.llm.types import ChatMessage, Chunk, CompletionRequest

SYSTEM = ChatMessage("system", "Du är Alice, en hjälpsam AI-assistent.")
# With this short system prompt the 270M model answers this wording with "Stockholm" on
# every llama.cpp build tried; "Vad är huvudstaden i Sverige?" flips between builds
# (AVX2 vs AVX-512 kernels round differently and greedy decoding amplifies it).
CAPITAL_QUESTION = "Vilken stad är Sveriges huvudstad?"


def _request(text: str, **kwargs: object) -> CompletionRequest:
    values: dict[str, object] = {
        "messages": (SYSTEM, ChatMessage("user", text)),
        "model": "gemma-3-270m",
        "max_tokens": 64,
        "temperature": 0.0,
    }
    values.update(kwargs)
    return CompletionRequest(**values)  # type: ignore[arg-type]


async def _collect(provider: LlamaCppProvider, request: CompletionRequest) -> list[Chunk]:
    return [chunk async for chunk in provider.stream(request)]


async def test_answers_the_capital_of_sweden(llm: LlamaCppProvider) -> None:
    chunks = await _collect(llm, _request(CAPITAL_QUESTION))
    text = "".join(c.text for c in chunks)
    assert "Stockholm" in text
    final = chunks[-1]
    assert final.finish_reason == "stop"
    assert final.usage is not None
    assert final.usage.prompt_tokens > 50  # the few-shot prompt
    assert 0 < final.usage.completion_tokens <= 64
    assert all(c.finish_reason is None for c in chunks[:-1])
    assert "\nAnvändare:" not in text and not text.startswith(" ")


async def test_is_deterministic_at_temperature_zero(llm: LlamaCppProvider) -> None:
    first = await _collect(llm, _request("What is the capital of Germany?"))
    second = await _collect(llm, _request("What is the capital of Germany?"))
    assert [c.text for c in first] == [c.text for c in second]


async def test_max_tokens_ends_with_length(llm: LlamaCppProvider) -> None:
    chunks = await _collect(llm, _request("Berätta en lång historia om en katt.", max_tokens=3))
    assert chunks[-1].finish_reason == "length"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 3


async def test_closing_the_stream_stops_generation_and_the_model_stays_usable(
    llm: LlamaCppProvider,
) -> None:
    stream = llm.stream(_request("Berätta en lång historia om en katt.", max_tokens=200))
    first = await anext(stream)  # type: ignore[call-overload]
    assert first.text
    await stream.aclose()  # type: ignore[attr-defined]
    chunks = await _collect(llm, _request(CAPITAL_QUESTION))
    assert "Stockholm" in "".join(c.text for c in chunks)


@pytest.fixture(scope="module")
async def small_context(model_file: Path) -> AsyncIterator[LlamaCppProvider]:
    """The same model with a 512-token context, so overflowing it is cheap."""
    provider = LlamaCppProvider(
        LlamaCppConfig(model_name="gemma-3-270m", model_path=model_file, bundled=False, n_ctx=512)
    )
    await provider.start()
    yield provider
    await provider.aclose()


async def test_old_history_is_dropped_to_fit_the_context(small_context: LlamaCppProvider) -> None:
    history: list[ChatMessage] = []
    for i in range(6):
        history += [
            ChatMessage("user", f"fråga {i} " + "ord " * 60),
            ChatMessage("assistant", "Ok."),
        ]
    request = CompletionRequest(
        messages=(SYSTEM, *history, ChatMessage("user", CAPITAL_QUESTION)),
        model="gemma-3-270m",
        max_tokens=16,
        temperature=0.0,
    )
    chunks = await _collect(small_context, request)
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens <= 512 - 16
    assert chunks[-1].finish_reason in ("stop", "length")


async def test_a_message_larger_than_the_context_is_refused(
    small_context: LlamaCppProvider,
) -> None:
    with pytest.raises(InvalidRequestError, match="context"):
        await _collect(small_context, _request("ord " * 1000))


async def test_a_model_that_is_not_loaded_is_unavailable(model_file: Path) -> None:
    provider = LlamaCppProvider(
        LlamaCppConfig(model_name="m", model_path=model_file, bundled=False)
    )
    assert (await provider.health()).state == "unhealthy"
    with pytest.raises(ModelUnavailableError) as info:
        await _collect(provider, _request("Hej"))
    assert info.value.retry_after is not None
    await provider.aclose()


async def test_a_missing_model_file_is_a_clear_configuration_error(tmp_path: Path) -> None:
    from alice.errors import ConfigurationError

    provider = LlamaCppProvider(
        LlamaCppConfig(model_name="m", model_path=tmp_path / "nope.gguf", bundled=False)
    )
    with pytest.raises(ConfigurationError, match="ALICE_MODEL_PATH"):
        await provider.start()
    health = await provider.health()
    assert health.state == "unhealthy"
    assert "ALICE_MODEL_PATH" in health.detail
    await provider.aclose()


async def test_the_bundled_model_is_assembled_on_first_start(tmp_path: Path) -> None:
    path = tmp_path / "models" / "gemma.gguf"
    provider = LlamaCppProvider(LlamaCppConfig(model_name="m", model_path=path, bundled=True))
    await provider.start()
    try:
        assert path.stat().st_size > 200_000_000
        assert not path.with_name(path.name + ".partial").exists()
        assert (await provider.health()).state == "healthy"
        assert provider.prompt_format == "few-shot"
    finally:
        await provider.aclose()


GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<start_of_turn>' + ('model' if message['role'] == 'assistant' else 'user') + '\\n' "
    "+ message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)


def test_a_models_own_chat_template_renders_the_dialogue() -> None:
    template = chat_template(GEMMA_TEMPLATE, bos_token="<bos>", eos_token="<eos>")
    prompt = template.render([ChatMessage("user", "Hej"), ChatMessage("assistant", "Hej!")])
    assert template.name == "chat-template"
    assert template.special
    assert prompt == (
        "<bos><start_of_turn>user\nHej<end_of_turn>\n<start_of_turn>model\nHej!<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


async def test_asking_for_a_chat_template_the_model_lacks_is_refused(model_file: Path) -> None:
    from alice.errors import ConfigurationError

    provider = LlamaCppProvider(
        LlamaCppConfig(
            model_name="m", model_path=model_file, bundled=False, prompt_format="chat-template"
        )
    )
    with pytest.raises(ConfigurationError, match="ALICE_PROMPT_FORMAT"):
        await provider.start()
    await provider.aclose()


async def test_concurrent_requests_queue_for_the_model_and_all_finish(
    llm: LlamaCppProvider,
) -> None:
    import asyncio

    questions = [CAPITAL_QUESTION, "What is the capital of Germany?", "Hej!"]
    results = await asyncio.gather(*(_collect(llm, _request(q)) for q in questions))
    texts = ["".join(c.text for c in chunks) for chunks in results]
    assert "Stockholm" in texts[0]
    assert "Berlin" in texts[1]
    assert all(chunks[-1].finish_reason == "stop" for chunks in results)


async def test_inference_runs_in_a_worker_process(llm: LlamaCppProvider) -> None:
    import os

    assert llm.worker_pid is not None
    assert llm.worker_pid != os.getpid()
    chunks = await _collect(llm, _request("Hej!", max_tokens=4))
    assert chunks[-1].finish_reason is not None


async def test_the_killswitch_restarts_the_worker_and_fails_what_it_held(
    llm: LlamaCppProvider,
) -> None:
    import asyncio

    before = llm.worker_pid
    stream = llm.stream(_request("Berätta en lång saga om en drake.", max_tokens=200))
    assert (await anext(stream)).text  # type: ignore[call-overload]
    restart = asyncio.create_task(llm.restart(reason="test"))
    with pytest.raises(ModelUnavailableError):
        async for _ in stream:  # type: ignore[attr-defined]
            pass
    seconds = await restart
    assert seconds > 0
    assert llm.worker_pid not in (None, before)
    assert (await llm.health()).state == "healthy"
    chunks = await _collect(llm, _request(CAPITAL_QUESTION))
    assert "Stockholm" in "".join(c.text for c in chunks)


async def test_a_worker_that_dies_is_respawned_and_requests_wait_for_it(
    llm: LlamaCppProvider,
) -> None:
    import os
    import signal

    before = llm.worker_pid
    restarts = llm.restarts
    assert before is not None
    os.kill(before, signal.SIGKILL)
    # The next request waits for the respawned worker instead of failing.
    chunks = await _collect(llm, _request(CAPITAL_QUESTION))
    assert "Stockholm" in "".join(c.text for c in chunks)
    assert llm.worker_pid not in (None, before)
    assert llm.restarts == restarts + 1


def test_prompt_heads_are_tokenized_once_and_give_the_whole_texts_tokens(
    model_file: Path,
) -> None:
    from llama_cpp import Llama

    vocab = Llama(model_path=str(model_file), vocab_only=True, verbose=False)

    def tokenize(text: str, bos: bool) -> list[int]:
        return list(vocab.tokenize(text.encode("utf-8"), add_bos=bos, special=False))

    heads = _HeadTokens(tokenize)
    prompt = FewShotPrompt()
    dialogues = [
        [SYSTEM, ChatMessage("user", "Vad är huvudstaden i Sverige?")],
        [SYSTEM, ChatMessage("user", "  Åäö? 2+2=4 😀"), ChatMessage("assistant", "Ja.")],
        [SYSTEM, ChatMessage("assistant", "Hej!"), ChatMessage("user", "\n\nTom rad först")],
        [ChatMessage("user", "Utan systemprompt")],
    ]
    for dialogue in dialogues:
        assert heads(*prompt.render_parts(dialogue)) == tokenize(prompt.render(dialogue), True)
    # Gemma's vocabulary merges nothing across "\n" + a speaker label: both heads cached.
    assert all(tokens is not None for tokens in heads._heads.values())
    assert len(heads._heads) == 2
    # A boundary the vocabulary does merge across ("\n" + "\n") is tokenized whole.
    assert heads("Rad ett\n", "\nRad två") == tokenize("Rad ett\n\nRad två", True)
    assert heads._heads["Rad ett\n"] is None
    assert heads("Rad ett\n", "\nRad tre") == tokenize("Rad ett\n\nRad tre", True)
