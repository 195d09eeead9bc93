"""SQLite backup and restore, and copying a database to PostgreSQL.

``backup`` uses SQLite's online backup API: a consistent snapshot while Alice keeps
writing (WAL), written under a temporary name, fsynced, integrity-checked, then renamed.
``restore`` copies a backup back through the same API, so the live file is replaced
page by page under SQLite's own locks (stop Alice first all the same: a running server
keeps cached keys and policies for a few seconds). Neither holds the encryption or
subject keys: back those up apart, and keep old encryption keys while backups sealed
with them may be restored.

``copy_database`` moves every table of one database into another (SQLite to
PostgreSQL) in batches, in foreign-key order, keeping ids and sequence numbers, then
moves the target's sequences past them and checks row counts table by table.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog
from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.engine import Connection

from alice.errors import ConfigurationError
from alice.store.database import Database
from alice.store.migrate import head_revision, migrate
from alice.store.models import Base

__all__ = ["BackupInfo", "CopyReport", "backup_sqlite", "copy_database", "restore_sqlite"]

log = structlog.get_logger("alice.store")

_PAGES_PER_STEP = 1024
_BATCH = 1000


@dataclass(frozen=True, slots=True)
class BackupInfo:
    """A backup file and what is in it."""

    path: Path
    bytes: int
    revision: str
    rows: dict[str, int]


def _counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {
        # The table names are the ORM's own, never input.
        table.name: int(conn.execute(f'SELECT count(*) FROM "{table.name}"').fetchone()[0])  # noqa: S608  # nosec B608
        for table in Base.metadata.sorted_tables
    }


def _check(conn: sqlite3.Connection, what: str) -> str:
    try:
        result = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if result != "ok":
            raise ConfigurationError(f"{what} is damaged: {result}")
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise ConfigurationError(f"{what} is not an Alice database ({exc})") from exc
    if row is None:
        raise ConfigurationError(f"{what} holds no Alice schema")
    return str(row[0])


def backup_sqlite(source: Path, destination: Path) -> BackupInfo:
    """Snapshot the SQLite database ``source`` into ``destination`` (online).

    Raises:
        ConfigurationError: no database at ``source``, or the snapshot fails its check.
    """
    if not source.is_file():
        raise ConfigurationError(f"no SQLite database at {source}")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(partial)
    try:
        src.backup(dst, pages=_PAGES_PER_STEP)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        revision = _check(dst, "the backup")
        rows = _counts(dst)
    finally:
        dst.close()
        src.close()
    with partial.open("rb+") as file:
        os.fsync(file.fileno())
    os.chmod(partial, 0o600)
    os.replace(partial, destination)
    info = BackupInfo(destination, destination.stat().st_size, revision, rows)
    log.info("backup.created", path=str(destination), bytes=info.bytes, revision=revision)
    return info


def restore_sqlite(backup: Path, target: Path) -> BackupInfo:
    """Replace the database ``target`` with the backup's content.

    Raises:
        ConfigurationError: the backup is missing, damaged, or from a newer Alice.
    """
    if not backup.is_file():
        raise ConfigurationError(f"no backup at {backup}")
    src = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        revision = _check(src, "the backup")
        if int(revision) > int(head_revision()):
            raise ConfigurationError(
                f"the backup is at schema {revision}, newer than this Alice ({head_revision()})"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst, pages=_PAGES_PER_STEP)
            rows = _counts(dst)
        finally:
            dst.close()
    finally:
        src.close()
    info = BackupInfo(backup, backup.stat().st_size, revision, rows)
    log.warning("backup.restored", path=str(backup), target=str(target), revision=revision)
    return info


@dataclass(frozen=True, slots=True)
class CopyReport:
    """Rows copied per table (equal in source and target afterwards)."""

    rows: dict[str, int]


async def copy_database(
    source: Database,
    target: Database,
    *,
    on_table: Callable[[str, int], None] | None = None,
) -> CopyReport:
    """Copy every Alice table of ``source`` into the empty, migrated ``target``.

    Raises:
        ConfigurationError: the target already holds conversations or keys, or the
            counts differ afterwards.
    """
    await migrate(source)
    await migrate(target)
    tables = list(Base.metadata.sorted_tables)

    def occupied(conn: Connection) -> list[str]:
        busy = []
        for table in tables:
            count = conn.execute(select(func.count()).select_from(table)).scalar_one()
            if table.name in ("tenants", "alice_meta"):
                # A fresh migration makes the default tenant; nothing else may be there.
                if table.name == "tenants" and count > 1:
                    busy.append(table.name)
                continue
            if count:
                busy.append(table.name)
        return busy

    busy = await target.run(occupied)
    if busy:
        raise ConfigurationError(
            f"the target database is not empty ({', '.join(busy)}): copy into a new one"
        )
    copied: dict[str, int] = {}
    for table in tables:
        copied[table.name] = await _copy_table(source, target, table)
        if on_table is not None:
            on_table(table.name, copied[table.name])
    if target.dialect == "postgresql":
        await target.run(_advance_sequences)
    source_counts = await source.run(_table_counts)
    target_counts = await target.run(_table_counts)
    if source_counts != target_counts:
        raise ConfigurationError(
            f"row counts differ after the copy: source {source_counts}, target {target_counts}"
        )
    log.info("database.copied", rows=copied)
    return CopyReport(rows=copied)


async def _copy_table(source: Database, target: Database, table: Table) -> int:
    key = list(table.primary_key.columns)
    copied = 0
    after: tuple[object, ...] | None = None
    while True:
        query = select(table).order_by(*key).limit(_BATCH)
        if after is not None:
            query = query.where(key[0] > after[0])  # every Alice table has a one-column key

        def read(conn: Connection, query: object = query) -> list[dict[str, object]]:
            return [dict(row) for row in conn.execute(query).mappings()]  # type: ignore[call-overload]

        rows = await source.run(read)
        if not rows:
            return copied

        def write(conn: Connection, rows: list[dict[str, object]] = rows) -> None:
            if table.name in ("tenants", "alice_meta"):
                # The target's migration made these; the source's version wins.
                names = [r[key[0].name] for r in rows]
                conn.execute(table.delete().where(key[0].in_(names)))
            conn.execute(insert(table), rows)

        await target.run(write)
        copied += len(rows)
        after = (rows[-1][key[0].name],)


def _table_counts(conn: Connection) -> dict[str, int]:
    return {
        table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
        for table in Base.metadata.sorted_tables
    }


def _advance_sequences(conn: Connection) -> None:
    for table in Base.metadata.sorted_tables:
        for column in table.primary_key.columns:
            if column.autoincrement is True or (
                column.autoincrement == "auto" and column.type.python_type is int
            ):
                # Names from Alice's own metadata, not from input.
                highest = f'(SELECT max("{column.name}") FROM "{table.name}")'  # noqa: S608
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence(:t, :c), GREATEST({highest}, 1))"),
                    {"t": table.name, "c": column.name},
                )
