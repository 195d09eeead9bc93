from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from alice.llm.stops import StopScanner


def _run(stops: tuple[str, ...], pieces: list[str]) -> tuple[str, bool]:
    scanner = StopScanner(stops)
    out = "".join(scanner.feed(p) for p in pieces) + scanner.flush()
    return out, scanner.stopped


def test_text_without_stops_passes_through() -> None:
    assert _run(("\nUser:",), ["Hej", " där", "!"]) == ("Hej där!", False)


def test_stop_split_across_pieces_is_never_emitted() -> None:
    scanner = StopScanner(("\nAnvändare:",))
    assert scanner.feed("Stockholm.") == "Stockholm."
    assert scanner.feed("\nAnv") == ""  # may be the start of the stop: held back
    assert scanner.feed("ändare: nästa") == ""
    assert scanner.stopped


def test_held_text_is_released_when_it_turns_out_not_to_be_a_stop() -> None:
    scanner = StopScanner(("\nAnvändare:",))
    assert scanner.feed("a\nAnv") == "a"
    assert scanner.feed("and") == "\nAnvand"
    assert scanner.flush() == ""


def test_earliest_of_several_stops_wins() -> None:
    assert _run(("\n\n", "\nAlice:"), ["svar\nAlice: mer\n\nslut"]) == ("svar", True)


alphabet = st.sampled_from(list("ab\n:"))


@given(
    text=st.text(alphabet, max_size=40),
    stops=st.lists(st.text(alphabet, min_size=1, max_size=4), min_size=1, max_size=3),
    cuts=st.lists(st.integers(0, 40), max_size=8),
)
def test_output_is_the_text_up_to_the_first_stop_however_it_is_split(
    text: str, stops: list[str], cuts: list[int]
) -> None:
    bounds = sorted({0, len(text), *(c for c in cuts if c <= len(text))})
    pieces = [text[a:b] for a, b in pairwise(bounds)]
    positions = [i for i in (text.find(s) for s in stops) if i >= 0]
    expected = text[: min(positions)] if positions else text
    out, stopped = _run(tuple(stops), pieces)
    assert stopped == bool(positions)
    # A stop may be found earlier than text.find() when pieces arrive: never later.
    assert out == expected


def test_a_complete_stop_waits_for_an_earlier_one_that_may_still_complete() -> None:
    # "\n" is complete at 1, but "a\na" may begin at 0: it does, so nothing is emitted.
    assert _run(("a\na", "\n"), ["a\n", "a"]) == ("", True)
    # It does not: the answer is cut at "\n" once that is certain (here at the end).
    assert _run(("a\na", "\n"), ["a\n", "b"]) == ("a", True)
    assert _run(("a\na", "\n"), ["a\n"]) == ("a", True)
