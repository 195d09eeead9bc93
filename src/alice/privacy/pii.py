"""PII masking: personal numbers never reach a model or a log line.

Detected: Swedish personnummer and samordningsnummer (date and Luhn checked, 10 or 12
digits, with or without ``-``/``+``), phone numbers (validated with Google's
libphonenumber metadata, Swedish numbering by default), e-mail addresses, IBANs (ISO
7064 mod 97 and the country's length) and payment card numbers (13 to 19 digits, Luhn).
Candidates are found with regular expressions and kept only if the number validates, so
an order number or a date is left alone.

Two uses:

* `PiiMasker` (one per chat turn) replaces each value with a reversible placeholder
  such as ``<PHONE_1>`` before the model sees the dialogue (the same value gets the same
  placeholder everywhere in the turn) and puts the originals back into the answer, also
  when a placeholder arrives split over streamed chunks;
* `redact` replaces values with a bare tag (``<EMAIL>``) for log lines.

Validation uses python-stdnum (Luhn, IBAN) and phonenumbers; the
candidate patterns and placeholders are Alice's own (no library does Swedish-first
reversible masking of streamed text).
"""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncGenerator, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date

import phonenumbers
from stdnum import iban, luhn

from alice.llm.types import ChatMessage, Chunk, CompletionRequest

__all__ = ["KINDS", "Match", "PiiMasker", "find_pii", "redact"]

#: Placeholder tag per kind of value.
KINDS = ("PERSONAL_ID", "COORDINATION_ID", "IBAN", "CARD", "EMAIL", "PHONE")

_PERSONAL = re.compile(r"(?<![\w+])(?:19|20)?\d{6}[-+]?\d{4}(?!\w)")
_IBAN = re.compile(
    r"(?<![\w])[A-Z]{2}\d{2}(?:(?: [A-Z0-9]{4}){2,8}(?: [A-Z0-9]{1,4})?|[A-Z0-9]{11,30})(?!\w)"
)
_CARD = re.compile(r"(?<![\w+])\d(?:[ -]?\d){12,18}(?!\w)")
_EMAIL = re.compile(r"(?<![\w.+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?![\w-])")
_PHONE = re.compile(
    r"(?<![\w+])(?:(?:\+|00)\d{1,3}[ -]?(?:\(0\)[ -]?)?\d|\(?0\d{1,3}\)?)"
    r"(?:[ /-]?\d){5,12}(?!\w)"
)
_MAYBE = re.compile(r"[0-9@]")
_NOT_DIGIT = re.compile(r"\D+")
# A run of at least 7 digits (the shortest value: a phone number) and the separators
# numbers are written with, starting with a digit.
_RUN = re.compile(r"\d(?:[ \-+/()A-Z]*\d){6}[\d \-+/()A-Z]*")
_COUNTRY = re.compile(r"[A-Z]{2}")
_PLACEHOLDER = re.compile(r"<(" + "|".join(KINDS) + r")_(\d{1,4})>")
# The tail of a streamed text that may be the start of a placeholder.
_PARTIAL = re.compile(r"<[A-Z_]{0,16}\d{0,4}$")
_MAX_PLACEHOLDER = 24


@dataclass(frozen=True, slots=True)
class Match:
    """One value found in a text."""

    kind: str
    start: int
    end: int
    value: str


def _digits(text: str) -> str:
    return _NOT_DIGIT.sub("", text)


def _personal_kind(value: str) -> str | None:
    """PERSONAL_ID, COORDINATION_ID (day + 60) or None.

    Luhn over the ten digits as written, and a real date (python-stdnum's personnummer
    module knows no samordningsnummer).
    """
    digits = _digits(value)
    ten = digits[-10:]
    if len(digits) not in (10, 12) or not luhn.is_valid(ten):
        return None
    month, day = int(ten[2:4]), int(ten[4:6])
    coordination = day > 60
    if coordination:
        day -= 60
    years = [int(digits[:4])] if len(digits) == 12 else [1900 + int(ten[:2]), 2000 + int(ten[:2])]
    if not any(_is_date(year, month, day) for year in years):
        return None
    return "COORDINATION_ID" if coordination else "PERSONAL_ID"


def _is_date(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=4096)
def _is_iban(value: str) -> bool:
    return bool(iban.is_valid(value))


def _is_card(value: str) -> bool:
    digits = _digits(value)
    return 13 <= len(digits) <= 19 and bool(luhn.is_valid(digits))


@functools.lru_cache(maxsize=4096)
def _phone_e164(value: str) -> str | None:
    """The number in E.164 if ``value`` is a valid phone number (Swedish by default)."""
    if len(_digits(value)) < 7:
        return None
    try:
        number = phonenumbers.parse(value, "SE")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _kinds() -> Iterable[tuple[re.Pattern[str], Callable[[str], str | None]]]:
    # In priority order: where two kinds claim the same characters, the first wins.
    yield _PERSONAL, _personal_kind
    yield _IBAN, lambda v: "IBAN" if _is_iban(v) else None
    yield _CARD, lambda v: "CARD" if _is_card(v) else None
    yield _EMAIL, lambda _v: "EMAIL"
    yield _PHONE, lambda v: "PHONE" if _phone_e164(v) is not None else None


def _number_windows(text: str) -> list[tuple[int, int]]:
    """Where a number can be: digit runs found with one fast scan.

    Each run is widened left to a leading ``+``, ``(`` or an IBAN's country code.
    """
    windows = []
    for run in _RUN.finditer(text):
        start, end = run.span()
        while start > 0 and text[start - 1] in "+(":
            start -= 1
        if start >= 2 and _COUNTRY.fullmatch(text, start - 2, start):
            start -= 2
        windows.append((start, end))
    return windows


def _email_windows(text: str) -> list[tuple[int, int]]:
    """Around each ``@``: the characters an address can hold on either side."""
    windows = []
    at = text.find("@")
    while at != -1:
        start, end = at, at + 1
        while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "._%+-"):
            start -= 1
        while end < len(text) and (text[end].isalnum() or text[end] in "._-"):
            end += 1
        windows.append((start, end))
        at = text.find("@", end)
    return windows


def find_pii(text: str) -> list[Match]:
    """Every personal value in ``text``, in order, without overlaps.

    The patterns run only over short windows around digits and ``@`` signs (their
    look-behind and look-ahead still see the text around), not over the whole text.
    """
    if not _MAYBE.search(text):
        return []  # every kind has a digit or an "@": most prose is done here
    numbers = _number_windows(text)
    emails = _email_windows(text) if "@" in text else []
    size = len(text)
    found: list[Match] = []
    taken: list[tuple[int, int]] = []
    for pattern, classify in _kinds():
        for window_start, window_end in emails if pattern is _EMAIL else numbers:
            # One character past the window, so a look-ahead sees what follows it.
            for candidate in pattern.finditer(text, window_start, min(size, window_end + 1)):
                start, end = candidate.span()
                if _overlaps(taken, start, end):
                    continue
                kind = classify(candidate.group())
                if kind is None and pattern is _IBAN:
                    kind, end = _shorter_iban(text, start, end)
                if kind is None:
                    continue
                found.append(Match(kind, start, end, text[start:end]))
                taken.append((start, end))
    found.sort(key=lambda m: m.start)
    return found


def _overlaps(taken: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(start < t_end and t_start < end for t_start, t_end in taken)


def _shorter_iban(text: str, start: int, end: int) -> tuple[str | None, int]:
    # A spaced IBAN followed by other capitals ("... 7466 OCH"): drop trailing groups.
    while True:
        cut = text.rfind(" ", start, end)
        if cut <= start + 4:
            return None, end
        end = cut
        if _is_iban(text[start:end]):
            return "IBAN", end


def _replaced(text: str, replacement: Callable[[Match], str]) -> str:
    """``text`` with each personal value found in it replaced by ``replacement(match)``."""
    matches = find_pii(text)
    if not matches:
        return text
    out: list[str] = []
    at = 0
    for match in matches:
        out.append(text[at : match.start])
        out.append(replacement(match))
        at = match.end
    out.append(text[at:])
    return "".join(out)


def redact(text: str) -> str:
    """``text`` with every personal value replaced by its bare tag (for logs)."""
    return _replaced(text, lambda match: f"<{match.kind}>")


def _key(match: Match) -> str:
    if match.kind == "EMAIL":
        return "EMAIL:" + match.value.lower()
    if match.kind == "PHONE":
        return "PHONE:" + (_phone_e164(match.value) or _digits(match.value))
    digits = _digits(match.value) if match.kind != "IBAN" else match.value.replace(" ", "")
    if match.kind in ("PERSONAL_ID", "COORDINATION_ID") and len(digits) == 12:
        digits = digits[2:]
    return f"{match.kind}:{digits}"


class PiiMasker:
    """Masks one turn's dialogue for the model and unmasks the model's answer.

    Placeholders are numbered per kind in order of first appearance; the same value
    (compared normalised: digits only, e-mail case-folded) keeps its placeholder.
    """

    def __init__(self) -> None:
        self._by_key: dict[str, str] = {}
        self._originals: dict[str, str] = {}
        self._counts: dict[str, int] = {}

    @property
    def masked(self) -> int:
        """How many distinct values were masked."""
        return len(self._originals)

    def mask(self, text: str) -> str:
        """``text`` with each personal value replaced by its placeholder."""
        return _replaced(text, self._placeholder)

    def _placeholder(self, match: Match) -> str:
        key = _key(match)
        placeholder = self._by_key.get(key)
        if placeholder is None:
            number = self._counts.get(match.kind, 0) + 1
            self._counts[match.kind] = number
            placeholder = f"<{match.kind}_{number}>"
            self._by_key[key] = placeholder
            self._originals[placeholder] = match.value
        return placeholder

    def mask_request(self, request: CompletionRequest) -> CompletionRequest:
        """The request with every message masked (the system prompt too)."""
        messages = tuple(ChatMessage(m.role, self.mask(m.content)) for m in request.messages)
        return replace(request, messages=messages)

    def unmask(self, text: str) -> str:
        """``text`` with this turn's placeholders replaced by the original values."""
        if not self._originals or "<" not in text:
            return text
        return _PLACEHOLDER.sub(lambda m: self._originals.get(m.group(0), m.group(0)), text)

    async def unmask_chunks(
        self, chunks: AsyncGenerator[Chunk, None]
    ) -> AsyncGenerator[Chunk, None]:
        """Unmask a streamed answer (closing ``chunks`` when closed).

        A placeholder split over chunks is held back until it is whole (or cannot be
        one), so no half placeholder ever reaches a client.
        """
        held = ""
        try:
            async for chunk in chunks:
                if not held and "<" not in chunk.text:
                    yield chunk  # most chunks: nothing to put back, nothing to hold
                    continue
                text = held + chunk.text
                held = ""
                partial = _PARTIAL.search(text)
                if (
                    partial is not None
                    and chunk.finish_reason is None
                    and len(text) - partial.start() < _MAX_PLACEHOLDER
                ):
                    held = text[partial.start() :]
                    text = text[: partial.start()]
                if text or chunk.finish_reason is not None:
                    yield Chunk(self.unmask(text), chunk.finish_reason, chunk.usage, chunk.model)
            if held:
                yield Chunk(text=self.unmask(held))
        finally:
            await chunks.aclose()
