"""Re-encryption: bring every sealed column onto the newest key, in small batches.

Each batch is its own short transaction (a few hundred rows), so a running Alice keeps
serving: its turns interleave with the batches. A row is rewritten only if it still holds
what was read (compare-and-set on the key id and value), so a row changed or deleted in
between is left to the next pass rather than overwritten. Plaintext rows (key id NULL,
written with encryption off) are sealed on the way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import structlog
from sqlalchemy import Table, and_, bindparam, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from alice.errors import ConfigurationError
from alice.privacy.encryption import Keyring
from alice.store.database import Database
from alice.store.models import Conversation, Message

__all__ = ["RotationReport", "check_keys", "key_usage", "reencrypt"]

log = structlog.get_logger("alice.privacy")

_messages: Table = Message.__table__  # type: ignore[assignment]
_conversations: Table = Conversation.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class _Column:
    """One sealed column: its table, row key, value column and key-id column."""

    table: Table
    row_key: str
    value: str
    key: str

    @property
    def label(self) -> str:
        return f"{self.table.name}.{self.value}"


SEALED_COLUMNS = (
    _Column(_messages, "seq", "content", "content_key"),
    _Column(_conversations, "id", "title", "title_key"),
)


@dataclass(slots=True)
class RotationReport:
    """What a re-encryption pass did."""

    primary: str
    resealed: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    batches: int = 0

    @property
    def total(self) -> int:
        """Values rewritten under the newest key."""
        return sum(self.resealed.values())


async def check_keys(database: Database) -> None:
    """Refuse to serve data this process could not read.

    The newest sealed message's key must be configured: replicas with different key
    files would each write data the others cannot open.

    Raises:
        ConfigurationError: naming the missing key's id and what to do.
    """
    newest = (
        select(_messages.c.content_key)
        .where(_messages.c.content_key.is_not(None))
        .order_by(_messages.c.seq.desc())
        .limit(1)
    )
    try:
        key = await database.run(lambda conn: conn.execute(newest).scalar())
    except (SQLAlchemyError, OSError) as exc:
        # Database down or not migrated: /ready reports it; nothing to check yet.
        log.warning("encryption.keys_not_checked", error_class=type(exc).__name__)
        return
    if key is not None and not database.config.cipher.has_key(key):
        raise ConfigurationError(
            f"the database holds messages encrypted under key {key}, which this server "
            "does not have: give every replica the same keys (ALICE_ENCRYPTION_KEYS, or "
            "one key file shared through ALICE_ENCRYPTION_KEY_FILE)"
        )


async def key_usage(database: Database) -> dict[str, dict[str | None, int]]:
    """Per sealed column, how many rows each key id holds (None: plaintext)."""

    def work(conn: Connection) -> dict[str, dict[str | None, int]]:
        usage: dict[str, dict[str | None, int]] = {}
        for column in SEALED_COLUMNS:
            key = column.table.c[column.key]
            rows = conn.execute(select(key, func.count()).group_by(key)).all()
            usage[column.label] = {row[0]: int(row[1]) for row in rows}
        return usage

    return await database.run(work)


def _reseal_batch(
    conn: Connection, column: _Column, keyring: Keyring, after: object, limit: int
) -> tuple[object, int, int]:
    """Reseal up to ``limit`` rows after ``after``: (last row key or None, read, written)."""
    table = column.table
    row_key, value, key = (table.c[column.row_key], table.c[column.value], table.c[column.key])
    primary = keyring.primary_id
    rows = conn.execute(
        select(row_key, value, key)
        .where(row_key > after, or_(key.is_(None), key != primary))
        .order_by(row_key)
        .limit(limit)
    ).all()
    if not rows:
        return None, 0, 0
    write = (
        update(table)
        .where(
            and_(
                row_key == bindparam("b_row"),
                key.is_not_distinct_from(bindparam("b_old_key")),
                value == bindparam("b_old_value"),
            )
        )
        .values({column.value: bindparam("b_value"), column.key: bindparam("b_key")})
    )
    written = 0
    for row_id, stored, old_key in rows:
        sealed, new_key = keyring.reseal(stored, old_key)
        params = {
            "b_row": row_id,
            "b_old_key": old_key,
            "b_old_value": stored,
            "b_value": sealed,
            "b_key": new_key,
        }
        written += conn.execute(write, params).rowcount
    return rows[-1][0], len(rows), written


async def reencrypt(
    database: Database,
    keyring: Keyring,
    *,
    batch_size: int = 500,
    on_batch: Callable[[str, int], None] | None = None,
) -> RotationReport:
    """Reseal every value not under ``keyring``'s newest key; returns what it did.

    Raises:
        DecryptionError: a value is sealed under a key the keyring lacks (nothing after
            it is touched; batches before it are committed and stay valid).
    """
    report = RotationReport(primary=keyring.primary_id)
    for column in SEALED_COLUMNS:
        after: object = 0 if column.row_key == "seq" else ""
        done = 0
        while True:
            last, read, written = await database.run(
                partial(
                    _reseal_batch, column=column, keyring=keyring, after=after, limit=batch_size
                )
            )
            if last is None:
                break
            after = last
            done += written
            report.skipped += read - written
            report.batches += 1
            if on_batch is not None:
                on_batch(column.label, done)
        report.resealed[column.label] = done
    log.info(
        "encryption.rotated",
        primary=report.primary,
        resealed=report.total,
        skipped=report.skipped,
        batches=report.batches,
    )
    return report
