"""Checks: LLM integration (providers, fallback, timeouts, retries, streaming).

Everything is judged from the AST facts of non-test Python (`readiness.pyindex`): a
provider counts when source calls its SDK or its HTTP API, a timeout when the client
construction or request carries one, a retry when a retry library is applied or a loop
catches, waits and tries again.
"""

from __future__ import annotations

from readiness.checks._code import (
    ResolvedCall,
    def_state,
    evidence_of,
    loop_state,
    name_words,
    named_defs,
    no_python,
    production,
    resolved_calls,
    served_routes,
)
from readiness.checks._providers import find_providers, llm_modules
from readiness.context import AuditContext, ranked
from readiness.model import Evidence, Outcome, Status, Strength
from readiness.registry import check

__all__ = [
    "check_fallback",
    "check_multi_provider",
    "check_retries",
    "check_streaming",
    "check_timeouts",
]

_LIMIT = 10


# --- providers -----------------------------------------------------------------------
@check(
    id="llm.multi-provider",
    category="llm",
    title="More than one LLM provider wired",
    severity="high",
    effort="M",
    weight=1.0,
    impact=(
        "With a single provider, its outage, rate limit or deprecation is your outage: "
        "every chat request fails until it recovers."
    ),
    recommendation=(
        "Put the model behind an interface and wire a second provider (another vendor or "
        "a self-hosted model) that serves the same requests."
    ),
)
def check_multi_provider(ctx: AuditContext) -> Outcome:
    """How many distinct LLM providers source actually calls."""
    if (unknown := no_python(ctx)) is not None:
        return unknown
    found = find_providers(ctx)
    wired = sorted((f for f in found.values() if f.wired), key=lambda f: f.family.title)
    weak = sorted((f for f in found.values() if not f.wired), key=lambda f: f.family.title)
    evidence = ranked([e for f in [*wired, *weak] for e in f.evidence])
    names = ", ".join(f.family.title for f in wired)
    gaps = tuple(
        f"{f.family.title}: only {f.strength} evidence (never called from source)" for f in weak
    )
    if len(wired) >= 2:
        return Outcome(
            "pass",
            100,
            f"{len(wired)} LLM providers wired: {names}",
            evidence,
            strengths=(f"{len(wired)} providers called from source: {names}",),
        )
    if len(wired) == 1:
        score = 60 if weak else 50
        return Outcome(
            "warn",
            score,
            f"one LLM provider wired: {names}",
            evidence,
            gaps=(f"only {names} is called: its outage stops every answer", *gaps),
        )
    if weak:
        score = 25 if any(f.strength == "code" for f in weak) else 15
        titles = ", ".join(f.family.title for f in weak)
        return Outcome(
            "fail",
            score,
            f"no LLM provider is called from source ({titles} only imported or declared)",
            evidence,
            gaps=gaps,
        )
    return Outcome("fail", 0, "no LLM integration found in the Python source")


# --- fallback --------------------------------------------------------------------------
_FALLBACK_WORDS = frozenset({"fallback", "fallbacks", "failover"})
#: Words in a loop's iterable or variable that say it walks over models or providers.
_FALLBACK_LOOP = frozenset(
    {
        "provider",
        "providers",
        "backend",
        "backends",
        "model",
        "models",
        "llm",
        "llms",
        "chain",
        "fallback",
        "fallbacks",
        "candidate",
        "candidates",
    }
)


@check(
    id="llm.fallback",
    category="llm",
    title="Ordered fallback across models or providers",
    severity="high",
    effort="M",
    weight=1.0,
    depends_on=("llm.multi-provider",),
    impact=(
        "A second provider that nothing switches to is dead weight: when the first fails, "
        "users still get errors."
    ),
    recommendation=(
        "Try an ordered chain of models/providers per request (e.g. LiteLLM fallbacks=, "
        "LangChain with_fallbacks, or a loop that moves on after a timeout or 5xx) and "
        "test that the second one answers when the first is down."
    ),
)
def check_fallback(ctx: AuditContext) -> Outcome:
    """A fallback across providers or models that runs: library or own code."""
    if (unknown := no_python(ctx)) is not None:
        return unknown
    if not find_providers(ctx):
        return Outcome("unknown", 0, "no LLM integration found: nothing to fall back between")
    evidence: list[Evidence] = []
    for found in resolved_calls(ctx, ("litellm",)):
        if {"fallbacks", "context_window_fallbacks"} & set(found.call.kwargs):
            note = f"{found.qualified}(fallbacks=...)"
            evidence.append(Evidence(found.module.path, found.call.line, "wired", note))
    for module in production(ctx).modules:
        for call in module.calls:
            if call.tail == "with_fallbacks":
                evidence.append(
                    Evidence(module.path, call.line, "wired", "LangChain with_fallbacks")
                )
        for loop in module.loops:
            words = _FALLBACK_LOOP.intersection(name_words(f"{loop.iter} {loop.target}"))
            if loop.kind == "for" and loop.handled and words:
                state = loop_state(ctx, module, loop)
                strength: Strength = "wired" if state == "wired" else "code"
                note = f"loop over {loop.iter or loop.target} moves on after an error"
                if state != "wired":
                    note += " (in a function never called)"
                evidence.append(Evidence(module.path, loop.line, strength, note))
    stubs: list[Evidence] = []
    for named in named_defs(ctx, _FALLBACK_WORDS, kinds=("class", "function", "method")):
        (stubs if named.state == "stub" else evidence).append(evidence_of(named, "fallback"))
    if any(e.strength == "wired" for e in evidence):
        return Outcome(
            "pass",
            100,
            "requests fall back to another model or provider",
            ranked(evidence + stubs),
            strengths=("an ordered fallback runs on failure",),
        )
    if evidence:
        return Outcome(
            "warn",
            45,
            "fallback code exists but nothing on a running path uses it",
            ranked(evidence + stubs),
            gaps=("the fallback is defined but never called",),
        )
    return Outcome(
        "fail",
        0,
        "no fallback: a failed model call fails the request",
        ranked(stubs),
        gaps=("no code moves to another model or provider when one fails",),
    )


# --- timeouts ----------------------------------------------------------------------------
#: Client constructions and one-shot requests -> what happens without a timeout.
_TIMEOUT_DEFAULTS: dict[str, str] = {
    "httpx.Client": "httpx defaults to 5 s",
    "httpx.AsyncClient": "httpx defaults to 5 s",
    "aiohttp.ClientSession": "aiohttp defaults to 5 min total",
    "aiohttp.request": "aiohttp defaults to 5 min total",
    "openai.OpenAI": "the SDK waits up to 10 min",
    "openai.AsyncOpenAI": "the SDK waits up to 10 min",
    "openai.AzureOpenAI": "the SDK waits up to 10 min",
    "openai.AsyncAzureOpenAI": "the SDK waits up to 10 min",
    "anthropic.Anthropic": "the SDK waits up to 10 min",
    "anthropic.AsyncAnthropic": "the SDK waits up to 10 min",
    "ollama.Client": "no timeout by default: waits forever",
    "ollama.AsyncClient": "no timeout by default: waits forever",
    "ollama.chat": "the module-level client has no timeout",
    "ollama.generate": "the module-level client has no timeout",
    "groq.Groq": "the SDK waits up to 1 min",
    "groq.AsyncGroq": "the SDK waits up to 1 min",
    "mistralai.Mistral": "no timeout by default",
    "cohere.Client": "the SDK's default applies",
    "cohere.ClientV2": "the SDK's default applies",
    "cohere.AsyncClient": "the SDK's default applies",
    "litellm.completion": "no timeout by default",
    "litellm.acompletion": "no timeout by default",
    "langchain_openai.ChatOpenAI": "no timeout by default",
    "langchain_anthropic.ChatAnthropic": "the SDK's default applies",
    "langchain_ollama.ChatOllama": "no timeout by default",
    "huggingface_hub.InferenceClient": "no timeout by default",
    "huggingface_hub.AsyncInferenceClient": "no timeout by default",
    "urllib.request.urlopen": "no timeout: waits forever",
}
for _verb in ("get", "post", "put", "patch", "delete", "head", "options", "request"):
    _TIMEOUT_DEFAULTS[f"requests.{_verb}"] = "requests has no timeout: waits forever"
    _TIMEOUT_DEFAULTS[f"httpx.{_verb}"] = "httpx defaults to 5 s"
_TIMEOUT_DEFAULTS["httpx.stream"] = "httpx defaults to 5 s"
_TIMEOUT_KWARGS = frozenset({"timeout", "request_timeout", "default_request_timeout", "timeout_ms"})
#: Wrappers that bound whatever runs inside them.
_DEADLINES = (
    "asyncio.wait_for",
    "asyncio.timeout",
    "asyncio.timeout_at",
    "anyio.fail_after",
    "anyio.move_on_after",
    "async_timeout.timeout",
    "trio.fail_after",
)


def _deadline_lines(ctx: AuditContext) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for found in resolved_calls(ctx, _DEADLINES):
        out.setdefault(found.module.path, []).append(found.call.line)
    return out


def _bounded_by_deadline(ctx: AuditContext, found: ResolvedCall, lines: list[int]) -> bool:
    owner = ctx.py.enclosing(found.module, found.call.line)
    return owner is not None and any(owner.line <= line <= owner.end_line for line in lines)


@check(
    id="llm.timeouts",
    category="llm",
    title="Timeouts on LLM and HTTP clients",
    severity="high",
    effort="S",
    weight=1.5,
    impact=(
        "A call without a timeout waits as long as the upstream hangs: worker slots and "
        "connections pile up until the service stops answering anyone."
    ),
    recommendation=(
        "Give every client a timeout where it is built (httpx.AsyncClient(timeout=...), "
        "OpenAI(timeout=...), requests.*(timeout=...)), sized to the slowest answer you "
        "accept; bound streaming calls with a per-chunk or total deadline too."
    ),
)
def check_timeouts(ctx: AuditContext) -> Outcome:
    """Share of client constructions and one-shot requests that carry a timeout."""
    if (unknown := no_python(ctx)) is not None:
        return unknown
    deadlines = _deadline_lines(ctx)
    covered: list[Evidence] = []
    missing: list[Evidence] = []
    opaque = 0
    for found in resolved_calls(ctx, tuple(_TIMEOUT_DEFAULTS)):
        call, name = found.call, found.qualified
        if name not in _TIMEOUT_DEFAULTS:
            continue  # a prefix match on something deeper (``httpx.get.x``)
        where = (found.module.path, call.line)
        given = _TIMEOUT_KWARGS & set(call.kwargs)
        if given and not given <= set(call.off):
            covered.append(Evidence(*where, "wired", f"{name}({sorted(given)[0]}=...)"))
        elif given:
            missing.append(Evidence(*where, "wired", f"{name}: timeout disabled (timeout=None)"))
        elif "http_client" in call.kwargs:
            covered.append(Evidence(*where, "wired", f"{name}(http_client=...): its timeout"))
        elif _bounded_by_deadline(ctx, found, deadlines.get(found.module.path, [])):
            covered.append(Evidence(*where, "wired", f"{name} bounded by a deadline wrapper"))
        elif call.splat:
            opaque += 1
        else:
            note = f"{name}(...) without a timeout ({_TIMEOUT_DEFAULTS[name]})"
            missing.append(Evidence(*where, "wired", note))
    total = len(covered) + len(missing)
    notes = (f"{opaque} call(s) pass **kwargs and were not judged",) if opaque else ()
    if total == 0:
        return Outcome(
            "unknown", 0, "no LLM or HTTP client constructions found to judge", notes=notes
        )
    share = len(covered) / total
    score = round(100 * share)
    evidence = tuple(missing[:_LIMIT]) + tuple(covered[: max(0, _LIMIT - len(missing))])
    summary = f"{len(covered)} of {total} client constructions/requests set a timeout"
    strengths = (summary,) if covered else ()
    if not missing:
        return Outcome("pass", 100, summary, evidence, strengths=strengths, notes=notes)
    gaps = tuple(f"{e.location}: {e.note}" for e in missing[:_LIMIT])
    status: Status = "warn" if share >= 0.5 else "fail"
    return Outcome(status, score, summary, evidence, strengths, gaps, notes=notes)


# --- retries -----------------------------------------------------------------------------
_RETRY_WORDS = frozenset({"retry", "retries", "attempt", "attempts", "tries", "tried", "tryno"})
_TENACITY_WAITS = (
    "tenacity.wait_exponential",
    "tenacity.wait_random_exponential",
    "tenacity.wait_exponential_jitter",
    "tenacity.wait_random",
    "tenacity.wait_incrementing",
    "tenacity.wait_chain",
)
_SDK_CLIENTS = (
    "openai.OpenAI",
    "openai.AsyncOpenAI",
    "openai.AzureOpenAI",
    "openai.AsyncAzureOpenAI",
    "anthropic.Anthropic",
    "anthropic.AsyncAnthropic",
    "groq.Groq",
    "groq.AsyncGroq",
)
_URLLIB3_RETRY = (
    "urllib3.Retry",
    "urllib3.util.Retry",
    "urllib3.util.retry.Retry",
    "requests.adapters.Retry",
    "requests.packages.urllib3.util.retry.Retry",
)


def _library_retries(ctx: AuditContext) -> tuple[list[Evidence], list[Evidence]]:
    """(with backoff, without backoff) evidence from retry libraries and SDK options."""
    backoff: list[Evidence] = []
    flat: list[Evidence] = []
    waits = {r.module.path for r in resolved_calls(ctx, _TENACITY_WAITS)}
    for found in resolved_calls(ctx, ("tenacity",)):
        tail = found.qualified.rsplit(".", 1)[-1]
        if tail not in ("retry", "Retrying", "AsyncRetrying"):
            continue
        where = (found.module.path, found.call.line)
        if "wait" in found.call.kwargs and found.module.path in waits:
            backoff.append(Evidence(*where, "wired", f"tenacity {tail} with a growing wait"))
        else:
            flat.append(Evidence(*where, "wired", f"tenacity {tail} without backoff (no wait=)"))
    for module in production(ctx).modules:
        for item in module.defs:
            for decorator in item.decorators:
                if ctx.py.qualify(module, decorator) == "tenacity.retry":
                    note = "bare @tenacity.retry: retries forever, no wait"
                    flat.append(Evidence(module.path, item.line, "wired", note))
    for found in resolved_calls(ctx, ("backoff.on_exception", "backoff.on_predicate", "stamina")):
        where = (found.module.path, found.call.line)
        backoff.append(Evidence(*where, "wired", f"{found.qualified} (exponential backoff)"))
    for found in resolved_calls(
        ctx, ("aiohttp_retry.RetryClient", "aiohttp_retry.ExponentialRetry")
    ):
        backoff.append(Evidence(found.module.path, found.call.line, "wired", found.qualified))
    for found in resolved_calls(ctx, _URLLIB3_RETRY):
        where = (found.module.path, found.call.line)
        if "backoff_factor" in found.call.kwargs and "backoff_factor" not in found.call.off:
            backoff.append(Evidence(*where, "wired", "urllib3 Retry(backoff_factor=...)"))
        else:
            flat.append(Evidence(*where, "wired", "urllib3 Retry without backoff_factor"))
    for found in resolved_calls(ctx, ("httpx.HTTPTransport", "httpx.AsyncHTTPTransport")):
        if "retries" in found.call.kwargs:
            note = "httpx transport retries (connection errors only, no backoff)"
            flat.append(Evidence(found.module.path, found.call.line, "wired", note))
    for found in resolved_calls(ctx, _SDK_CLIENTS):
        if found.qualified not in _SDK_CLIENTS:
            continue
        where = (found.module.path, found.call.line)
        if "max_retries" in found.call.off:
            continue
        if "max_retries" in found.call.kwargs:
            note = f"{found.qualified}(max_retries=...): SDK retries with backoff"
            backoff.append(Evidence(*where, "wired", note))
        else:
            note = f"{found.qualified}: the SDK's default 2 retries with backoff (implicit)"
            backoff.append(Evidence(*where, "code", note))
    for found in resolved_calls(
        ctx, ("litellm.completion", "litellm.acompletion", "litellm.Router")
    ):
        if {"num_retries", "max_retries"} & set(found.call.kwargs):
            note = f"{found.qualified}(num_retries=...)"
            backoff.append(Evidence(found.module.path, found.call.line, "wired", note))
    return backoff, flat


def _loop_retries(ctx: AuditContext) -> tuple[list[Evidence], list[Evidence]]:
    """(with backoff, without backoff) evidence from hand-written retry loops."""
    backoff: list[Evidence] = []
    flat: list[Evidence] = []
    for module in production(ctx).modules:
        for loop in module.loops:
            if not loop.handled:
                continue
            bounded = loop.kind == "for" and loop.iter.startswith(("range(", "itertools.count"))
            names = name_words(f"{loop.target} {loop.iter} {' '.join(loop.counters)}")
            named = bool(_RETRY_WORDS.intersection(names))
            if not (named or (bounded and loop.sleeps)):
                continue
            wired = loop_state(ctx, module, loop) == "wired"
            strength: Strength = "wired" if wired else "code"
            if loop.backoff:
                note = "retry loop with a computed (growing) delay"
                backoff.append(Evidence(module.path, loop.line, strength, note))
            elif loop.sleeps:
                flat.append(Evidence(module.path, loop.line, strength, "retry loop, fixed delay"))
            else:
                flat.append(Evidence(module.path, loop.line, strength, "retry loop, no delay"))
    return backoff, flat


@check(
    id="llm.retries",
    category="llm",
    title="Retries with backoff on transient failures",
    severity="medium",
    effort="S",
    weight=1.0,
    depends_on=("llm.timeouts",),
    impact=(
        "Transient 429/5xx and dropped connections from model APIs become user-facing "
        "errors; retries without backoff turn a provider's hiccup into a retry storm."
    ),
    recommendation=(
        "Retry idempotent model calls on timeouts, 429 and 5xx with capped exponential "
        "backoff and jitter (tenacity, backoff, stamina or the SDK's max_retries), and "
        "honour Retry-After."
    ),
)
def check_retries(ctx: AuditContext) -> Outcome:
    """Retries exist on a running path, and back off."""
    if (unknown := no_python(ctx)) is not None:
        return unknown
    lib_backoff, lib_flat = _library_retries(ctx)
    loop_backoff, loop_flat = _loop_retries(ctx)
    backoff, flat = lib_backoff + loop_backoff, lib_flat + loop_flat
    evidence = ranked(backoff + flat)
    if any(e.strength == "wired" for e in backoff):
        gaps = tuple(f"{e.location}: {e.note}" for e in flat[:3])
        return Outcome(
            "pass",
            100,
            "transient failures are retried with backoff",
            evidence,
            strengths=("retries with backoff on a running path",),
            gaps=gaps,
        )
    if any(e.strength == "wired" for e in flat):
        return Outcome(
            "warn",
            60,
            "retries without backoff",
            evidence,
            gaps=("retries fire immediately or at a fixed pace: add exponential backoff",),
        )
    if backoff or flat:
        return Outcome(
            "warn",
            50,
            "retries only by default or in code that is not called",
            evidence,
            gaps=("no deliberate retry policy on a running path",),
        )
    declared = ctx.deps.evidence("tenacity", "backoff", "stamina", "aiohttp-retry")
    if declared:
        return Outcome(
            "warn",
            45,
            "a retry library is declared but never used",
            ranked(declared),
            gaps=("declared retry library is not applied to any call",),
        )
    if not find_providers(ctx) and not _has_http_clients(ctx):
        return Outcome("unknown", 0, "no LLM or HTTP calls found: nothing to retry")
    return Outcome(
        "fail",
        0,
        "no retries: one transient error fails the request",
        gaps=("no retry policy on model or HTTP calls",),
    )


def _has_http_clients(ctx: AuditContext) -> bool:
    return next(resolved_calls(ctx, tuple(_TIMEOUT_DEFAULTS)), None) is not None


# --- streaming ---------------------------------------------------------------------------
#: Calls that stream from a model: SDK and LangChain streaming methods, and reading an
#: HTTP response body piece by piece (raw calls to a streaming endpoint).
_STREAM_TAILS = frozenset(
    {
        "stream",
        "astream",
        "astream_events",
        "astream_log",
        "stream_events",
        "stream_async",
        "aiter_lines",
        "aiter_bytes",
        "aiter_text",
        "aiter_raw",
        "iter_lines",
        "iter_bytes",
        "iter_text",
        "iter_content",
        "iter_any",
        "iter_chunked",
        "aconnect_sse",
        "connect_sse",
    }
)
_CLIENT_STREAMS = frozenset(
    {
        "StreamingResponse",
        "EventSourceResponse",
        "StreamingHttpResponse",
        "stream_with_context",
        "StreamResponse",
    }
)
_STREAM_MEDIA = frozenset({"text/event-stream", "application/x-ndjson"})


@check(
    id="llm.streaming",
    category="llm",
    title="Tokens streamed from the model to the client",
    severity="medium",
    effort="M",
    weight=0.75,
    impact=(
        "Without streaming, users stare at nothing for the whole generation (often 5-30 s) "
        "and proxies time out long answers."
    ),
    recommendation=(
        "Call the model with stream=True and forward chunks as they arrive "
        "(Server-Sent Events via StreamingResponse/EventSourceResponse, or a WebSocket)."
    ),
)
def check_streaming(ctx: AuditContext) -> Outcome:
    """The model is called streaming and the stream reaches the client."""
    if (unknown := no_python(ctx)) is not None:
        return unknown
    modules = llm_modules(ctx)
    if not modules:
        return Outcome("unknown", 0, "no LLM integration found: nothing to stream")
    model_side: list[Evidence] = []
    client_side: list[Evidence] = []
    for module in production(ctx).modules:
        for call in module.calls:
            if module.path in modules and (
                ("stream" in call.kwargs and "stream" not in call.off) or call.tail in _STREAM_TAILS
            ):
                model_side.append(Evidence(module.path, call.line, "wired", f"{call.name} streams"))
            if call.tail in _CLIENT_STREAMS:
                client_side.append(Evidence(module.path, call.line, "wired", call.tail))
        for item in module.defs:
            streams = any(b.rsplit(".", 1)[-1] in _CLIENT_STREAMS for b in item.bases)
            if item.kind == "class" and streams and def_state(ctx, module, item) == "wired":
                note = f"{item.name} streams responses"
                client_side.append(Evidence(module.path, item.line, "wired", note))
        for text, line in module.tokens:
            if text in _STREAM_MEDIA:
                client_side.append(Evidence(module.path, line, "code", f"media type {text}"))
    for served in served_routes(ctx):
        if served.method == "WEBSOCKET":
            note = f"WebSocket route {served.path}"
            client_side.append(Evidence(served.module.path, served.line, "wired", note))
    evidence = ranked(model_side + client_side)
    clients = any(e.strength == "wired" for e in client_side)
    if model_side and clients:
        return Outcome(
            "pass",
            100,
            "model output is streamed to clients",
            evidence,
            strengths=("streamed from the model and to the client",),
        )
    if model_side:
        return Outcome(
            "warn",
            55,
            "the model streams, but responses reach clients only when complete",
            evidence,
            gaps=("no streaming response (SSE/WebSocket) to clients",),
        )
    if client_side:
        return Outcome(
            "warn",
            50,
            "responses are streamed, but the model call is not",
            evidence,
            gaps=("the model is called without stream=True: first byte waits for the answer",),
        )
    return Outcome(
        "fail",
        0,
        "no streaming: every answer arrives only when fully generated",
        gaps=("neither the model call nor the response streams",),
    )
