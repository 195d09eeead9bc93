"""The conversation service."""

from alice.chat.service import (
    ChatConfig,
    ChatService,
    TurnDelta,
    TurnEvent,
    TurnFinished,
    TurnRequest,
    TurnResult,
    TurnStarted,
)

__all__ = [
    "ChatConfig",
    "ChatService",
    "TurnDelta",
    "TurnEvent",
    "TurnFinished",
    "TurnRequest",
    "TurnResult",
    "TurnStarted",
]
