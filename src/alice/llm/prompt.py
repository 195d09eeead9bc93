"""Turning a dialogue into a prompt for a *base* (non-chat-tuned) model.

A base model has no chat template: it continues text. It answers well when the prompt is
a transcript of a few good exchanges (few-shot) ending with the assistant's speaker
label, and when generation stops at the next speaker label. The examples are bilingual
(Swedish first) so the model answers in the user's language. They were chosen by trying
sets against the bundled Gemma 3 270M at temperature 0: an example that is too close to
a likely question (another country's capital) makes a model this small echo it instead
of answering.

The few-shot block is the same for every request, so llama.cpp's prefix reuse keeps the
prompt evaluation cost to the new part of the dialogue.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from alice.llm.types import ChatMessage

__all__ = ["FEW_SHOT", "FewShotPrompt"]

_BLANK_LINES = re.compile(r"\n\s*\n")
_USER = "Användare"
_ASSISTANT = "Alice"

#: Example exchanges shown to a base model before the real dialogue.
FEW_SHOT: tuple[tuple[str, str], ...] = (
    ("Hej! Vem är du?", "Hej! Jag är Alice, en AI-assistent. Vad kan jag hjälpa dig med?"),
    ("What is the capital of France?", "The capital of France is Paris."),
    ("Hur många dagar har en vecka?", "En vecka har sju dagar."),
)


@dataclass(frozen=True, slots=True)
class FewShotPrompt:
    """Few-shot dialogue prompt with speaker labels and stop sequences."""

    examples: tuple[tuple[str, str], ...] = FEW_SHOT
    user_label: str = _USER
    assistant_label: str = _ASSISTANT

    @property
    def stop(self) -> tuple[str, ...]:
        """Sequences that end the assistant's turn."""
        return (f"\n{self.user_label}:", f"\n{self.assistant_label}:", "\n\n")

    def render(self, messages: Sequence[ChatMessage]) -> str:
        """The prompt text for ``messages``, ending with the assistant's label."""
        head, tail = self.render_parts(messages)
        return head + tail

    def render_parts(self, messages: Sequence[ChatMessage]) -> tuple[str, str]:
        """The prompt as (head, tail): the system prompt and the examples, then the dialogue.

        The head is the same for every request with the same system prompt and ends with
        a newline; the tail starts with a speaker label. ``head + tail == render(...)``.
        """
        system = " ".join(m.content.strip() for m in messages if m.role == "system")
        head: list[str] = []
        if system:
            head.extend([system, ""])
        for question, answer in self.examples:
            head.append(f"{self.user_label}: {question}")
            head.append(f"{self.assistant_label}: {answer}")
        tail: list[str] = []
        for message in messages:
            if message.role == "system":
                continue
            label = self.user_label if message.role == "user" else self.assistant_label
            # A blank line would read as the end of a turn; keep each turn together.
            text = _BLANK_LINES.sub("\n", message.content.strip())
            tail.append(f"{label}: {text}")
        tail.append(f"{self.assistant_label}:")
        return "\n".join(head) + "\n" if head else "", "\n".join(tail)
