"""The model router: tiers of fallback chains over backends that may fail.

For one request the router walks the tier's chain of routes in order. For each route:

1. the backend's circuit breaker must allow a call (an open breaker is skipped);
2. the backend's admission grants a slot (a full queue answers 429 at once);
3. the stream is guarded by a first-token timeout and an inter-token (stall) timeout;
4. a failure *before the first token* is retried with backoff (transient errors), or
   the next route is tried (backend errors), or the request fails (client errors);
   a failure *after the first token* ends the stream with that error: text the client
   already has cannot be taken back, so it is never silently retried elsewhere;
5. a stall or first-token timeout also trips the killswitch: an embedded backend is
   restarted, a remote one is marked down (its breaker forced open) until it recovers.

When every route has failed, the tier's last resort answers: the offline message.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

import structlog

from alice.errors import AliceError, ModelTimeoutError, ModelUnavailableError, OverloadedError
from alice.health import ComponentHealth
from alice.llm.provider import Provider
from alice.llm.router.admission import Admission, Priority
from alice.llm.router.breaker import BreakerConfig, CircuitBreaker
from alice.llm.router.policy import Backoff, category_of
from alice.llm.types import Chunk, CompletionRequest

__all__ = ["Backend", "ModelRouter", "Restartable", "Route", "RouterConfig"]

log = structlog.get_logger("alice.router")


@runtime_checkable
class Restartable(Protocol):
    """A backend the killswitch can restart (the embedded model)."""

    async def restart(self, *, reason: str) -> float:
        """Kill and restart; return seconds until ready."""
        ...


@dataclass(frozen=True, slots=True)
class RouterConfig:
    """Timeouts, retries and capacity of the router."""

    first_token_timeout_s: float = 30.0
    stall_timeout_s: float = 10.0
    backoff: Backoff = field(default_factory=Backoff)
    concurrency: int = 3
    max_queue: int = 16
    max_wait_share: float | None = 0.25
    retry_after_s: int = 2
    breaker: BreakerConfig = field(default_factory=BreakerConfig)

    def __post_init__(self) -> None:
        if self.first_token_timeout_s <= 0 or self.stall_timeout_s <= 0:
            raise ValueError("timeouts must be positive")


@dataclass(slots=True)
class Backend:
    """A provider with its breaker and admission."""

    id: str
    provider: Provider
    breaker: CircuitBreaker
    admission: Admission


@dataclass(frozen=True, slots=True)
class Route:
    """One step of a fallback chain: a backend and the model to ask it for."""

    backend: str
    model: str


class ModelRouter:
    """Routes completion requests over tiers of fallback chains."""

    name = "router"

    def __init__(
        self,
        *,
        providers: Mapping[str, Provider],
        tiers: Mapping[str, Sequence[Route]],
        config: RouterConfig | None = None,
        last_resort: Provider | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config or RouterConfig()
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self.backends = {
            backend_id: Backend(
                backend_id,
                provider,
                CircuitBreaker(self.config.breaker),
                Admission(
                    limit=self.config.concurrency,
                    max_queue=self.config.max_queue,
                    retry_after_s=self.config.retry_after_s,
                    max_wait_share=self.config.max_wait_share,
                    clock=clock,
                ),
            )
            for backend_id, provider in providers.items()
        }
        for tier, routes in tiers.items():
            if not routes:
                raise ValueError(f"tier {tier!r} has no routes")
            unknown = [r.backend for r in routes if r.backend not in self.backends]
            if unknown:
                raise ValueError(f"tier {tier!r} names unknown backends: {unknown}")
        self.tiers = {tier: tuple(routes) for tier, routes in tiers.items()}
        self._last_resort = last_resort
        self._restarts: set[asyncio.Task[None]] = set()
        self._closed = False

    # --- what is served -----------------------------------------------------------------
    @property
    def models(self) -> tuple[str, ...]:
        """Every model some tier can route to, in tier order, without repeats."""
        seen: dict[str, None] = {}
        for routes in self.tiers.values():
            for route in routes:
                seen.setdefault(route.model, None)
        return tuple(seen)

    def chain(self, tier: str, model: str | None = None) -> tuple[Route, ...]:
        """The routes tried for ``tier``; a requested model's routes go first."""
        routes = self.tiers.get(tier) or self.tiers["primary"]
        if model is None:
            return routes
        wanted = tuple(r for r in routes if r.model == model)
        if not wanted:
            wanted = tuple(r for rs in self.tiers.values() for r in rs if r.model == model)[:1]
        return wanted + tuple(r for r in routes if r not in wanted)

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        """Start every backend; one that fails to start stays down, the others serve."""
        results = await asyncio.gather(
            *(b.provider.start() for b in self.backends.values()), return_exceptions=True
        )
        for backend, result in zip(self.backends.values(), results, strict=True):
            if isinstance(result, BaseException):
                log.error("backend.start_failed", backend=backend.id, reason=str(result))

    async def aclose(self) -> None:
        """Stop every backend."""
        self._closed = True
        for task in list(self._restarts):
            task.cancel()
        await asyncio.gather(
            *(b.provider.aclose() for b in self.backends.values()), return_exceptions=True
        )

    async def health(self) -> ComponentHealth:
        """Healthy when the primary chain's first backend is up; degraded when only others are.

        A backend is up when its own health check passes *and* its breaker is not open:
        a server that answers health checks but fails every chat is down.
        """
        now = self._clock()
        states: dict[str, ComponentHealth] = {}
        for backend_id, backend in self.backends.items():
            health = await backend.provider.health()
            if health.state != "unhealthy" and backend.breaker.state(now) == "open":
                health = ComponentHealth("unhealthy", f"marked down: {backend.breaker.last_reason}")
            states[backend_id] = health
        first = self.tiers["primary"][0].backend
        if states[first].state == "healthy":
            return ComponentHealth("healthy", f"{first}: {states[first].detail}")
        up = [b for b, h in states.items() if h.state != "unhealthy"]
        if up:
            return ComponentHealth("degraded", f"{first} down; serving from {', '.join(up)}")
        if self._last_resort is not None:
            return ComponentHealth("degraded", "every model is down: offline answers only")
        return ComponentHealth("unhealthy", f"every model is down ({states[first].detail})")

    def status(self) -> dict[str, dict[str, object]]:
        """Breaker and queue state per backend, for the status endpoint."""
        now = self._clock()
        return {
            backend.id: {
                "breaker": backend.breaker.state(now),
                "breaker_reason": backend.breaker.last_reason,
                "in_flight": backend.admission.in_flight,
                "queued": backend.admission.queued,
                "mean_hold_ms": _ms(backend.admission.mean_hold_s),
                "max_queue_wait_ms": _ms(backend.admission.max_wait_s),
            }
            for backend in self.backends.values()
        }

    # --- killswitch ---------------------------------------------------------------------
    def killswitch(self, backend_id: str, reason: str) -> None:
        """Stop a hung backend: restart it if embedded, else mark it down."""
        backend = self.backends[backend_id]
        if self._closed:
            # A request still draining at shutdown timed out: nothing left to restart.
            log.info("backend.killswitch_after_close", backend=backend_id, reason=reason)
            return
        if isinstance(backend.provider, Restartable):
            # Not marked down: requests arriving during the restart wait for the fresh
            # worker (about a second) instead of failing over or getting offline answers.
            task = asyncio.create_task(self._restart(backend, reason))
        else:
            backend.breaker.force_open(self._clock(), reason)
            log.warning("backend.marked_down", backend=backend_id, reason=reason)
            task = asyncio.create_task(self._probe(backend))
        self._restarts.add(task)
        task.add_done_callback(self._restarts.discard)

    async def _probe(self, backend: Backend) -> None:
        """Probe a marked-down remote backend until its health check passes again."""
        interval = max(self.config.breaker.cooldown_s, 0.1)
        while True:
            await asyncio.sleep(interval)
            if backend.breaker.state(self._clock()) == "closed":
                return  # recovered through a half-open call meanwhile
            if (await backend.provider.health()).state == "healthy":
                backend.breaker.reset()
                log.info("backend.recovered", backend=backend.id)
                return

    async def _restart(self, backend: Backend, reason: str) -> None:
        assert isinstance(backend.provider, Restartable)  # noqa: S101 - checked by caller
        try:
            seconds = await backend.provider.restart(reason=reason)
        except AliceError as exc:
            log.error("backend.restart_failed", backend=backend.id, error_class=exc.code)
            return
        except Exception as exc:
            log.error("backend.restart_failed", backend=backend.id, error=str(exc))
            return
        backend.breaker.reset()  # back in service at once: the restarted worker is fresh
        log.info("backend.restarted", backend=backend.id, seconds=round(seconds, 3))

    # --- streaming ----------------------------------------------------------------------
    def check_admission(
        self, tier: str = "primary", model: str | None = None, *, priority: int
    ) -> None:
        """Raise `OverloadedError` now if `stream` would be refused for it at once.

        Only the first backend of the chain counts, and only while its breaker is
        closed: that is the one `stream` would queue on (it does not fail over from an
        overloaded backend). Holds nothing; `stream` decides again.
        """
        for route in self.chain(tier, model):
            backend = self.backends[route.backend]
            if backend.breaker.state(self._clock()) == "closed":
                backend.admission.check(priority)
            return

    async def stream(
        self,
        request: CompletionRequest,
        *,
        tier: str = "primary",
        priority: int = Priority.INTERACTIVE,
    ) -> AsyncIterator[Chunk]:
        """Stream an answer; the final chunk names the model that gave it.

        Raises:
            AliceError: the request is at fault, every route failed and there is no
                last resort, the queue is full, or a route failed after its first token.
        """
        last_error: AliceError | None = None
        for route in self.chain(tier, request.model):
            backend = self.backends[route.backend]
            attempt = 0
            while True:
                if not backend.breaker.allow(self._clock()):
                    last_error = last_error or ModelUnavailableError(
                        f"Backend {backend.id} is marked down.",
                        retry_after=self.config.retry_after_s,
                    )
                    break
                sent = False
                try:
                    async with backend.admission.slot(priority):
                        async for chunk in self._guarded(
                            backend, replace(request, model=route.model)
                        ):
                            sent = sent or bool(chunk.text)
                            if chunk.finish_reason is not None:
                                chunk = replace(chunk, model=route.model)
                            yield chunk
                    backend.breaker.record(True, self._clock())
                    return
                except OverloadedError:
                    raise  # back-pressure: the client hears at once; not a backend failure
                except AliceError as exc:
                    category = category_of(exc)
                    if category != "client":
                        backend.breaker.record(False, self._clock())
                    if sent or category == "client":
                        raise
                    last_error = exc
                    log.warning(
                        "route.failed",
                        backend=backend.id,
                        model=route.model,
                        error_class=exc.code,
                        attempt=attempt,
                    )
                    attempt += 1
                    if category == "transient" and attempt <= self.config.backoff.retries:
                        await asyncio.sleep(self.config.backoff.delay(attempt, self._rng))
                        continue
                    break
        if self._last_resort is not None:
            log.warning(
                "route.offline", tier=tier, error_class=last_error.code if last_error else None
            )
            async for chunk in self._last_resort.stream(request):
                yield chunk
            return
        raise last_error or ModelUnavailableError(retry_after=self.config.retry_after_s)

    async def _guarded(self, backend: Backend, request: CompletionRequest) -> AsyncIterator[Chunk]:
        """The backend's stream with first-token and stall timeouts."""
        stream = backend.provider.stream(request)
        iterator = aiter(stream)
        timeout = self.config.first_token_timeout_s
        what = "first token"
        try:
            while True:
                try:
                    async with asyncio.timeout(timeout):
                        chunk = await anext(iterator)
                except StopAsyncIteration:
                    return
                except TimeoutError as exc:
                    self.killswitch(backend.id, f"no {what} for {timeout:g} s")
                    raise ModelTimeoutError(
                        f"The model sent no {what} for {timeout:g} s; it is being restarted."
                    ) from exc
                yield chunk
                if chunk.text:
                    timeout, what = self.config.stall_timeout_s, "token"
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)
