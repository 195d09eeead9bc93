"""Cutting streamed answer text into sentences, so speech can start after the first one.

`SentenceSplitter` is fed the answer's pieces as the model writes them and hands back
each sentence once its end is certain: a ``.``, ``!``, ``?`` or ``…`` followed by white
space (or a line break), not inside a known abbreviation (``t.ex.``, ``Dr.``) or a
number (``3.5``). A sentence too short to be worth a synthesis call of its own is kept
and joined to the next; a run-on answer is cut at a comma or a space once it grows past
``max_chars``, so the first audio never waits for a very long sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["SentenceSplitter", "split_sentences"]

_END = re.compile(r"([.!?…]+[\"')\]]*)(\s+)|(\n+)")
# Lower-cased words that end with a dot without ending a sentence (Swedish and English).
_ABBREVIATIONS = frozenset(
    {
        "t.ex.", "bl.a.", "d.v.s.", "dvs.", "m.m.", "o.s.v.", "osv.", "s.k.", "ca.", "kl.",
        "nr.", "st.", "jfr.", "fr.o.m.", "t.o.m.", "e.g.", "i.e.", "etc.", "vs.", "mr.",
        "mrs.", "ms.", "dr.", "prof.", "no.", "approx.",
    }
)  # fmt: skip


@dataclass(slots=True)
class SentenceSplitter:
    """Incremental sentence splitting of streamed text."""

    min_chars: int = 12
    max_chars: int = 220
    #: The first piece is cut sooner: the listener waits for it (time to first audio).
    first_max_chars: int | None = None
    _buffer: str = field(default="", init=False)
    _given: int = field(default=0, init=False)

    def feed(self, text: str) -> list[str]:
        """Add a piece of text; the sentences it completed."""
        self._buffer += text
        out: list[str] = []
        start = 0
        for match in _END.finditer(self._buffer):
            end = match.end(1) if match.group(1) else match.start(3)
            candidate = self._buffer[start:end].strip()
            if match.group(1) and _is_abbreviation(candidate):
                continue
            if len(candidate) < self.min_chars and not match.group(3):
                continue  # too short alone: it goes with the next sentence
            if candidate:
                out.append(candidate)
            start = match.end()
        self._buffer = self._buffer[start:]
        while len(self._buffer) > (limit := self._limit(len(out))):
            cut = _soft_cut(self._buffer, limit)
            out.append(self._buffer[:cut].strip())
            self._buffer = self._buffer[cut:]
        out = [s for s in out if s]
        self._given += len(out)
        return out

    def _limit(self, pending: int) -> int:
        if self.first_max_chars is not None and self._given + pending == 0:
            return self.first_max_chars
        return self.max_chars

    def flush(self) -> str | None:
        """The text left at the end of the answer, if any."""
        rest, self._buffer = self._buffer.strip(), ""
        return rest or None


def _is_abbreviation(candidate: str) -> bool:
    words = candidate.split()
    last = words[-1].lower() if words else ""
    # A lone ordinal ("3.") is a list item or a date in progress, not a sentence.
    return last in _ABBREVIATIONS or (len(words) == 1 and bool(re.fullmatch(r"\d+\.", last)))


def _soft_cut(text: str, limit: int) -> int:
    for mark in (", ", "; ", " "):
        at = text.rfind(mark, 0, limit)
        if at > limit // 3:
            return at + len(mark)
    return limit


def split_sentences(text: str, *, min_chars: int = 12, max_chars: int = 220) -> list[str]:
    """The sentences of a whole text."""
    splitter = SentenceSplitter(min_chars=min_chars, max_chars=max_chars)
    out = splitter.feed(text)
    rest = splitter.flush()
    return [*out, rest] if rest else out
