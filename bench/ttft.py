"""Embedded model: streaming TTFT and decode rate through Alice versus llama.cpp direct.

Two targets, the same model file, the same prompt text, temperature 0:

- ``alice``: ``alice serve`` (ALICE_PROVIDER=llamacpp, the bundled Gemma 3 270M, which
  it assembles into its temporary data folder on first start), called with
  ``POST /api/chat`` and ``"stream": true`` over a kept-alive loopback connection by
  `bench.rawhttp.RawHttpClient` in this process (no HTTP library: httpx's own request
  building and parsing cost ~1.5 ms per streamed request on a 2-core machine, which is
  the client's time, not Alice's). TTFT is the time from the request's ``sendall`` to
  the arrival of the first ``delta`` event.
- ``direct``: ``llama_cpp.Llama(model_path, n_ctx=4096, verbose=False)`` in this process,
  ``create_completion(prompt, stream=True, temperature=0, max_tokens=N, stop=...)`` with
  exactly the prompt Alice's llamacpp provider renders (`FewShotPrompt` over Alice's
  default system prompt and the question) and its stop sequences. TTFT is the time from
  the call to the first chunk with visible text (Alice drops the leading space too).

They run interleaved, never concurrently (both need the 2 cores): each round asks every
question of Alice and of the direct model, one after the other, the order of the pair
alternating, with ``settle_s`` of idle time before each request so that each starts on
an idle machine. Whichever target runs second in a pair is ~10 ms slower than the first
(also when Alice's model worker is driven from a script without HTTP: the bias lies
between two llama.cpp instances taking turns, not in Alice's request path; the settle
time did not remove it), so the alternation matters: it cancels the bias on average.
Both see the same sequence of prompts, so llama.cpp's prompt-prefix reuse treats them
alike.

Decode rate: completion tokens divided by the time from the first to the last text
chunk. Alice reports ``completion_tokens`` in its ``done`` event; llama-cpp-python's
stream reports no usage, so for the direct target the benchmark uses Alice's count for
the same question in the same round, and only where both produced the same text (at
temperature 0 they should; a pair that differs is counted and left out of the rate).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.alice_server import ALICE_AUTH_HEADERS, embedded_alice, env_pairs
from bench.rawhttp import RawHttpClient, sse_events
from bench.stats import bootstrap_difference, summarize

__all__ = ["QUESTIONS", "Question", "TtftParams", "run_ttft"]

TARGETS = {"added_p50_ms": 5.0, "added_p99_ms": 10.0, "tokens_per_s_ratio": 0.95}
# The questions repeat every round at temperature 0, which Alice's response cache answers
# from memory; the benchmark measures the model path, so the cache is off. The Guardian's
# sampling is off too: the benchmark keeps both cores busy, which must not brown Alice out
# (a smaller tier, capped answers) mid-run. ``--alice-env`` overrides these.
ALICE_DEFAULT_ENV: tuple[str, ...] = ("ALICE_CACHE=off", "ALICE_GUARDIAN_ENABLED=false")


@dataclass(frozen=True)
class Question:
    """One benchmark question."""

    key: str
    language: str
    text: str


#: Swedish and English; the two counting questions make the base model produce long
#: answers (up to ``max_tokens``) for the decode rate.
QUESTIONS = (
    Question("sv-capital", "sv", "Vad är huvudstaden i Sverige?"),
    Question("sv-stockholm", "sv", "Berätta om Stockholm."),
    Question("sv-lakes", "sv", "Vad heter Sveriges största sjöar?"),
    Question("en-sum", "en", "What is 2 + 2?"),
    Question("en-sky", "en", "Why is the sky blue?"),
    Question("en-count", "en", "Count from 1 to 40, separated by commas."),
    Question("sv-count", "sv", "Skriv talen från 1 till 40 med siffror, åtskilda med kommatecken."),
)


@dataclass(frozen=True)
class TtftParams:
    """How many rounds, and the generation settings both targets get."""

    rounds: int = 24
    warmup_rounds: int = 1
    max_tokens: int = 128
    temperature: float = 0.0
    n_ctx: int = 4096
    min_tokens_for_rate: int = 32
    # Idle time before each request (see the module docstring).
    settle_s: float = 0.15
    questions: tuple[Question, ...] = QUESTIONS
    alice_env: tuple[str, ...] = ()
    quick: bool = False


@dataclass
class Sample:
    """One streamed answer as the client saw it."""

    ttft_ms: float
    decode_s: float
    text: str
    completion_tokens: int | None = None
    prompt_tokens: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class AliceClient:
    """Streams ``POST /api/chat`` answers from a running Alice."""

    def __init__(self, base_url: str, params: TtftParams) -> None:
        url = httpx.URL(base_url)
        self._client = RawHttpClient(url.host, url.port or 80, ALICE_AUTH_HEADERS)
        self._params = params

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def ask(self, question: str) -> Sample:
        """One streamed answer.

        Raises:
            RuntimeError: Alice answered with an error.
        """
        body = orjson.dumps(
            {
                "text": question,
                "stream": True,
                "temperature": self._params.temperature,
                "max_tokens": self._params.max_tokens,
            }
        )
        started = time.perf_counter()
        first: float | None = None
        last = started
        pieces: list[str] = []
        done: dict[str, Any] = {}
        response = self._client.post("/api/chat", body)
        if response.status_code != 200:
            raise RuntimeError(f"Alice answered {response.status_code}: {response.read()!r}")
        for event, payload in sse_events(response.iter_raw()):
            if event == "delta":
                now = time.perf_counter()
                if first is None:
                    first = now
                last = now
                pieces.append(payload["text"])
            elif event == "done":
                done = payload
            elif event == "error":
                raise RuntimeError(f"Alice streamed an error: {payload}")
        if first is None:
            raise RuntimeError(f"Alice answered {question!r} without text")
        usage = done.get("usage") or {}
        return Sample(
            ttft_ms=(first - started) * 1000,
            decode_s=last - first,
            text="".join(pieces),
            completion_tokens=usage.get("completion_tokens"),
            prompt_tokens=usage.get("prompt_tokens"),
            extra={"finish_reason": done.get("finish_reason")},
        )


class DirectModel:
    """llama-cpp-python in this process, prompted exactly like Alice's provider."""

    def __init__(self, model_path: Path, system_prompt: str, params: TtftParams) -> None:
        from llama_cpp import Llama

        from alice.llm.prompt import FewShotPrompt
        from alice.llm.providers.llamacpp import default_n_threads

        # The thread count Alice's worker uses by default, so both decode alike.
        self._llm: Any = Llama(
            model_path=str(model_path),
            n_ctx=params.n_ctx,
            n_threads=default_n_threads(),
            verbose=False,
        )
        self._prompt = FewShotPrompt()
        self._system = system_prompt
        self._params = params

    @property
    def n_threads(self) -> int:
        """llama.cpp's thread count (Alice's default, `default_n_threads`)."""
        return int(self._llm.n_threads)

    def render(self, question: str) -> str:
        """The prompt Alice's llamacpp provider sends for ``question``."""
        from alice.llm.types import ChatMessage

        return self._prompt.render(
            [ChatMessage("system", self._system), ChatMessage("user", question)]
        )

    def prompt_tokens(self, question: str) -> int:
        """Prompt length in tokens (with BOS, as both targets tokenize it)."""
        tokens = self._llm.tokenize(self.render(question).encode("utf-8"), add_bos=True)
        return len(tokens)

    def ask(self, question: str) -> Sample:
        """One streamed completion."""
        prompt = self.render(question)
        stop = list(self._prompt.stop)
        started = time.perf_counter()
        first: float | None = None
        last = started
        text = ""
        finish = None
        for chunk in self._llm.create_completion(
            prompt,
            stream=True,
            temperature=self._params.temperature,
            max_tokens=self._params.max_tokens,
            stop=stop,
        ):
            choice = chunk["choices"][0]
            piece = choice["text"]
            finish = choice.get("finish_reason") or finish
            if not piece:
                continue
            now = time.perf_counter()
            text += piece
            if first is None and text.strip():
                first = now
            if first is not None:
                last = now
        if first is None:
            raise RuntimeError(f"the model answered {question!r} without text")
        return Sample(
            ttft_ms=(first - started) * 1000,
            decode_s=last - first,
            text=text.lstrip(),
            extra={"finish_reason": finish},
        )

    def close(self) -> None:
        """Free the model."""
        self._llm.close()


def _pair_record(
    question: Question, round_index: int, first: str, alice: Sample, direct: Sample
) -> dict[str, Any]:
    same = alice.text == direct.text
    tokens = alice.completion_tokens or 0
    return {
        "round": round_index,
        "question": question.key,
        "first": first,
        "alice_ttft_ms": round(alice.ttft_ms, 3),
        "direct_ttft_ms": round(direct.ttft_ms, 3),
        "alice_decode_s": round(alice.decode_s, 6),
        "direct_decode_s": round(direct.decode_s, 6),
        "completion_tokens": tokens,
        "prompt_tokens": alice.prompt_tokens,
        "same_text": same,
        "alice_finish": alice.extra.get("finish_reason"),
        "direct_finish": direct.extra.get("finish_reason"),
    }


def _rate(pairs: list[dict[str, Any]], target: str) -> float | None:
    tokens = sum(p["completion_tokens"] for p in pairs)
    seconds = sum(p[f"{target}_decode_s"] for p in pairs)
    return round(tokens / seconds, 2) if seconds > 0 else None


def _analyse(pairs: list[dict[str, Any]], params: TtftParams) -> dict[str, Any]:
    alice = [p["alice_ttft_ms"] for p in pairs]
    direct = [p["direct_ttft_ms"] for p in pairs]
    a, d = summarize(alice), summarize(direct)
    paired = [p["alice_ttft_ms"] - p["direct_ttft_ms"] for p in pairs]
    matched = [p for p in pairs if p["same_text"] and p["completion_tokens"] >= 2]
    long = [p for p in matched if p["completion_tokens"] >= params.min_tokens_for_rate]
    rates: dict[str, Any] = {}
    for name, group in (("long_answers", long), ("all_matched", matched)):
        alice_rate, direct_rate = _rate(group, "alice"), _rate(group, "direct")
        per_round = []
        for round_index in sorted({p["round"] for p in group}):
            mine = [p for p in group if p["round"] == round_index]
            a_rate, d_rate = _rate(mine, "alice"), _rate(mine, "direct")
            if a_rate and d_rate:
                per_round.append(round(100 * a_rate / d_rate, 2))
        rates[name] = {
            "alice_percent_of_direct_per_round": per_round,
            "pairs": len(group),
            "tokens": sum(p["completion_tokens"] for p in group),
            "alice_tokens_per_s": alice_rate,
            "direct_tokens_per_s": direct_rate,
            "alice_percent_of_direct": round(100 * alice_rate / direct_rate, 2)
            if alice_rate and direct_rate
            else None,
        }
    per_question: dict[str, Any] = {}
    for question in params.questions:
        mine = [p for p in pairs if p["question"] == question.key]
        same = [p for p in mine if p["same_text"]]
        per_question[question.key] = {
            "language": question.language,
            "text": question.text,
            "alice_ttft_ms": summarize([p["alice_ttft_ms"] for p in mine]),
            "direct_ttft_ms": summarize([p["direct_ttft_ms"] for p in mine]),
            "completion_tokens": sorted({p["completion_tokens"] for p in mine}),
            "prompt_tokens": sorted({p["prompt_tokens"] for p in mine if p["prompt_tokens"]}),
            "same_text": f"{len(same)}/{len(mine)}",
            "alice_tokens_per_s": _rate(same, "alice") if same else None,
            "direct_tokens_per_s": _rate(same, "direct") if same else None,
        }
    return {
        "alice_ttft_ms": a,
        "direct_ttft_ms": d,
        "added_ttft_ms": {
            "p50": round(a["p50"] - d["p50"], 3),
            "p95": round(a["p95"] - d["p95"], 3),
            "p99": round(a["p99"] - d["p99"], 3),
            "ci95": {f"p{pct}": bootstrap_difference(alice, direct, pct) for pct in (50, 95, 99)},
        },
        "paired_difference_ms": summarize(paired),
        # Each target is slower right after the other one ran (CPU caches); the order
        # alternates so both sides get this equally. The median difference by order:
        "paired_difference_by_order_ms": {
            f"{first}_first": summarize(
                [p["alice_ttft_ms"] - p["direct_ttft_ms"] for p in pairs if p["first"] == first]
            ).get("p50")
            for first in ("alice", "direct")
        },
        "decode": rates,
        "texts_differing": sum(1 for p in pairs if not p["same_text"]),
        "per_question": per_question,
    }


def _targets_met(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    added = analysis["added_ttft_ms"]
    percent = analysis["decode"]["long_answers"]["alice_percent_of_direct"]
    return [
        {
            "name": f"Alice added TTFT {pct}",
            "value": added[pct],
            "unit": "ms",
            "limit": f"<= {TARGETS[f'added_{pct}_ms']}",
            "passed": added[pct] <= TARGETS[f"added_{pct}_ms"],
            "ci95": added["ci95"][pct],
            "headline": True,
        }
        for pct in ("p50", "p99")
    ] + [
        {
            "name": "Alice decode tokens/s, % of direct (long answers)",
            "value": percent,
            "unit": "%",
            "limit": f">= {TARGETS['tokens_per_s_ratio'] * 100:.0f}",
            "passed": percent is not None and percent >= TARGETS["tokens_per_s_ratio"] * 100,
            "per_round": analysis["decode"]["long_answers"]["alice_percent_of_direct_per_round"],
            "headline": True,
        },
    ]


def run_ttft(params: TtftParams, log: Any = print) -> dict[str, Any]:
    """Start Alice with the embedded model, load the direct model, measure, stop."""
    from alice.llm.providers.llamacpp import BUNDLED_MODEL_FILE
    from alice.settings import Settings

    system_prompt = Settings().system_prompt
    alice_settings = {**env_pairs(ALICE_DEFAULT_ENV), **env_pairs(params.alice_env)}
    with tempfile.TemporaryDirectory(prefix="alice-bench-ttft-") as tmp:
        settings = {
            "ALICE_PROVIDER": "llamacpp",
            "ALICE_SYSTEM_PROMPT": system_prompt,
            **alice_settings,
        }
        with embedded_alice(Path(tmp), settings, log) as server:
            model_path = server.data_dir / "models" / BUNDLED_MODEL_FILE
            direct = DirectModel(model_path, system_prompt, params)
            alice = AliceClient(server.base_url, params)
            try:
                pairs = _measure(alice, direct, params, log)
                prompt_tokens = {q.key: direct.prompt_tokens(q.text) for q in params.questions}
                n_threads = direct.n_threads
            finally:
                alice.close()
                direct.close()
    analysis = _analyse(pairs, params)
    parameters = asdict(params)
    parameters["questions"] = [asdict(q) for q in params.questions]
    parameters["system_prompt"] = system_prompt
    parameters["alice_settings"] = alice_settings
    parameters["direct_call"] = (
        "Llama(model_path, n_ctx=4096, n_threads=default_n_threads(), verbose=False)"
        ".create_completion(prompt, "
        "stream=True, temperature=0, max_tokens=max_tokens, stop=FewShotPrompt().stop)"
    )
    parameters["alice_call"] = (
        'POST /api/chat {"text", "stream": true, "temperature": 0, "max_tokens"}'
    )
    parameters["llama_n_threads"] = n_threads
    parameters["direct_prompt_tokens"] = prompt_tokens
    return {
        "parameters": parameters,
        "analysis": analysis,
        "pairs": pairs,
        "targets_met": _targets_met(analysis),
    }


def _measure(
    alice: AliceClient, direct: DirectModel, params: TtftParams, log: Any
) -> list[dict[str, Any]]:
    for _ in range(params.warmup_rounds):
        for question in params.questions:
            alice.ask(question.text)
            direct.ask(question.text)
    pairs: list[dict[str, Any]] = []
    for round_index in range(params.rounds):
        for index, question in enumerate(params.questions):
            alice_first = (round_index + index) % 2 == 0
            if alice_first:
                time.sleep(params.settle_s)
                a = alice.ask(question.text)
                time.sleep(params.settle_s)
                d = direct.ask(question.text)
            else:
                time.sleep(params.settle_s)
                d = direct.ask(question.text)
                time.sleep(params.settle_s)
                a = alice.ask(question.text)
            pairs.append(
                _pair_record(question, round_index, "alice" if alice_first else "direct", a, d)
            )
        recent = pairs[-len(params.questions) :]
        log(
            f"  round {round_index + 1}/{params.rounds}: "
            + ", ".join(
                f"{p['question']} {p['alice_ttft_ms']:.1f}/{p['direct_ttft_ms']:.1f} ms"
                for p in recent
            )
        )
    return pairs
