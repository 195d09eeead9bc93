"""What encryption at rest and PII masking add to a chat turn.

Four ``alice serve`` processes side by side, identical but for their privacy settings,
each in front of the same fast OpenAI-compatible upstream (`bench.upstream`, so the
model's time does not drown what is measured):

- ``plain``: ``ALICE_ENCRYPTION=off``, ``ALICE_PII_MASKING=false`` (the baseline);
- ``encrypted``: encryption at rest only;
- ``masked``: PII masking only;
- ``both``: both, as shipped.

Every request is one whole chat turn, ``POST /api/chat`` (not streamed) with a fresh
2,000-character Swedish message holding a personnummer, a samordningsnummer, a phone
number, an e-mail address, an IBAN and a card number: the question is masked, sent,
the answer unmasked, and question and answer committed (sealed) to SQLite with fsync.

Measured twice. The headline: the four configurations as apps in one process, called
turn by turn through httpx's ASGI transport in a rotating order (A B C D, B C D A, ...),
so no process or CPU placement favours one (on two shared cores that bias is bigger
than what is measured). For context: four ``alice serve`` processes over HTTP, one
keep-alive connection each, targets interleaved in rounds whose order rotates. Both
after an uncounted warm-up. Added latency = target minus ``plain``, p50 and p99, with a
bootstrap 95% confidence interval.

In process, for context: the privacy work of one such turn timed call by call (mask the
request, unmask the answer, seal question and answer, open them again).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from alice.llm.types import ChatMessage, CompletionRequest
from alice.privacy.encryption import Keyring, generate_key
from alice.privacy.pii import PiiMasker
from bench.alice_server import ALICE_AUTH_HEADERS, alice_process, env_pairs
from bench.processes import ManagedProcess, free_port, loopback_url
from bench.stats import added_latency, summarize
from bench.upstream import upstream_process

__all__ = ["PrivacyParams", "message", "run_privacy"]

TARGET_ADDED_P99_MS = 1.0
BASELINE = "plain"
MESSAGE_CHARS = 2000
MODEL = "bench-upstream"
TARGETS = {
    BASELINE: {"ALICE_ENCRYPTION": "off", "ALICE_PII_MASKING": "false"},
    "encrypted": {"ALICE_ENCRYPTION": "on", "ALICE_PII_MASKING": "false"},
    "masked": {"ALICE_ENCRYPTION": "off", "ALICE_PII_MASKING": "true"},
    "both": {"ALICE_ENCRYPTION": "on", "ALICE_PII_MASKING": "true"},
}
_PII = (
    "Mitt personnummer är 19850712-1237 och min mans samordningsnummer 850772-1234.",
    "Ring mig på 070-123 45 67 eller mejla annika.lindqvist@example.se.",
    "Lönen går till SE45 5000 0000 0583 9825 7466 och kortet är 4111 1111 1111 1111.",
)
_PROSE = (
    "Vi planerar en resa till Göteborg i vår och undrar vad som är värt att se, "
    "hur man tar sig dit med tåg och vilka museer som har öppet på måndagar. "
)


def message(serial: int) -> str:
    """A 2,000-character message with every kind of personal value, unique per serial."""
    parts = [f"Fråga {serial}. "]
    for index in range(40):
        parts.append(_PROSE)
        if index % 4 == 0:
            parts.append(_PII[(index // 4) % len(_PII)] + " ")
        if sum(map(len, parts)) >= MESSAGE_CHARS:
            break
    return "".join(parts)[:MESSAGE_CHARS]


@dataclass(frozen=True)
class PrivacyParams:
    """How much to measure."""

    rounds: int = 10
    turns_per_round: int = 60
    warmup: int = 40
    #: Turns per target of the in-process headline (reported every turns_per_round).
    turns_in_process: int = 1500
    chunks: int = 32
    inprocess_calls: int = 2000
    alice_env: tuple[str, ...] = ()
    quick: bool = False


def _timed(client: httpx.Client, count: int, serial: list[int]) -> list[float]:
    samples: list[float] = []
    for _ in range(count):
        serial[0] += 1
        body = {"text": message(serial[0]), "max_tokens": 64}
        start = time.perf_counter()
        response = client.post("/api/chat", json=body)
        elapsed = (time.perf_counter() - start) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"/api/chat answered {response.status_code}: {response.text[:200]}")
        samples.append(elapsed)
    return samples


def _measure(urls: dict[str, str], params: PrivacyParams, log: Any) -> dict[str, list[float]]:
    clients = {
        name: httpx.Client(base_url=url, headers=ALICE_AUTH_HEADERS, trust_env=False, timeout=30)
        for name, url in urls.items()
    }
    samples: dict[str, list[float]] = {name: [] for name in urls}
    serial = [0]
    try:
        for client in clients.values():
            _timed(client, params.warmup, serial)
        names = list(urls)
        for round_index in range(params.rounds):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                samples[name] += _timed(clients[name], params.turns_per_round, serial)
            last = {n: sorted(samples[n][-params.turns_per_round :]) for n in names}
            medians = ", ".join(f"{n} {v[len(v) // 2]:.2f}" for n, v in last.items())
            log(f"  round {round_index + 1}/{params.rounds}: p50 ms {medians}")
    finally:
        for client in clients.values():
            client.close()
    return samples


async def _turns_in_process(
    upstream: str, work: Path, params: PrivacyParams, log: Any
) -> dict[str, list[float]]:
    """The four configurations as apps in this one process, called turn by turn in a
    rotating order: no process or core placement can favour one of them."""
    import logging

    import structlog

    from alice.app import create_app
    from alice.settings import Settings

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    apps = {}
    for name, settings in TARGETS.items():
        env = {k.removeprefix("ALICE_").lower(): v for k, v in settings.items()}
        apps[name] = create_app(
            Settings(  # type: ignore[call-arg]
                _env_file=None,
                data_dir=work / f"inproc-{name}",
                provider="openai",
                model=MODEL,
                openai_base_url=upstream,
                guardian_enabled=False,
                cache="off",
                auth="off",
                rate_limit="off",
                **env,
            )
        )
    samples: dict[str, list[float]] = {name: [] for name in apps}
    async with contextlib.AsyncExitStack() as stack:
        clients = {}
        for name, app in apps.items():
            await stack.enter_async_context(app.router.lifespan_context(app))
            clients[name] = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://alice")
            )
        names = list(apps)
        total = params.warmup + params.turns_in_process
        for turn in range(total):
            shift = turn % len(names)
            for name in names[shift:] + names[:shift]:
                body = {"text": message(100_000 + turn), "max_tokens": 64}
                start = time.perf_counter()
                response = await clients[name].post("/api/chat", json=body)
                elapsed = (time.perf_counter() - start) * 1000
                if response.status_code != 200:
                    raise RuntimeError(f"{name}: {response.status_code} {response.text[:200]}")
                if turn >= params.warmup:
                    samples[name].append(elapsed)
            if (turn + 1) % params.turns_per_round == 0 and turn >= params.warmup:
                last = {n: sorted(samples[n][-params.turns_per_round :]) for n in names}
                medians = ", ".join(f"{n} {v[len(v) // 2]:.2f}" for n, v in last.items())
                log(f"  in process, turn {turn + 1}/{total}: p50 ms {medians}")
    structlog.reset_defaults()
    return samples


def _inprocess(params: PrivacyParams) -> dict[str, Any]:
    """The privacy work of one turn, timed call by call (µs)."""
    keyring = Keyring([generate_key()])
    question = message(0)
    request = CompletionRequest(
        messages=(ChatMessage("system", "Du är Alice."), ChatMessage("user", question)),
        model=MODEL,
        max_tokens=64,
    )
    answer = "Tack! Jag har noterat <PHONE_1> och <EMAIL_1>. " + "Här är mitt svar. " * 10

    def work() -> None:
        masker = PiiMasker()
        masker.mask_request(request)
        masker.unmask(answer)
        sealed_q = keyring.seal(question)
        sealed_a = keyring.seal(answer)
        keyring.open(*sealed_q)
        keyring.open(*sealed_a)

    def masking() -> None:
        masker = PiiMasker()
        masker.mask_request(request)
        masker.unmask(answer)

    def sealing() -> None:
        keyring.open(*keyring.seal(question))
        keyring.open(*keyring.seal(answer))

    out: dict[str, Any] = {}
    for name, call in (("turn_privacy_us", work), ("masking_us", masking), ("sealing_us", sealing)):
        for _ in range(50):
            call()
        timings = []
        for _ in range(params.inprocess_calls):
            start = time.perf_counter()
            call()
            timings.append((time.perf_counter() - start) * 1_000_000)
        out[name] = summarize(timings)
    return out


def _analysis(samples: dict[str, list[float]]) -> dict[str, Any]:
    return added_latency(samples, BASELINE)


def _targets_met(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    checks = []
    for name in ("both", "encrypted", "masked"):
        added = analysis["added_ms"][name]
        checks.append(
            {
                "name": f"{name}: added p99 per 2,000-character turn",
                "value": added["p99"],
                "unit": "ms",
                "limit": f"< {TARGET_ADDED_P99_MS}",
                "passed": added["p99"] < TARGET_ADDED_P99_MS,
                "ci95": added["ci95"]["p99"],
                "headline": name == "both",
            }
        )
    return checks


def run_privacy(params: PrivacyParams, log: Any = print) -> dict[str, Any]:
    """Start the upstream and the four targets, measure them interleaved, stop them."""
    with tempfile.TemporaryDirectory(prefix="alice-bench-privacy-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        upstream, up_port = upstream_process(work, model=MODEL, chunks=params.chunks)
        stack.enter_context(upstream)
        upstream.wait_ready(loopback_url(up_port) + "/v1/models", timeout_s=60)
        common = {
            "ALICE_PROVIDER": "openai",
            "ALICE_MODEL": MODEL,
            "ALICE_OPENAI_BASE_URL": loopback_url(up_port) + "/v1",
            "ALICE_GUARDIAN_ENABLED": "false",
            "ALICE_CACHE": "off",
            "ALICE_RATE_LIMIT": "off",
            **env_pairs(params.alice_env),
        }
        urls: dict[str, str] = {}
        servers: dict[str, ManagedProcess] = {}
        for name, settings in TARGETS.items():
            data_dir = work / name
            data_dir.mkdir()
            port = free_port()
            servers[name] = alice_process(
                port=port, data_dir=data_dir, log_dir=work, settings={**common, **settings}
            )
            urls[name] = loopback_url(port)
        for server in servers.values():
            stack.enter_context(server)
        for name, server in servers.items():
            server.wait_ready(urls[name] + "/health", timeout_s=120)
        log("4 targets ready: " + ", ".join(TARGETS))
        samples = _measure(urls, params, log)
        for server in servers.values():
            server.stop()
        log("in process: the same four, turn by turn")
        in_process = asyncio.run(
            _turns_in_process(loopback_url(up_port) + "/v1", work, params, log)
        )
    analysis = _analysis(in_process)
    analysis["servers"] = _analysis(samples)
    analysis["inprocess"] = _inprocess(params)
    parameters = asdict(params)
    parameters["message_chars"] = len(message(1))
    parameters["targets"] = {name: {**common, **s} for name, s in TARGETS.items()}
    return {
        "parameters": parameters,
        "analysis": analysis,
        "samples_ms": {k: [round(v, 4) for v in vs] for k, vs in in_process.items()},
        "server_samples_ms": {k: [round(v, 4) for v in vs] for k, vs in samples.items()},
        "targets_met": _targets_met(analysis),
    }
