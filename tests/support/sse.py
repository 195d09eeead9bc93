"""Reading Server-Sent Events in tests."""

from __future__ import annotations

import json
from typing import Any

import httpx


def read_events(response: httpx.Response) -> list[tuple[str, Any]]:
    """All ``(event, data)`` pairs of a finished SSE response (event '' when unnamed)."""
    events: list[tuple[str, Any]] = []
    name = ""
    for line in response.iter_lines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            raw = line[5:].strip()
            events.append((name, raw if raw == "[DONE]" else json.loads(raw)))
            name = ""
    return events
