"""The conversation service: the one path every channel (HTTP, OpenAI API, CLI) uses.

A turn is: validate → read the stored history → look the request up in the response
cache → commit the user's message (the model already starts on it; nothing of the
answer is sent before the commit) → stream the model's answer → commit the answer →
report ids and usage. A cache hit commits the user's message and the answer in one
transaction before anything is sent. The answer is committed before the final event is
yielded, so a client that saw the final event has an answer on disk. A turn that fails
or is abandoned mid-answer still stores what was produced, marked ``error`` or
``cancelled``, and never becomes context for later turns.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, replace
from typing import Protocol

import structlog
from opentelemetry.trace import Span

from alice.cache import CachedAnswer, ResponseCache, cache_key
from alice.errors import (
    AliceError,
    InvalidRequestError,
    LoadShedError,
    MessageTooLongError,
    ModelNotFoundError,
    OverloadedError,
)
from alice.guardian.runtime import ModeEffects
from alice.llm.providers.offline import OFFLINE_MODEL
from alice.llm.router.admission import Priority
from alice.llm.router.router import ModelRouter
from alice.llm.types import ChatMessage, Chunk, CompletionRequest, FinishReason, Usage
from alice.observability.context import child_span, note
from alice.observability.metrics import Metrics
from alice.privacy.pii import PiiMasker
from alice.privacy.policy import TenantPolicies
from alice.privacy.subjects import SubjectIndex
from alice.store.database import Database
from alice.store.models import DEFAULT_TENANT
from alice.store.repository import (
    AnswerRecord,
    ConversationRepository,
    MessageRecord,
    TurnStart,
)

__all__ = [
    "ChatConfig",
    "ChatService",
    "TurnDelta",
    "TurnEvent",
    "TurnFinished",
    "TurnRequest",
    "TurnResult",
    "TurnStarted",
]

log = structlog.get_logger("alice.chat")

# Refusals before any answer: the turn is removed again instead of stored as failed.
_REFUSALS = frozenset({OverloadedError.code, LoadShedError.code})


@dataclass(frozen=True, slots=True)
class ChatConfig:
    """Limits and defaults of the chat service."""

    system_prompt: str
    default_max_tokens: int = 256
    max_tokens_limit: int = 2048
    default_temperature: float = 0.7
    history_messages: int = 20
    max_message_chars: int = 16000
    shed_retry_after_s: int = 10
    #: Mask personal values before the model (tenants may override, see TenantPolicies).
    mask_pii: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.default_max_tokens <= self.max_tokens_limit:
            raise ValueError("default_max_tokens must be in 1..max_tokens_limit")
        if self.max_message_chars < 1 or self.history_messages < 0:
            raise ValueError("max_message_chars must be positive, history_messages >= 0")


@dataclass(frozen=True, slots=True)
class TurnRequest:
    """One user turn.

    ``context`` is the dialogue so far when the client manages it (the OpenAI API sends
    the whole history every time); when it is None the service reads the conversation's
    stored history instead.
    """

    text: str
    conversation_id: str | None = None
    context: tuple[ChatMessage, ...] | None = None
    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    priority: int = Priority.INTERACTIVE
    #: The end user a client names (OpenAI's ``user``); stored only as a keyed hash.
    user: str | None = None


@dataclass(frozen=True, slots=True)
class TurnStarted:
    """The user's message is committed.

    ``cached`` says the whole answer is already known (a cache hit): every later event
    of the turn follows without waiting.
    """

    conversation_id: str
    message_id: str
    model: str
    cached: bool = False


@dataclass(frozen=True, slots=True)
class TurnDelta:
    """A piece of the answer."""

    text: str


@dataclass(frozen=True, slots=True)
class TurnFinished:
    """The answer is complete and committed.

    ``model`` is the model that actually answered (a fallback may have); ``offline``
    marks the offline-mode answer given when every model is down.
    """

    conversation_id: str
    message_id: str
    model: str
    text: str
    finish_reason: FinishReason
    usage: Usage
    latency_ms: int
    first_token_ms: int | None
    offline: bool = False
    cached: bool = False


TurnEvent = TurnStarted | TurnDelta | TurnFinished


@dataclass(frozen=True, slots=True)
class TurnResult:
    """A whole turn, for callers that do not stream."""

    started: TurnStarted
    finished: TurnFinished


class ChatService:
    """Runs conversation turns through the model router and the store."""

    def __init__(
        self,
        *,
        router: ModelRouter,
        database: Database,
        config: ChatConfig,
        guardian: ModeSource | None = None,
        cache: ResponseCache | None = None,
        policies: TenantPolicies | None = None,
        subjects: SubjectIndex | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._router = router
        self._metrics = metrics
        # Per-tenant PII masking; without it every tenant gets ChatConfig.mask_pii.
        self._policies = policies
        # Turns a request's ``user`` into the stored subject reference.
        self._subjects = subjects
        self._database = database
        self._config = config
        self._guardian = guardian
        self._cache = cache
        # Deterministic requests being answered right now, by cache key: a second
        # identical request waits for the first one's answer instead of a model call.
        self._flights: dict[str, asyncio.Future[CachedAnswer | None]] = {}

    @property
    def cache(self) -> ResponseCache | None:
        """The response cache, when one is configured."""
        return self._cache

    @property
    def router(self) -> ModelRouter:
        """The model router answering turns."""
        return self._router

    def repository(self, tenant_id: str = DEFAULT_TENANT) -> ConversationRepository:
        """The conversation store of one tenant."""
        return ConversationRepository(self._database, tenant_id=tenant_id)

    async def _masks_pii(self, tenant_id: str) -> bool:
        if self._policies is None:
            return self._config.mask_pii
        return await self._policies.mask_pii(tenant_id)

    def _model(self, requested: str | None) -> str:
        models = self._router.models
        if requested is None or requested == "":
            return models[0]
        if requested not in models:
            raise ModelNotFoundError(
                f"Model {requested!r} is not served here; available: {', '.join(models)}.",
                field="model",
            )
        return requested

    def _validate(self, request: TurnRequest) -> tuple[str, int]:
        text = request.text
        if not text.strip():
            raise InvalidRequestError("The message is empty.", field="text")
        if len(text) > self._config.max_message_chars:
            raise MessageTooLongError(
                f"The message has {len(text)} characters; at most "
                f"{self._config.max_message_chars} are accepted.",
                field="text",
            )
        max_tokens = request.max_tokens or self._config.default_max_tokens
        if max_tokens > self._config.max_tokens_limit:
            raise InvalidRequestError(
                f"max_tokens may be at most {self._config.max_tokens_limit}.", field="max_tokens"
            )
        return self._model(request.model), max_tokens

    def _dialogue(
        self, request: TurnRequest, history: tuple[MessageRecord, ...], history_cap: int | None
    ) -> tuple[ChatMessage, ...]:
        if request.context is not None:
            messages = list(request.context)
            if history_cap is not None:
                # Under pressure the client's own history is cut too: system messages
                # stay, then only the newest turns.
                system = [m for m in messages if m.role == "system"]
                turns = [m for m in messages if m.role != "system"]
                messages = system + (turns[-history_cap:] if history_cap else [])
        else:
            messages = [ChatMessage("system", self._config.system_prompt)]
            messages.extend(
                ChatMessage("assistant" if m.role == "assistant" else "user", m.content)
                for m in history
            )
        messages.append(ChatMessage("user", request.text))
        return tuple(messages)

    async def stream(
        self, request: TurnRequest, *, tenant_id: str = DEFAULT_TENANT
    ) -> AsyncGenerator[TurnEvent, None]:
        """Run one turn, yielding `TurnStarted`, `TurnDelta`s, then `TurnFinished`.

        Raises:
            AliceError: before `TurnStarted` nothing was stored; after it, the partial
                answer is stored with status ``error``.
        """
        mode = self._guardian.mode if self._guardian is not None else "ok"
        with child_span("chat.turn", {"alice.guardian_mode": mode}, nest=True):
            turn = self._stream(request, tenant_id)
            async with aclosing(turn):
                async for event in turn:
                    yield event

    async def _stream(
        self, request: TurnRequest, tenant_id: str
    ) -> AsyncGenerator[TurnEvent, None]:
        started_at = time.perf_counter()
        model, max_tokens = self._validate(request)
        effects = self._guardian.effects if self._guardian is not None else ModeEffects()
        if effects.shed_background and request.priority >= Priority.BACKGROUND:
            raise LoadShedError(retry_after=self._config.shed_retry_after_s)
        if effects.max_tokens_cap is not None:
            max_tokens = min(max_tokens, effects.max_tokens_cap)
        history_limit = 0 if request.context is not None else self._config.history_messages
        if effects.history_cap is not None:
            history_limit = min(history_limit, effects.history_cap)
        repo = self.repository(tenant_id)
        history: tuple[MessageRecord, ...] = ()
        if request.conversation_id is not None and history_limit > 0:
            history = await repo.history(request.conversation_id, limit=history_limit)
        completion = CompletionRequest(
            messages=self._dialogue(request, history, effects.history_cap),
            model=model,
            max_tokens=max_tokens,
            temperature=(
                self._config.default_temperature
                if request.temperature is None
                else request.temperature
            ),
            top_p=request.top_p,
            stop=request.stop,
            seed=request.seed,
        )
        # Personal numbers become placeholders before the model (and the cache) sees the
        # dialogue; the answer gets the originals back as it streams.
        masker = PiiMasker() if await self._masks_pii(tenant_id) else None
        if masker is not None:
            completion = masker.mask_request(completion)
            if not masker.masked:
                masker = None  # nothing to put back into the answer
        subject = (
            self._subjects.ref(tenant_id, request.user)
            if self._subjects is not None and request.user
            else None
        )
        # A named user's cached answers are theirs alone (and erased with them).
        scope = tenant_id if subject is None else f"{tenant_id}/{subject}"
        source = _AnswerSource(
            self, completion, tier=effects.tier, priority=request.priority, scope=scope
        )
        try:
            with child_span("cache.lookup") as span:
                hit = await source.lookup()
                span.set_attribute("alice.cache_hit", hit is not None)
            if hit is not None:
                if masker is not None:
                    hit = replace(hit, text=masker.unmask(hit.text))
                cached = self._cached_turn(repo, request, model, hit, started_at, subject)
                async with aclosing(cached):
                    async for event in cached:
                        yield event
                return
            # A request the model's queue would refuse now is refused before anything is
            # stored: an overload is answered without database work (the router still
            # decides; a refusal after this point removes the stored turn again).
            with child_span("guardian.gate", {"alice.tier": effects.tier}):
                self._router.check_admission(
                    effects.tier, completion.model, priority=request.priority
                )
            # The model starts on the question while it is committed: the prompt's
            # prefill hides the commit. Nothing of the answer leaves before the commit
            # (`TurnStarted` is the acknowledgement); a failed commit stops the model.
            model_started = time.perf_counter()
            answer_chunks = source.chunks()
            if masker is not None:
                answer_chunks = masker.unmask_chunks(answer_chunks)
            chunks = _Prefetch(answer_chunks)
            try:
                # One turn of the loop lets the prefetch reach the model (the embedded
                # worker gets its job) before the commit's own CPU work starts: the job
                # went out ~1.2 ms after the commit began, now ~1.2 ms after the request.
                await asyncio.sleep(0)
                with child_span("db.commit_question"):
                    turn = await repo.begin_turn(
                        request.conversation_id, request.text, subject=subject
                    )
            except BaseException:
                await chunks.aclose()
                raise
            yield TurnStarted(turn.conversation_id, turn.message_id, model)
            # aclosing: a client that leaves closes this generator, and the model
            # turn must then store its partial answer at once, not when collected.
            answer = self._model_turn(repo, turn, model, chunks, started_at, model_started)
            async with aclosing(answer):
                async for event in answer:
                    yield event
        finally:
            source.close()

    async def _cached_turn(
        self,
        repo: ConversationRepository,
        request: TurnRequest,
        model: str,
        hit: CachedAnswer,
        started_at: float,
        subject: str | None,
    ) -> AsyncGenerator[TurnEvent, None]:
        """Commit the question and the cached answer together, then send them."""
        usage = hit.usage
        latency_ms = _ms_since(started_at)
        with child_span("db.commit_question", {"alice.cached": True}):
            turn = await repo.begin_turn(
                request.conversation_id,
                request.text,
                subject=subject,
                answer=AnswerRecord(
                    content=hit.text,
                    model=hit.model,
                    status="complete",
                    prompt_tokens=usage.prompt_tokens,
                    completion_tokens=usage.completion_tokens,
                    latency_ms=latency_ms,
                    first_token_ms=latency_ms,
                ),
            )
        stored = turn.answer
        assert stored is not None  # begin_turn stores the answer it was given  # noqa: S101
        yield TurnStarted(turn.conversation_id, turn.message_id, model, cached=True)
        yield TurnDelta(hit.text)
        self._log_turn(
            turn.conversation_id,
            stored.id,
            hit.model,
            usage,
            latency_ms,
            latency_ms,
            finish=hit.finish_reason,
            cached=True,
            decode_s=None,
        )
        yield TurnFinished(
            conversation_id=turn.conversation_id,
            message_id=stored.id,
            model=hit.model,
            text=hit.text,
            finish_reason=hit.finish_reason,  # type: ignore[arg-type]
            usage=usage,
            latency_ms=latency_ms,
            first_token_ms=latency_ms,
            offline=False,
            cached=True,
        )

    async def _model_turn(
        self,
        repo: ConversationRepository,
        turn: TurnStart,
        model: str,
        chunks: _Prefetch,
        started_at: float,
        model_started: float,
    ) -> AsyncGenerator[TurnEvent, None]:
        """Stream the model's answer; commit it (or what there was of it).

        A turn refused before any answer (429 overloaded, 503 load-shed) is removed
        again: the client got the refusal, never the ids, and retries it later.
        """
        conversation_id = turn.conversation_id
        pieces: list[str] = []
        first_token_ms: int | None = None
        first_token_at = 0.0
        usage = Usage()
        served_by = model
        finish: FinishReason = "stop"
        status = "cancelled"
        error_code: str | None = None
        try:
            async for chunk in chunks:
                if chunk.text:
                    if first_token_ms is None:
                        first_token_ms = _ms_since(model_started)
                        first_token_at = time.perf_counter()
                    pieces.append(chunk.text)
                    yield TurnDelta(chunk.text)
                if chunk.finish_reason is not None:
                    finish = chunk.finish_reason
                    usage = chunk.usage or usage
                    served_by = chunk.model or model
            status = "complete"
        except AliceError as exc:
            status, error_code = "error", exc.code
            raise
        except Exception:
            status, error_code = "error", AliceError.code
            raise
        finally:
            # A client that left stops the model now (its slot and the worker's job).
            await asyncio.shield(chunks.aclose())
            if status != "complete" and not pieces and error_code in _REFUSALS:
                await asyncio.shield(self._discard(repo, turn, error_code))
            elif status != "complete":
                # Keep what the client already saw; shielded so that a cancelled
                # request (client gone) still records its partial answer.
                await asyncio.shield(
                    self._store_partial(repo, conversation_id, model, pieces, status, error_code)
                )
        decode_s = time.perf_counter() - first_token_at if first_token_ms is not None else None
        latency_ms = _ms_since(started_at)
        with child_span("db.commit_answer"):
            stored = await repo.add_answer(
                conversation_id,
                AnswerRecord(
                    content="".join(pieces),
                    model=served_by,
                    status="complete",
                    prompt_tokens=usage.prompt_tokens,
                    completion_tokens=usage.completion_tokens,
                    latency_ms=latency_ms,
                    first_token_ms=first_token_ms,
                ),
            )
        self._log_turn(
            conversation_id,
            stored.id,
            served_by,
            usage,
            latency_ms,
            first_token_ms,
            finish=finish,
            cached=False,
            decode_s=decode_s,
        )
        yield TurnFinished(
            conversation_id=conversation_id,
            message_id=stored.id,
            model=served_by,
            text=stored.content,
            finish_reason=finish,
            usage=usage,
            latency_ms=latency_ms,
            first_token_ms=first_token_ms,
            offline=served_by == OFFLINE_MODEL,
            cached=False,
        )

    def _log_turn(
        self,
        conversation_id: str,
        message_id: str,
        model: str,
        usage: Usage,
        latency_ms: int,
        first_token_ms: int | None,
        *,
        finish: str,
        cached: bool,
        decode_s: float | None,
    ) -> None:
        note(
            model=model,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            first_token_ms=first_token_ms,
            cached=cached,
        )
        if self._metrics is not None:
            self._metrics.observe_turn(
                model=model,
                outcome="cached" if cached else "complete",
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                first_token_s=first_token_ms / 1000 if first_token_ms is not None else None,
                decode_s=decode_s,
            )
        log.info(
            "chat.turn",
            cached=cached,
            mode=self._guardian.mode if self._guardian is not None else "ok",
            conversation_id=conversation_id,
            message_id=message_id,
            model=model,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            first_token_ms=first_token_ms,
            latency_ms=latency_ms,
            finish_reason=finish,
        )

    async def complete(
        self, request: TurnRequest, *, tenant_id: str = DEFAULT_TENANT
    ) -> TurnResult:
        """Run one turn to the end and return it whole."""
        started: TurnStarted | None = None
        # aclosing: the turn's generator (its span, its cleanup) ends before the answer is
        # returned, not whenever the event loop finalises an abandoned generator.
        async with aclosing(self.stream(request, tenant_id=tenant_id)) as events:
            async for event in events:
                if isinstance(event, TurnStarted):
                    started = event
                elif isinstance(event, TurnFinished) and started is not None:
                    return TurnResult(started, event)
        raise RuntimeError("a turn ended without finishing")  # stream() always finishes

    async def _discard(
        self, repo: ConversationRepository, turn: TurnStart, error_code: str | None
    ) -> None:
        try:
            await repo.discard_turn(turn)
        except AliceError as exc:
            log.warning("chat.refused_turn_not_removed", error_class=exc.code)
        if self._metrics is not None:
            self._metrics.observe_turn(outcome="refused")
        log.info("chat.turn_refused", conversation_id=turn.conversation_id, error_class=error_code)

    async def _store_partial(
        self,
        repo: ConversationRepository,
        conversation_id: str,
        model: str,
        pieces: list[str],
        status: str,
        error_code: str | None,
    ) -> None:
        try:
            await repo.add_answer(
                conversation_id,
                AnswerRecord(
                    content="".join(pieces),
                    model=model,
                    status=status,
                    prompt_tokens=0,
                    completion_tokens=len(pieces),
                    latency_ms=0,
                    first_token_ms=None,
                    error_code=error_code,
                ),
            )
        except AliceError as exc:
            # The turn already failed; losing the partial record is logged, not raised
            # over the original error.
            log.warning("chat.partial_not_stored", error_class=exc.code)
        if self._metrics is not None:
            self._metrics.observe_turn(outcome="failed" if status == "error" else status)
        log.info("chat.turn_" + status, conversation_id=conversation_id, error_class=error_code)


class ModeSource(Protocol):
    """Where the current Guardian mode and its effects come from."""

    @property
    def mode(self) -> str:
        """The current mode (``ok``, ``brownout``, ``emergency``)."""
        ...

    @property
    def effects(self) -> ModeEffects:
        """What the mode does to chat turns."""
        ...


class _AnswerSource:
    """Where a turn's answer comes from.

    `lookup` finds it in the cache or waits for an identical request in flight; on a
    miss this request becomes the one in flight, and `chunks` asks the router, caching
    a deterministic answer on the way. `close` (always called) releases waiters.
    """

    def __init__(
        self,
        service: ChatService,
        request: CompletionRequest,
        *,
        tier: str,
        priority: int,
        scope: str,
    ) -> None:
        self._service = service
        self.request = request
        self._scope = scope
        self._tier = tier
        self._priority = priority
        self._key: str | None = None
        self._flight: asyncio.Future[CachedAnswer | None] | None = None
        self._answer: CachedAnswer | None = None

    async def lookup(self) -> CachedAnswer | None:
        """The cached (or just computed) answer, or None: then this request computes it."""
        service = self._service
        cache = service._cache
        key = cache_key(self.request, scope=self._scope) if cache is not None else None
        if cache is None or key is None:
            return None
        hit = await cache.get(key)
        if hit is None and key in service._flights:
            hit = await asyncio.shield(service._flights[key])
        if service._metrics is not None:
            service._metrics.observe_cache(hit=hit is not None)
        if hit is not None:
            return hit
        if key not in service._flights:  # another miss may have started one meanwhile
            self._key = key
            self._flight = asyncio.get_running_loop().create_future()
            service._flights[key] = self._flight
        return None

    async def chunks(self) -> AsyncGenerator[Chunk, None]:
        """The router's answer, cached when this request is the one in flight."""
        attributes = {"alice.tier": self._tier, "gen_ai.request.model": self.request.model}
        with child_span("model.generate", attributes) as span:
            async with aclosing(self._traced(span)) as chunks:
                async for chunk in chunks:
                    yield chunk

    async def _traced(self, span: Span) -> AsyncGenerator[Chunk, None]:
        pieces: list[str] = []
        first = True
        async for chunk in self._service._router.stream(
            self.request, tier=self._tier, priority=self._priority
        ):
            if first and chunk.text:
                first = False
                span.add_event("first-token")
            if chunk.finish_reason is not None:
                usage = chunk.usage or Usage()
                span.set_attribute("gen_ai.response.model", chunk.model or self.request.model)
                span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
                span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
            if self._key is not None:
                pieces.append(chunk.text)
                if chunk.finish_reason is not None and chunk.model != OFFLINE_MODEL:
                    usage = chunk.usage or Usage()
                    self._answer = CachedAnswer(
                        text="".join(pieces),
                        model=chunk.model or self.request.model,
                        finish_reason=chunk.finish_reason,
                        prompt_tokens=usage.prompt_tokens,
                        completion_tokens=usage.completion_tokens,
                        created_at=time.time(),
                    )
            yield chunk
        cache = self._service._cache
        if self._key is not None and self._answer is not None and cache is not None:
            await cache.set(self._key, self._answer)

    def close(self) -> None:
        """Hand waiters the answer, or None (they then ask the model themselves)."""
        if self._flight is not None and not self._flight.done():
            self._flight.set_result(self._answer)
        if self._key is not None and self._service._flights.get(self._key) is self._flight:
            del self._service._flights[self._key]


class _Prefetch:
    """An answer's chunks whose first one is already being computed (a running task).

    Iterating awaits that task first, then the rest of the stream; `aclose` cancels the
    task if it is still running (the model stops at its next token) and closes the
    stream. The task starts on construction, so build this inside a running loop.
    """

    def __init__(self, stream: AsyncGenerator[Chunk, None]) -> None:
        self._stream = stream
        self._first: asyncio.Task[Chunk | None] | None = asyncio.ensure_future(self._next())

    async def _next(self) -> Chunk | None:
        return await anext(self._stream, None)

    def __aiter__(self) -> _Prefetch:
        return self

    async def __anext__(self) -> Chunk:
        if self._first is not None:
            # Kept until it is done: a cancelled wait here leaves it for `aclose`.
            chunk = await self._first
            self._first = None
        else:
            chunk = await self._next()
        if chunk is None:
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        """Stop the model's work for this answer; idempotent."""
        first, self._first = self._first, None
        if first is not None:
            first.cancel()
            await asyncio.wait([first])
            if not first.cancelled():
                first.exception()  # retrieved: an error nobody will read is not logged
        await self._stream.aclose()


def _ms_since(start: float) -> int:
    return round((time.perf_counter() - start) * 1000)
