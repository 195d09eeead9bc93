"""One line per request in ``requests.ndjson``: written by Locust, read by the analysis.

Times are wall-clock epoch seconds (both processes run on the same machine); the
analysis turns them into offsets from the first arrival (``t0``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from loadtest.outcome import ACKNOWLEDGED, ChatResult

__all__ = ["RequestRecord", "load_records", "record_line"]


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One chat request as the client saw it.

    Attributes:
        ticket: index of its arrival in the schedule.
        due: when it was scheduled to be sent.
        sent: when it was sent.
        latency_s: sent to the last byte of the response (or the failure).
        stream: it asked for Server-Sent Events.
        follow_up: it continued an earlier conversation.
        guardian_mode: the response's ``X-Guardian-Mode`` header, if any.
    """

    ticket: int
    due: float
    sent: float
    latency_s: float
    outcome: str
    status: int
    error_code: str | None
    stream: bool
    follow_up: bool
    guardian_mode: str | None
    conversation_id: str | None = None
    message_id: str | None = None
    user_message_id: str | None = None
    model: str | None = None
    completion_tokens: int | None = None
    cached: bool | None = None

    @property
    def done(self) -> float:
        """When the response (or the failure) ended."""
        return self.sent + self.latency_s

    @property
    def late_s(self) -> float:
        """How long after its due time it was sent."""
        return max(0.0, self.sent - self.due)

    @property
    def acknowledged(self) -> bool:
        """Alice reported the turn stored."""
        return self.outcome in ACKNOWLEDGED

    @property
    def success(self) -> bool:
        """A model's answer, stored: what a user came for."""
        return self.outcome == "ok"

    @property
    def refused(self) -> bool:
        """Back-pressure (429/503): nothing acknowledged, retry later."""
        return self.outcome == "refused"

    @property
    def server_fault(self) -> bool:
        """Failed on the server's side: 5xx other than a refusal, a broken stream, no answer."""
        if self.outcome in ("stream-error", "transport"):
            return True
        return self.outcome == "error" and self.status >= 500

    @classmethod
    def of(
        cls,
        result: ChatResult,
        *,
        ticket: int,
        due: float,
        sent: float,
        latency_s: float,
        stream: bool,
        follow_up: bool,
        guardian_mode: str | None,
    ) -> RequestRecord:
        """A record from a parsed response and its timing."""
        return cls(
            ticket=ticket,
            due=due,
            sent=sent,
            latency_s=latency_s,
            outcome=result.outcome,
            status=result.status,
            error_code=result.error_code,
            stream=stream,
            follow_up=follow_up,
            guardian_mode=guardian_mode,
            conversation_id=result.conversation_id,
            message_id=result.message_id,
            user_message_id=result.user_message_id,
            model=result.model,
            completion_tokens=result.completion_tokens,
            cached=result.cached,
        )


_FIELDS = frozenset(f.name for f in fields(RequestRecord))


def record_line(record: RequestRecord) -> str:
    """The NDJSON line of a record (with its newline)."""
    return json.dumps(asdict(record), ensure_ascii=False, separators=(",", ":")) + "\n"


def _from_json(data: dict[str, Any]) -> RequestRecord:
    return RequestRecord(**{k: v for k, v in data.items() if k in _FIELDS})


def load_records(path: Path) -> list[RequestRecord]:
    """Every record of an NDJSON file, ordered by due time (a cut-off last line is skipped)."""
    records: list[RequestRecord] = []
    if not path.exists():
        return records
    lines: Iterable[str] = path.read_text(encoding="utf-8").splitlines()
    for line in lines:
        if not line.strip():
            continue
        try:
            records.append(_from_json(json.loads(line)))
        except (ValueError, TypeError):
            continue  # a line cut off by a killed load generator
    records.sort(key=lambda r: r.due)
    return records
