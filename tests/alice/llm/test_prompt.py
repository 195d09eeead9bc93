from __future__ import annotations

from alice.llm.prompt import FEW_SHOT, FewShotPrompt
from alice.llm.types import ChatMessage


def test_prompt_is_system_then_examples_then_dialogue_ending_with_assistant_label() -> None:
    prompt = FewShotPrompt().render(
        [
            ChatMessage("system", "Var kort."),
            ChatMessage("user", "Hej"),
            ChatMessage("assistant", "Hej hej"),
            ChatMessage("user", "Hur mår du?"),
        ]
    )
    lines = prompt.splitlines()
    assert lines[0] == "Var kort."
    assert lines[1] == ""
    assert lines[2] == f"Användare: {FEW_SHOT[0][0]}"
    assert lines[-4:] == ["Användare: Hej", "Alice: Hej hej", "Användare: Hur mår du?", "Alice:"]


def test_blank_lines_in_a_message_cannot_end_the_turn_early() -> None:
    prompt = FewShotPrompt().render([ChatMessage("user", "rad ett\n\n\nrad två")])
    assert "rad ett\nrad två" in prompt
    assert "\n\n" not in prompt.split(FEW_SHOT[-1][1], 1)[1]


def test_stop_sequences_cover_both_speaker_labels() -> None:
    stops = FewShotPrompt().stop
    assert "\nAnvändare:" in stops
    assert "\nAlice:" in stops


def test_the_prompt_splits_into_a_fixed_head_and_the_dialogue() -> None:
    prompt = FewShotPrompt()
    dialogues = [
        [ChatMessage("system", "Var kort."), ChatMessage("user", "Hej")],
        [ChatMessage("user", "a\n\n\nb"), ChatMessage("assistant", "x"), ChatMessage("user", "y")],
        [ChatMessage("system", "Var kort."), ChatMessage("assistant", "Hej!")],
    ]
    heads = set()
    for dialogue in dialogues:
        head, tail = prompt.render_parts(dialogue)
        assert head + tail == prompt.render(dialogue)
        assert head.endswith(f"{FEW_SHOT[-1][1]}\n")
        assert tail.startswith(("Användare: ", "Alice: "))
        assert tail.endswith("\nAlice:")
        heads.add(head)
    assert len(heads) == 2  # with and without the system prompt
    bare = FewShotPrompt(examples=())
    assert bare.render_parts([ChatMessage("user", "Hej")]) == ("", "Användare: Hej\nAlice:")
