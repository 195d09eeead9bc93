"""The acknowledged-and-lost check, on a real SQLite file with rows made here."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from loadtest.durability import check_sqlite
from loadtest.records import RequestRecord


def _acknowledged(ticket: int) -> RequestRecord:
    return RequestRecord(
        ticket=ticket,
        due=0.0,
        sent=0.0,
        latency_s=0.5,
        outcome="ok",
        status=200,
        error_code=None,
        stream=False,
        follow_up=False,
        guardian_mode="ok",
        conversation_id=f"c{ticket}",
        message_id=f"a{ticket}",
        user_message_id=f"q{ticket}",
    )


def _database(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE messages (id TEXT PRIMARY KEY, role TEXT, status TEXT)")
        conn.executemany("INSERT INTO messages VALUES (?, ?, ?)", rows)
    return path


def test_every_acknowledged_turn_stored_means_nothing_lost(tmp_path: Path) -> None:
    records = [_acknowledged(i) for i in range(1200)]  # more than one lookup batch
    rows = [(f"a{i}", "assistant", "complete") for i in range(1200)]
    rows += [(f"q{i}", "user", "complete") for i in range(1200)]
    refused = RequestRecord(
        ticket=5000, due=0, sent=0, latency_s=0.01, outcome="refused", status=429,
        error_code="overloaded", stream=False, follow_up=False, guardian_mode="ok",
    )  # fmt: skip

    result = check_sqlite(_database(tmp_path / "alice.db", rows), [*records, refused])

    assert result.acknowledged == len(records)
    assert result.ids_checked == 2 * len(records)
    assert result.requests_lost == 0


def test_missing_and_unfinished_rows_are_acknowledged_and_lost(tmp_path: Path) -> None:
    records = [_acknowledged(i) for i in range(4)]
    rows = [
        ("a0", "assistant", "complete"), ("q0", "user", "complete"),
        # ticket 1: the answer is missing
        ("q1", "user", "complete"),
        # ticket 2: the answer was stored as an error, not the answer the client got
        ("a2", "assistant", "error"), ("q2", "user", "complete"),
        # ticket 3: the question is missing
        ("a3", "assistant", "complete"),
    ]  # fmt: skip

    result = check_sqlite(_database(tmp_path / "alice.db", rows), records)

    assert result.lost_tickets == (1, 2, 3)
    assert set(result.missing) == {"a1", "q3"}
    assert result.mismatched == ("a2: assistant/error",)
