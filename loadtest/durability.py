"""Is every acknowledged turn in the database? Looked up directly, not through Alice.

For each acknowledged request the client holds two ids: the stored answer
(``message_id``) and the user's message (``user_message_id``). Both must be rows of
``messages`` (ids are plaintext columns; contents are encrypted and not read), the
answer with role ``assistant`` and status ``complete``, the question with role
``user``. A missing row, or one with another role or status, is acknowledged and lost.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from loadtest.records import RequestRecord

__all__ = ["DurabilityResult", "check_postgres", "check_sqlite", "expected_rows"]

_BATCH = 500


@dataclass(frozen=True, slots=True)
class DurabilityResult:
    """What the lookup found.

    Attributes:
        acknowledged: acknowledged requests checked.
        ids_checked: message ids looked up (two per acknowledged request).
        missing: ids not in ``messages`` at all.
        mismatched: ids stored with another role or status (``id: role/status``).
        lost_tickets: tickets of the acknowledged requests with at least one missing or
            mismatched id.
    """

    acknowledged: int
    ids_checked: int
    missing: tuple[str, ...] = field(default=())
    mismatched: tuple[str, ...] = field(default=())
    lost_tickets: tuple[int, ...] = field(default=())

    @property
    def requests_lost(self) -> int:
        """Acknowledged requests whose question or answer is not stored as acknowledged."""
        return len(self.lost_tickets)


def expected_rows(records: Sequence[RequestRecord]) -> dict[str, tuple[int, str, str | None]]:
    """``id -> (ticket, role, status or None: any)`` for every acknowledged request.

    An acknowledged record without both ids counts too: it maps an empty id that no
    row has, so it is reported missing.
    """
    expected: dict[str, tuple[int, str, str | None]] = {}
    for record in records:
        if not record.acknowledged:
            continue
        answer = record.message_id or f"<no message_id: ticket {record.ticket}>"
        question = record.user_message_id or f"<no user_message_id: ticket {record.ticket}>"
        expected[answer] = (record.ticket, "assistant", "complete")
        expected[question] = (record.ticket, "user", None)
    return expected


def _judge(
    records: Sequence[RequestRecord],
    expected: dict[str, tuple[int, str, str | None]],
    found: dict[str, tuple[str, str]],
) -> DurabilityResult:
    missing: list[str] = []
    mismatched: list[str] = []
    lost_tickets: set[int] = set()
    for message_id, (ticket, role, status) in expected.items():
        row = found.get(message_id)
        if row is None:
            missing.append(message_id)
            lost_tickets.add(ticket)
        elif row[0] != role or (status is not None and row[1] != status):
            mismatched.append(f"{message_id}: {row[0]}/{row[1]}")
            lost_tickets.add(ticket)
    return DurabilityResult(
        acknowledged=sum(1 for r in records if r.acknowledged),
        ids_checked=len(expected),
        missing=tuple(missing),
        mismatched=tuple(mismatched),
        lost_tickets=tuple(sorted(lost_tickets)),
    )


def check_sqlite(path: Path, records: Sequence[RequestRecord]) -> DurabilityResult:
    """Look the acknowledged ids up in Alice's SQLite file (opened read-only)."""
    expected = expected_rows(records)
    ids = list(expected)
    found: dict[str, tuple[str, str]] = {}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        for start in range(0, len(ids), _BATCH):
            batch = ids[start : start + _BATCH]
            marks = ",".join("?" * len(batch))
            rows = conn.execute(
                f"SELECT id, role, status FROM messages WHERE id IN ({marks})",  # noqa: S608 - only placeholders are interpolated
                batch,
            )
            found.update({row[0]: (row[1], row[2]) for row in rows})
    return _judge(records, expected, found)


async def _fetch_postgres(url: str, ids: list[str]) -> dict[str, tuple[str, str]]:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        rows = await conn.fetch("SELECT id, role, status FROM messages WHERE id = ANY($1)", ids)
    finally:
        await conn.close()
    return {row["id"]: (row["role"], row["status"]) for row in rows}


def check_postgres(url: str, records: Sequence[RequestRecord]) -> DurabilityResult:
    """Look the acknowledged ids up in Alice's PostgreSQL database."""
    expected = expected_rows(records)
    found = asyncio.run(_fetch_postgres(url, list(expected)))
    return _judge(records, expected, found)
