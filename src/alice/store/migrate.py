"""Schema migrations (Alembic), safe when many processes start at once.

Replicas and CLI commands may all call `migrate` together on a fresh database. Each
takes a lock first: a PostgreSQL advisory lock, or a file lock next to the SQLite file.
The first one upgrades; the others then find the schema at head and do nothing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock
from sqlalchemy import text
from sqlalchemy.engine import Connection

from alice.store.database import Database

__all__ = ["current_revision", "head_revision", "migrate"]

_SCRIPTS = Path(__file__).parent / "alembic"
# Any constant works; it only has to be the same in every Alice process.
_PG_LOCK_KEY = 0x0A11CE
_LOCK_TIMEOUT_S = 300


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    return config


def head_revision() -> str:
    """The newest migration shipped with this version of Alice."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head


def _upgrade(connection: Connection) -> None:
    config = _config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _upgrade_locked_pg(connection: Connection) -> None:
    # One transaction (PostgreSQL's DDL is transactional) holding a transaction-level
    # advisory lock, released by the commit: no session state, so this also works
    # through PgBouncer in transaction mode, where a session lock could be taken on one
    # server connection and never released on another.
    try:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        _upgrade(connection)
        connection.commit()
    except BaseException:
        connection.rollback()
        raise


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(database: Database) -> str | None:
    """The revision the database is at, or None before the first migration."""
    return await database.run_outside_transaction(_revision)


async def migrate(database: Database) -> str:
    """Upgrade the schema to head under a cross-process lock; return the revision."""
    if database.config.is_sqlite:
        path = database.config.sqlite_path
        lock = FileLock(str(path) + ".migrate.lock") if path is not None else None
        if lock is not None:
            await asyncio.to_thread(lock.acquire, timeout=_LOCK_TIMEOUT_S)
        try:
            await database.run(_upgrade)
        finally:
            if lock is not None:
                lock.release()
    else:
        await database.run_outside_transaction(_upgrade_locked_pg)
    revision = await current_revision(database)
    if revision != head_revision():
        raise RuntimeError(f"database at revision {revision}, expected {head_revision()}")
    return revision
