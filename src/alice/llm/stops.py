"""Stop-sequence scanning over streamed text (pure, no model needed)."""

from __future__ import annotations

__all__ = ["StopScanner"]


class StopScanner:
    r"""Finds the first stop sequence in text that arrives in pieces.

    Text that could still turn out to be the start of a stop sequence is held back, so
    nothing of a stop sequence is ever emitted; and a stop that is complete is not acted
    on while a stop starting earlier may still complete (stops ``"a\na"`` and ``"\n"``
    over ``"a\n"``: the answer is cut at the earliest stop, as over the whole text).
    """

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._held = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """Add ``text``; return what is safe to emit. Sets `stopped` on a stop sequence."""
        if self.stopped:
            return ""
        buffer = self._held + text
        cut = self._first_stop(buffer)
        # Where a stop that has not arrived whole may begin (the buffer's end).
        pending = len(buffer) - self._longest_stop_prefix_suffix(buffer)
        if cut >= 0 and cut <= pending:
            self.stopped = True
            self._held = ""
            return buffer[:cut]
        self._held = buffer[pending:]
        return buffer[:pending]

    def flush(self) -> str:
        """At the end of generation: what was held back, up to a stop if it holds one."""
        held, self._held = self._held, ""
        if self.stopped:
            return ""
        cut = self._first_stop(held)
        if cut >= 0:
            self.stopped = True
            return held[:cut]
        return held

    def _first_stop(self, buffer: str) -> int:
        return min((i for i in (buffer.find(s) for s in self._stops) if i >= 0), default=-1)

    def _longest_stop_prefix_suffix(self, buffer: str) -> int:
        best = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(buffer)), best, -1):
                if buffer.endswith(stop[:size]):
                    best = size
                    break
        return best
