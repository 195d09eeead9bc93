"""A stage's engines in order of preference, each behind a circuit breaker.

``local → remote`` for speech recognition, ``piper → espeak-ng (→ remote)`` for speech:
the chain tries the engines in turn and moves on when one fails (any `VoiceError`: the
engine broke, is missing, or is cooling down). A failing engine's breaker opens
(`alice.llm.router.breaker`, the same state machine the model router uses), so later runs
skip it until its cooldown has passed. Under pressure (the Guardian out of ``ok``) the
light engines go first: espeak-ng speaks in a millisecond what piper needs a core for.

Which errors move on is decided here and only here: engine failures do; a client's
input error (`InvalidAudioError`, a 4xx) and cancellation go straight up. An engine that
takes longer than ``timeout_s`` for one call (or between two chunks of a stream) counts
as failed too: the chain moves on and its breaker learns (a thread already running in
the engine finishes in the background; its result is dropped).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Generic, Protocol, TypeVar

import structlog

from alice.errors import VoiceError, VoiceUnavailableError
from alice.llm.router.breaker import BreakerConfig, CircuitBreaker

__all__ = ["Engine", "EngineChain"]

log = structlog.get_logger("alice.voice")


class Engine(Protocol):
    """What the chain needs of an engine."""

    name: str


E = TypeVar("E", bound=Engine)
T = TypeVar("T")


class EngineChain(Generic[E]):
    """Engines of one stage, tried in order."""

    def __init__(
        self,
        stage: str,
        engines: Sequence[E],
        *,
        breaker: BreakerConfig | None = None,
        under_pressure: Callable[[], bool] = lambda: False,
        heavy: Callable[[E], bool] = lambda _engine: False,
        on_failure: Callable[[str, str, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        timeout_s: float | None = None,
        error: type[VoiceError] = VoiceError,
    ) -> None:
        if not engines:
            raise ValueError(f"the {stage} chain needs at least one engine")
        self.stage = stage
        self.engines = tuple(engines)
        self._breakers = {id(e): CircuitBreaker(breaker or BreakerConfig()) for e in engines}
        self._under_pressure = under_pressure
        self._heavy = heavy
        self._on_failure = on_failure
        self._clock = clock
        self._timeout_s = timeout_s
        self._error = error

    def _too_slow(self, engine: E) -> VoiceError:
        return self._error(
            f"The {self.stage} engine {engine.name} took longer than {self._timeout_s:g} s.",
            transient=True,
        )

    def order(self, accept: Callable[[E], bool] = lambda _engine: True) -> list[E]:
        """The engines to try now, in order: light first under pressure."""
        engines = [e for e in self.engines if accept(e)]
        if self._under_pressure():
            engines.sort(key=self._heavy)  # stable: the configured order within each
        return engines

    def status(self) -> dict[str, str]:
        """Each engine's breaker state."""
        now = self._clock()
        return {e.name: self._breakers[id(e)].state(now) for e in self.engines}

    def _failed(self, engine: E, exc: VoiceError) -> None:
        self._breakers[id(engine)].record(False, self._clock())
        log.warning(
            "voice.engine_failed",
            stage=self.stage,
            engine=engine.name,
            error_class=exc.code,
            transient=exc.transient,
        )
        if self._on_failure is not None:
            self._on_failure(self.stage, engine.name, exc.code)

    def _allowed(self, engine: E) -> bool:
        return self._breakers[id(engine)].allow(self._clock())

    async def call(
        self, run: Callable[[E], Awaitable[T]], *, accept: Callable[[E], bool] = lambda _e: True
    ) -> tuple[T, E]:
        """The first engine's answer that succeeds, and that engine.

        Raises:
            VoiceError: every engine failed (the last failure), or none may run now.
        """
        last: VoiceError | None = None
        for engine in self.order(accept):
            if not self._allowed(engine):
                continue
            try:
                result = await asyncio.wait_for(run(engine), self._timeout_s)
            except TimeoutError:
                exc = self._too_slow(engine)
                self._failed(engine, exc)
                last = exc
                continue
            except VoiceError as exc:
                self._failed(engine, exc)
                last = exc
                continue
            self._breakers[id(engine)].record(True, self._clock())
            return result, engine
        raise last or VoiceUnavailableError(f"No {self.stage} engine can run now.", retry_after=5)

    async def stream(
        self,
        run: Callable[[E], AsyncIterator[T]],
        *,
        accept: Callable[[E], bool] = lambda _e: True,
    ) -> AsyncIterator[tuple[T, E]]:
        """The items of the first engine that yields.

        After its first item the engine is kept: a failure then goes up, since the
        listener already heard part of the answer.
        """
        last: VoiceError | None = None
        for engine in self.order(accept):
            if not self._allowed(engine):
                continue
            sent = False
            items = run(engine)
            try:
                while True:
                    try:
                        item = await asyncio.wait_for(anext(items), self._timeout_s)
                    except StopAsyncIteration:
                        break
                    except TimeoutError:
                        raise self._too_slow(engine) from None
                    sent = True
                    yield item, engine
            except VoiceError as exc:
                self._failed(engine, exc)
                if sent:
                    raise
                last = exc
                continue
            finally:
                # An engine left early (timeout, failure, the listener gone) stops now.
                close = getattr(items, "aclose", None)
                if close is not None:
                    await close()
            self._breakers[id(engine)].record(True, self._clock())
            return
        raise last or VoiceUnavailableError(f"No {self.stage} engine can run now.", retry_after=5)

    async def aclose(self) -> None:
        """Close every engine that can be closed."""
        for engine in self.engines:
            close = getattr(engine, "aclose", None)
            if close is not None:
                await close()
