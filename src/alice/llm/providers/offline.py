"""The last resort: a fixed answer, in the user's language, when every model is down.

This is not a model: it tells the user that Alice is in offline mode. Its answers are
marked (model ``offline``), `/ready` reports the model component degraded, and the
client never sees a 500 because the model fleet is down.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from alice.health import ComponentHealth
from alice.llm.types import Chunk, CompletionRequest, Usage

__all__ = ["OFFLINE_MODEL", "OfflineProvider", "looks_swedish"]

OFFLINE_MODEL = "offline"

_SWEDISH = re.compile(
    r"[åäöÅÄÖ]|\b(och|jag|du|det|att|är|inte|vad|hur|varför|vem|kan|vill|har|en|ett|hej|tack|"
    r"snälla|idag|imorgon|min|mitt|vi|ni|de|som|på|för|med)\b",
    re.IGNORECASE,
)
_ENGLISH = re.compile(
    r"\b(the|and|is|are|what|how|why|who|can|will|have|you|please|today|tomorrow|my|we|"
    r"they|that|this|with|for|hello|thanks)\b",
    re.IGNORECASE,
)

_MESSAGES = {
    "sv": (
        "Alice är i offlineläge just nu: ingen språkmodell svarar, så jag kan inte besvara "
        "din fråga. Ditt meddelande är sparat. Försök igen om en liten stund."
    ),
    "en": (
        "Alice is in offline mode right now: no language model is answering, so I cannot "
        "answer your question. Your message has been saved. Please try again shortly."
    ),
}


def looks_swedish(text: str) -> bool:
    """Whether ``text`` reads as Swedish rather than English (Swedish wins ties)."""
    return len(_SWEDISH.findall(text)) >= len(_ENGLISH.findall(text))


class OfflineProvider:
    """Answers that Alice is offline, in Swedish or English."""

    name = "offline"
    models = (OFFLINE_MODEL,)

    async def start(self) -> None:
        """Nothing to start."""

    async def aclose(self) -> None:
        """Nothing to close."""

    async def health(self) -> ComponentHealth:
        """Always able to say it is offline."""
        return ComponentHealth("healthy", "offline answers")

    async def stream(self, request: CompletionRequest) -> AsyncIterator[Chunk]:
        """The offline message, in the language of the last user message."""
        last = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        text = _MESSAGES["sv" if looks_swedish(last) else "en"]
        yield Chunk(text=text)
        yield Chunk(finish_reason="stop", usage=Usage(0, 0), model=OFFLINE_MODEL)
