"""Running a chat turn behind an HTTP response, streamed or whole.

Both chat APIs (native and OpenAI-compatible) read the turn's events up to the model's
first output before they commit to a status code: a model that is down or a conversation
that does not exist is then an ordinary JSON error with the right status (503 with
Retry-After, 404), not an error buried in a 200 stream. Once streaming has begun, a
failure becomes the API's error event, never a silent cut.

A turn whose answer is already known when it starts (a cache hit) is read to its end
while priming and sent as one ``text/event-stream`` body: the same events, without a
streaming task per response.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping

import anyio
import structlog
from starlette.responses import Response

from alice.api.sse import SSE_HEADERS, sse_response
from alice.chat import (
    ChatService,
    TurnDelta,
    TurnEvent,
    TurnFinished,
    TurnRequest,
    TurnStarted,
)
from alice.errors import AliceError
from alice.observability.context import note_error
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
        self.complete = bool(buffered) and isinstance(buffered[-1], TurnFinished)

    def response(
        self,
        encode: Callable[[TurnEvent], bytes | None],
        on_error: Callable[[AliceError], bytes],
        *,
        trailer: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """The turn as an SSE response: one body when complete, else a stream."""
        if not self.complete:
            # The events read while priming (the start, the first text) go out at once.
            head = b"".join(frame for frame in map(encode, self._buffered) if frame)
            self._buffered.clear()
            return sse_response(self.frames(encode, on_error, trailer), head=head, headers=headers)
        frames = [frame for frame in map(encode, self._buffered) if frame]
        if trailer:
            frames.append(trailer)
        return Response(
            b"".join(frames),
            media_type="text/event-stream",
            headers={**SSE_HEADERS, **(headers or {})},
        )

    async def frames(
        self,
        encode: Callable[[TurnEvent], bytes | None],
        on_error: Callable[[AliceError], bytes],
        trailer: bytes | None = None,
    ) -> AsyncIterator[bytes]:
        """Encode the events after the head; an error becomes ``on_error``'s frame, last."""
        try:
            async for event in self._events:
                frame = encode(event)
                if frame:
                    yield frame
        except AliceError as exc:
            note_error(exc.code)
            yield on_error(exc)
            return
        except Exception as exc:
            log.error("stream.crashed", error_class=type(exc).__name__, exc_info=exc)
            note_error(AliceError.code)
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
    to_the_end = False
    try:
        async for event in events:
            buffered.append(event)
            if isinstance(event, TurnStarted):
                to_the_end = event.cached
            elif isinstance(event, TurnFinished) or (
                isinstance(event, TurnDelta) and not to_the_end
            ):
                break
    except BaseException:
        await events.aclose()
        raise
    if to_the_end:
        await events.aclose()
    return PrimedTurn(events, buffered)
