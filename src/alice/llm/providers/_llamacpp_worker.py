"""The embedded model's worker process: llama.cpp runs here, never in the server.

A separate process can be killed. A generation stuck inside llama.cpp's C code cannot be
interrupted from Python, so the killswitch (`LlamaCppProvider.restart`) kills this
process and starts a fresh one; a crash in native code takes down only this process.

Protocol over one duplex `multiprocessing.connection.Connection` (tuples, pickled):

parent → worker::

    ("generate", job_id, messages, params)   messages: [(role, content)], params: dict
    ("cancel", job_id)
    ("shutdown",)

worker → parent::

    ("ready", {"prompt_format": "few-shot" | "chat-template", "pid": int})
    ("load-failed", message)
    ("chunk", job_id, text)
    ("done", job_id, finish_reason, prompt_tokens, completion_tokens)
    ("failed", job_id, kind, message)        kind: "invalid-request" | "model-error"

Jobs run one at a time in arrival order; between two tokens the worker reads pending
commands, so a cancel stops a generation at the next token.
"""

from __future__ import annotations

import codecs
import contextlib
import random
import signal
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Literal

from alice.llm.prompt import FewShotPrompt
from alice.llm.stops import StopScanner
from alice.llm.types import ChatMessage

__all__ = ["PromptTemplate", "WorkerConfig", "chat_template", "few_shot_template", "run_worker"]

TemplateName = Literal["few-shot", "chat-template"]


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """What the worker needs to load the model (picklable)."""

    model_path: str
    prompt_format: Literal["auto", "few-shot", "chat-template"] = "auto"
    n_ctx: int = 4096
    n_threads: int | None = None
    n_batch: int = 512


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    """Renders a dialogue into prompt text plus the stop sequences that end a turn.

    ``special``: whether control tokens in the text are parsed as such. A chat template
    writes them itself; the few-shot format has none, so a user typing one gets text.
    ``render_parts``: the prompt as (head, tail) where the head is the same from request
    to request (its tokens are cached, see `_HeadTokens`); None renders whole.
    """

    name: TemplateName
    render: Callable[[Sequence[ChatMessage]], str]
    stop: tuple[str, ...]
    special: bool
    render_parts: Callable[[Sequence[ChatMessage]], tuple[str, str]] | None = None


def few_shot_template() -> PromptTemplate:
    """The few-shot dialogue format for base models."""
    prompt = FewShotPrompt()
    return PromptTemplate(
        "few-shot", prompt.render, prompt.stop, special=False, render_parts=prompt.render_parts
    )


def chat_template(template: str, *, bos_token: str, eos_token: str) -> PromptTemplate:
    """A model's own Jinja chat template, rendered with llama-cpp-python's formatter."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter(template=template, eos_token=eos_token, bos_token=bos_token)

    def render(messages: Sequence[ChatMessage]) -> str:
        # llama-cpp-python types messages as a TypedDict union mypy cannot pick from.
        dialogue: list[Any] = [{"role": m.role, "content": m.content} for m in messages]
        return str(formatter(messages=dialogue).prompt)

    return PromptTemplate("chat-template", render, (), special=True)


class _HeadTokens:
    """Tokens of prompt heads seen before, so a request tokenizes only its own dialogue.

    The few-shot head (system prompt and examples, ~110 tokens) is the same for every
    request; tokenizing it again each time cost the worker ~1 ms before the model could
    start, and the server pays for that in time to first token. A head's tokens are
    reused only where tokenizing head and tail apart gives exactly the tokens of the
    whole text: checked the first time a head is seen, against the whole text's
    tokens. The tail starts with a speaker label after the head's final newline, so the
    characters at the boundary are the same in every request with that head; a model
    whose vocabulary merges across them fails the check and is tokenized whole.
    """

    def __init__(self, tokenize: Callable[[str, bool], list[int]], size: int = 8) -> None:
        self._tokenize = tokenize
        self._size = size
        self._heads: dict[str, list[int] | None] = {}

    def __call__(self, head: str, tail: str) -> list[int]:
        """The tokens of ``head + tail`` (with BOS)."""
        if head in self._heads:
            cached = self._heads[head]
            if cached is not None:
                return cached + self._tokenize(tail, False)
            return self._tokenize(head + tail, True)
        whole = self._tokenize(head + tail, True)
        head_tokens = self._tokenize(head, True)
        splits = head_tokens + self._tokenize(tail, False) == whole
        if len(self._heads) >= self._size:
            del self._heads[next(iter(self._heads))]
        self._heads[head] = head_tokens if splits else None
        return whole


class _Cancelled(Exception):
    """The job was cancelled, or the worker told to shut down, mid-generation."""


class _PromptTooLong(Exception):
    pass


class _Worker:
    def __init__(self, conn: Connection, config: WorkerConfig) -> None:
        self.conn = conn
        self.config = config
        self.pending: deque[tuple[Any, ...]] = deque()
        self.cancelled: set[str] = set()
        self.stopping = False
        self.llm: Any = None
        self.template: PromptTemplate | None = None
        self.heads = _HeadTokens(self._tokenize_text)

    # --- loading ----------------------------------------------------------------------
    def load(self) -> None:
        import llama_cpp
        from llama_cpp import Llama

        llama_cpp.llama_log_set(_silent_log, None)
        kwargs: dict[str, Any] = {
            "model_path": self.config.model_path,
            "n_ctx": self.config.n_ctx,
            "n_batch": self.config.n_batch,
            "verbose": False,
        }
        if self.config.n_threads is not None:
            kwargs["n_threads"] = self.config.n_threads
        self.llm = Llama(**kwargs)
        self.template = self._choose_template()

    def _choose_template(self) -> PromptTemplate:
        template = self.llm.metadata.get("tokenizer.chat_template")
        wanted = self.config.prompt_format
        if wanted == "chat-template" and not template:
            raise ValueError(
                "invalid setting ALICE_PROMPT_FORMAT='chat-template': the model has no chat "
                "template; use auto or few-shot"
            )
        if template and wanted != "few-shot":
            return chat_template(
                template,
                bos_token=self._token_text(self.llm.token_bos()),
                eos_token=self._token_text(self.llm.token_eos()),
            )
        return few_shot_template()

    def _token_text(self, token_id: int) -> str:
        return str(self.llm.detokenize([token_id], special=True).decode("utf-8", "replace"))

    # --- commands ---------------------------------------------------------------------
    def _take(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "cancel":
            self.cancelled.add(message[1])
        elif kind == "shutdown":
            self.stopping = True
        else:
            self.pending.append(message)

    def _drain(self) -> None:
        while self.conn.poll():
            self._take(self.conn.recv())

    def serve(self) -> None:
        while not self.stopping:
            if not self.pending:
                self._take(self.conn.recv())
                continue
            message = self.pending.popleft()
            job_id = message[1]
            if job_id in self.cancelled:
                self.cancelled.discard(job_id)
                continue
            self._run(job_id, message[2], message[3])

    def _run(self, job_id: str, messages: list[tuple[str, str]], params: dict[str, Any]) -> None:
        dialogue = [ChatMessage(role, content) for role, content in messages]  # type: ignore[arg-type]
        try:
            tokens = self._tokenize(dialogue, params["max_tokens"])
            finish, count = self._generate(job_id, tokens, params)
        except _PromptTooLong as exc:
            self.conn.send(("failed", job_id, "invalid-request", str(exc)))
            return
        except _Cancelled:
            self.cancelled.discard(job_id)
            self.conn.send(("done", job_id, "cancelled", 0, 0))
            return
        except Exception as exc:  # llama.cpp failures (decode errors, out of memory)
            self.conn.send(("failed", job_id, "model-error", type(exc).__name__))
            return
        self.conn.send(("done", job_id, finish, len(tokens), count))

    def _tokenize(self, dialogue: list[ChatMessage], max_tokens: int) -> list[int]:
        """Tokenize the dialogue, dropping the oldest turns until it fits the context."""
        assert self.template is not None  # noqa: S101 - set by load()
        budget = self.config.n_ctx - min(max_tokens, self.config.n_ctx // 2)
        system = [m for m in dialogue if m.role == "system"]
        turns = [m for m in dialogue if m.role != "system"]
        while True:
            tokens = self._prompt_tokens([*system, *turns])
            if len(tokens) <= budget:
                return tokens
            if len(turns) <= 1:
                raise _PromptTooLong(
                    f"The message needs {len(tokens)} tokens; the model's context holds "
                    f"{budget} besides the answer."
                )
            turns = turns[1:]

    def _prompt_tokens(self, dialogue: list[ChatMessage]) -> list[int]:
        assert self.template is not None  # noqa: S101 - set by load()
        if self.template.render_parts is not None:
            return self.heads(*self.template.render_parts(dialogue))
        tokens = self._tokenize_text(self.template.render(dialogue), True)
        if len(tokens) > 1 and tokens[0] == tokens[1] == self.llm.token_bos():
            tokens = tokens[1:]  # the chat template wrote its own BOS
        return tokens

    def _tokenize_text(self, text: str, bos: bool) -> list[int]:
        assert self.template is not None  # noqa: S101 - set by load()
        tokens: list[int] = self.llm.tokenize(
            text.encode("utf-8"), add_bos=bos, special=self.template.special
        )
        return tokens

    def _generate(self, job_id: str, prompt: list[int], params: dict[str, Any]) -> tuple[str, int]:
        import llama_cpp

        assert self.template is not None  # noqa: S101 - set by load()
        llm = self.llm
        max_tokens = min(int(params["max_tokens"]), self.config.n_ctx - len(prompt))
        seed = params.get("seed")
        llm.set_seed(seed if seed is not None else random.getrandbits(31))
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        scanner = StopScanner(self.template.stop + tuple(params.get("stop", ())))
        vocab = llm._model.vocab  # llama-cpp-python exposes no public handle
        started = False
        count = 0
        finish = "length"
        for token in llm.generate(
            prompt,
            temp=float(params["temperature"]),
            top_p=float(params["top_p"]),
            top_k=40,
            min_p=0.05,
            repeat_penalty=1.0,
            reset=True,
        ):
            self._drain()
            if self.stopping or job_id in self.cancelled:
                raise _Cancelled
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                finish = "stop"
                break
            count += 1
            text = scanner.feed(decoder.decode(llm.detokenize([token])))
            if not started:
                # The few-shot label ends with ':'; the first token carries the space.
                text = text.lstrip()
                started = bool(text)
            if text:
                self.conn.send(("chunk", job_id, text))
            if scanner.stopped:
                finish = "stop"
                break
            if count >= max_tokens:
                break
        tail = scanner.feed(decoder.decode(b"", final=True)) + scanner.flush()
        if scanner.stopped:
            finish = "stop"  # a stop held back until the end was one after all
        if not started:
            tail = tail.lstrip()
        if tail:
            self.conn.send(("chunk", job_id, tail))
        return finish, count


def _silent_log(_level: int, _text: bytes, _user_data: Any) -> None:
    """llama.cpp's C-level log lines: dropped (they would garble the server's stderr)."""


def run_worker(conn: Connection, config: WorkerConfig) -> None:
    """Entry point of the worker process."""
    # The server owns this process. A signal to the whole process group (Ctrl+C, or
    # systemd/Kubernetes stopping the service) must stop the server, which then shuts
    # the worker down; a worker dying of it first would be taken for a crash and
    # respawned during shutdown. The killswitch uses SIGKILL, and a worker whose server
    # is gone sees its pipe close and exits.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    import llama_cpp

    global _silent_log
    _silent_log = llama_cpp.llama_log_callback(_silent_log)
    worker = _Worker(conn, config)
    try:
        worker.load()
    except Exception as exc:  # any load failure is reported, then the worker exits
        message = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
        conn.send(("load-failed", message))
        return
    assert worker.template is not None  # noqa: S101
    conn.send(("ready", {"prompt_format": worker.template.name}))
    with contextlib.suppress(EOFError, BrokenPipeError, KeyboardInterrupt):
        worker.serve()
