"""PII detection and reversible masking, with generated valid and invalid numbers.

The generators here compute check digits themselves (Luhn, ISO 7064 mod 97), so the
tests do not trust the validators they test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import date

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from alice.llm.types import ChatMessage, Chunk, CompletionRequest
from alice.privacy.pii import PiiMasker, find_pii, redact


def luhn_digit(body: str) -> str:
    """The Luhn check digit for ``body``."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def wrong_digit(right: str) -> str:
    return str((int(right) + 1) % 10)


birth_dates = st.dates(min_value=date(1901, 1, 1), max_value=date(2024, 12, 31))
serials = st.integers(min_value=0, max_value=999).map(lambda n: f"{n:03d}")


@st.composite
def personnummer(draw: st.DrawFn, *, coordination: bool = False, valid: bool = True) -> str:
    born = draw(birth_dates)
    day = born.day + (60 if coordination else 0)
    body = f"{born:%y%m}{day:02d}{draw(serials)}"
    check = luhn_digit(body)
    if not valid:
        check = wrong_digit(check)
    style = draw(st.sampled_from(["dash", "plain", "century", "century-dash"]))
    if style == "dash":
        return f"{body[:6]}-{body[6:]}{check}"
    if style == "plain":
        return body + check
    century = f"{born.year // 100}"
    if style == "century":
        return century + body + check
    return f"{century}{body[:6]}-{body[6:]}{check}"


@st.composite
def card_numbers(draw: st.DrawFn, *, valid: bool = True) -> str:
    prefix = draw(st.sampled_from(["4", "51", "55", "37", "6011"]))
    length = 15 if prefix == "37" else 16
    body = prefix + "".join(
        draw(
            st.lists(
                st.sampled_from("0123456789"),
                min_size=length - len(prefix) - 1,
                max_size=length - len(prefix) - 1,
            )
        )
    )
    check = luhn_digit(body)
    number = body + (check if valid else wrong_digit(check))
    if draw(st.booleans()):
        return " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    return number


def iban_check(country: str, bban: str) -> str:
    moved = bban + country + "00"
    digits = "".join(str(int(c, 36)) for c in moved)
    return f"{98 - int(digits) % 97:02d}"


@st.composite
def swedish_ibans(draw: st.DrawFn, *, valid: bool = True) -> str:
    bban = "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=20, max_size=20)))
    check = iban_check("SE", bban)
    if not valid:
        check = f"{(int(check) + draw(st.integers(1, 50))) % 97:02d}"
        assume(check != iban_check("SE", bban))
    compact = f"SE{check}{bban}"
    if draw(st.booleans()):
        return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))
    return compact


swedish_mobiles = st.builds(
    lambda op, a, b, c, style: {
        "national": f"07{op}-{a:03d} {b:02d} {c:02d}",
        "international": f"+46 7{op} {a:03d} {b:02d} {c:02d}",
        "compact": f"07{op}{a:03d}{b:02d}{c:02d}",
    }[style],
    st.sampled_from(["0", "2", "3", "6", "9"]),
    st.integers(0, 999),
    st.integers(0, 99),
    st.integers(0, 99),
    st.sampled_from(["national", "international", "compact"]),
)
emails = st.builds(
    lambda user, domain, tld: f"{user}@{domain}.{tld}",
    st.from_regex(r"[a-z][a-z0-9._]{0,12}[a-z0-9]", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True),
    st.sampled_from(["se", "com", "org", "nu"]),
)

TEMPLATE = "Hej! Mitt {} finns här: {} . Tack på förhand."


def _kinds(text: str) -> list[str]:
    return [m.kind for m in find_pii(text)]


@settings(max_examples=300, deadline=None)
@given(number=personnummer())
def test_valid_personnummer_are_found(number: str) -> None:
    text = TEMPLATE.format("personnummer", number)
    assert _kinds(text) == ["PERSONAL_ID"], number


@settings(max_examples=300, deadline=None)
@given(number=personnummer(coordination=True))
def test_valid_samordningsnummer_are_found(number: str) -> None:
    assert _kinds(TEMPLATE.format("samordningsnummer", number)) == ["COORDINATION_ID"], number


@settings(max_examples=300, deadline=None)
@given(number=personnummer(valid=False))
def test_a_wrong_check_digit_is_not_a_personnummer(number: str) -> None:
    assert "PERSONAL_ID" not in _kinds(TEMPLATE.format("nummer", number))


@settings(max_examples=300, deadline=None)
@given(number=card_numbers())
def test_valid_card_numbers_are_found(number: str) -> None:
    assert _kinds(TEMPLATE.format("kort", number)) == ["CARD"], number


@settings(max_examples=300, deadline=None)
@given(number=card_numbers(valid=False))
def test_card_numbers_failing_luhn_are_not_cards(number: str) -> None:
    assert "CARD" not in _kinds(TEMPLATE.format("kort", number))


@settings(max_examples=300, deadline=None)
@given(number=swedish_ibans())
def test_valid_ibans_are_found(number: str) -> None:
    assert _kinds(TEMPLATE.format("konto", number)) == ["IBAN"], number


@settings(max_examples=300, deadline=None)
@given(number=swedish_ibans(valid=False))
def test_ibans_failing_mod_97_are_not_ibans(number: str) -> None:
    assert "IBAN" not in _kinds(TEMPLATE.format("konto", number))


@settings(max_examples=300, deadline=None)
@given(number=swedish_mobiles)
def test_swedish_mobile_numbers_are_found(number: str) -> None:
    # Written without spaces, a mobile number can also be a valid personnummer or
    # samordningsnummer (0702610007: 1 Feb 2007 + 60); it is masked either way.
    kinds = _kinds(TEMPLATE.format("nummer", number))
    assert kinds in (["PHONE"], ["PERSONAL_ID"], ["COORDINATION_ID"]), number
    if " " in number:
        assert kinds == ["PHONE"], number


@settings(max_examples=300, deadline=None)
@given(address=emails)
def test_email_addresses_are_found(address: str) -> None:
    assert _kinds(TEMPLATE.format("mejl", address)) == ["EMAIL"], address


@pytest.mark.parametrize(
    "text",
    [
        "Mötet är 2026-11-21 kl 14:30 i rum 4.",
        "Ordernummer 12345, artikel 998877.",
        "Det kostar 1 299 kr och väger 3,5 kg.",
        "Version 0.3.36 av llama-cpp-python.",
        "Ring 112 vid nödläge.",
    ],
)
def test_ordinary_numbers_are_left_alone(text: str) -> None:
    assert find_pii(text) == []


def test_the_same_value_keeps_its_placeholder_and_the_answer_gets_the_originals() -> None:
    masker = PiiMasker()
    question = (
        "Jag heter Eva, personnummer 19850712-1237 (eller 850712-1237), "
        "mejl eva.svensson@example.se och mobil 070-123 45 67."
    )
    masked = masker.mask(question)
    for value in ("850712", "eva.svensson@example.se", "070-123 45 67"):
        assert value not in masked
    assert masked.count("<PERSONAL_ID_1>") == 2
    assert "<EMAIL_1>" in masked and "<PHONE_1>" in masked
    answer = "Tack! Jag har noterat <EMAIL_1> och <PHONE_1>. <CARD_9> är okänt."
    assert masker.unmask(answer) == (
        "Tack! Jag har noterat eva.svensson@example.se och 070-123 45 67. <CARD_9> är okänt."
    )


def test_the_whole_dialogue_is_masked_with_one_mapping() -> None:
    masker = PiiMasker()
    request = CompletionRequest(
        messages=(
            ChatMessage("system", "Du är Alice."),
            ChatMessage("user", "Mitt nummer är 070-123 45 67."),
            ChatMessage("assistant", "Noterat."),
            ChatMessage("user", "Ring 0701234567 imorgon."),
        ),
        model="m",
        max_tokens=16,
    )
    masked = masker.mask_request(request)
    assert [m.content for m in masked.messages] == [
        "Du är Alice.",
        "Mitt nummer är <PHONE_1>.",
        "Noterat.",
        "Ring <PHONE_1> imorgon.",
    ]
    assert masker.masked == 1


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=12))
def test_placeholders_split_over_streamed_chunks_come_back_whole(cuts: list[int]) -> None:
    masker = PiiMasker()
    masker.mask("Mejla anna@example.se eller ring +46 70 123 45 67.")
    answer = "Jag mejlar <EMAIL_1> och ringer <PHONE_1>, inte <PHONE_2> eller <3."
    pieces: list[str] = []
    at = 0
    for cut in cuts:
        if at >= len(answer):
            break
        pieces.append(answer[at : at + cut])
        at += cut
    if at < len(answer):
        pieces.append(answer[at:])

    async def chunks() -> AsyncGenerator[Chunk, None]:
        for piece in pieces:
            yield Chunk(text=piece)
        yield Chunk(finish_reason="stop")

    async def collect() -> list[Chunk]:
        return [c async for c in masker.unmask_chunks(chunks())]

    out = asyncio.run(collect())
    text = "".join(c.text for c in out)
    assert text == (
        "Jag mejlar anna@example.se och ringer +46 70 123 45 67, inte <PHONE_2> eller <3."
    )
    assert out[-1].finish_reason == "stop"
    # No chunk ever showed a half placeholder.
    assert not any("<EMAIL" in c.text or "<PHONE_1" in c.text for c in out)


def test_redact_keeps_only_the_tags() -> None:
    line = (
        '{"event": "x", "detail": "card 4111 1111 1111 1111, iban SE45 5000 0000 0583 9825 7466"}'
    )
    redacted = redact(line)
    assert "4111" not in redacted and "5000 0000" not in redacted
    assert "<CARD>" in redacted and "<IBAN>" in redacted


def test_a_coordination_number_is_day_plus_sixty() -> None:
    body = "850772123"  # 12 July 1985 + 60
    number = f"{body[:6]}-{body[6:]}{luhn_digit(body)}"
    assert _kinds(number) == ["COORDINATION_ID"]
    # The same digits with the real day are the person's personnummer.
    plain = "850712123"
    assert _kinds(f"{plain[:6]}-{plain[6:]}{luhn_digit(plain)}") == ["PERSONAL_ID"]
