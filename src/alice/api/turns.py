"""Running a chat turn behind an HTTP response, streamed or whole.

Both chat APIs (native and OpenAI-compatible) read the turn's events up to the model's
first output before they commit to a status code: a model that is down or a conversation
that does not exist is then an ordinary JSON error with the right status (503 with
Retry-After, 404), not an error buried in a 200 stream. Once streaming has begun, a
failure becomes the API's error event, never a silent cut.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable

import anyio
import structlog

from alice.chat import (
    ChatService,
    TurnDelta,
    TurnEvent,
    TurnFinished,
    TurnRequest,
    TurnStarted,
)
from alice.errors import AliceError
from alice.store.models import DEFAULT_TENANT

__all__ = ["PrimedTurn", "prime_turn"]

log = structlog.get_logger("alice.api")


class PrimedTurn:
    """A turn whose first events are already read (see the module docstring)."""

    def __init__(self, events: AsyncGenerator[TurnEvent, None], buffered: list[TurnEvent]) -> None:
        self._events = events
        self._buffered = buffered
        started = next((e for e in buffered if isinstance(e, TurnStarted)), None)
        self.conversation_id = started.conversation_id if started else ""

    async def frames(
        self,
        encode: Callable[[TurnEvent], bytes | None],
        on_error: Callable[[AliceError], bytes],
        trailer: bytes | None = None,
    ) -> AsyncIterator[bytes]:
        """Encode every event; errors become ``on_error``'s frame, then the stream ends."""
        try:
            for event in self._buffered:
                frame = encode(event)
                if frame:
                    yield frame
            self._buffered.clear()
            async for event in self._events:
                frame = encode(event)
                if frame:
                    yield frame
        except AliceError as exc:
            yield on_error(exc)
            return
        except Exception as exc:
            log.error("stream.crashed", error_class=type(exc).__name__, exc_info=exc)
            yield on_error(AliceError())
            return
        finally:
            # Shielded: when the client disconnects this runs inside a cancelled scope,
            # and the turn must still get to record its partial answer.
            with anyio.CancelScope(shield=True):
                await self._events.aclose()
        if trailer:
            yield trailer


async def prime_turn(
    service: ChatService, request: TurnRequest, *, tenant_id: str = DEFAULT_TENANT
) -> PrimedTurn:
    """Start a turn and read it up to the model's first output.

    Raises:
        AliceError: the turn failed before the model produced anything.
    """
    events = service.stream(request, tenant_id=tenant_id)
    buffered: list[TurnEvent] = []
    try:
        async for event in events:
            buffered.append(event)
            if isinstance(event, TurnDelta | TurnFinished):
                break
    except BaseException:
        await events.aclose()
        raise
    return PrimedTurn(events, buffered)
