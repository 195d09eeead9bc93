"""Database access for SQLite (WAL) or PostgreSQL (asyncpg).

Every piece of work is a plain synchronous function of a SQLAlchemy `Connection`, run in
one transaction by `Database.run`:

- **SQLite**: the stdlib driver on one dedicated thread holding the one connection. A
  transaction is one hop to that thread and back, whatever it executes. (An async driver
  such as aiosqlite hops to its thread once per statement, begin and commit: two turns
  cost 5.4 ms p50 that way against 1.3 ms here, measured; see
  ``docs/decisions/0008-sqlite-on-one-thread.md``.) One connection, because SQLite has
  one writer at a time anyway and writers racing on several connections wait in its
  busy handler, which sleeps in steps of up to 100 ms; queueing on the thread is fair.
- **PostgreSQL**: asyncpg through SQLAlchemy's async engine; the function runs under
  `AsyncConnection.run_sync`, so the same code serves both.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool, QueuePool, StaticPool

from alice.health import ComponentHealth
from alice.privacy.encryption import PLAINTEXT, FieldCipher

__all__ = ["Database", "DatabaseConfig", "sync_sqlite_url"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    """How to reach the database."""

    url: str
    pool_size: int = 10
    max_overflow: int = 10
    statement_cache: bool = True
    sqlite_synchronous: str = "full"
    #: Seals personal fields (message contents, titles) on write and opens them on read.
    cipher: FieldCipher = PLAINTEXT

    @property
    def is_sqlite(self) -> bool:
        """Whether the URL names a SQLite database."""
        return self.url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        """The database file, for a file-backed SQLite URL."""
        if not self.is_sqlite:
            return None
        database = make_url(self.url).database
        return Path(database) if database and database != ":memory:" else None


def sync_sqlite_url(url: str) -> str:
    """The stdlib-driver form of a SQLite URL (``sqlite+aiosqlite://`` is accepted too)."""
    return make_url(url).set(drivername="sqlite").render_as_string(hide_password=False)


class Database:
    """Runs units of work on the configured database."""

    def __init__(self, config: DatabaseConfig) -> None:
        self.config = config
        self._sqlite: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._async: AsyncEngine | None = None
        if config.is_sqlite:
            self._sqlite = _create_sqlite_engine(config)
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alice-sqlite")
        else:
            self._async = _create_pg_engine(config)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        engine = self._sqlite if self._sqlite is not None else self._async
        assert engine is not None  # one of the two is always set  # noqa: S101
        return engine.dialect.name

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one transaction: committed when it returns, else rolled back."""
        if self._sqlite is not None:
            return await self._on_thread(_in_transaction, self._sqlite, work)
        assert self._async is not None  # noqa: S101
        async with self._async.begin() as conn:
            return await conn.run_sync(work)

    async def run_outside_transaction(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` on a connection it manages itself (migrations, locks)."""
        if self._sqlite is not None:
            return await self._on_thread(_on_connection, self._sqlite, work)
        assert self._async is not None  # noqa: S101
        async with self._async.connect() as conn:
            return await conn.run_sync(work)

    async def _on_thread(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        # Shielded: a cancelled request must not leave the thread mid-transaction with
        # nobody waiting; the work finishes (or rolls back) and its result is dropped.
        return await asyncio.shield(loop.run_in_executor(self._thread, fn, *args))

    async def health(self) -> ComponentHealth:
        """Healthy when a trivial query round-trips."""
        try:
            await self.run(_select_one)
        except Exception as exc:  # any driver failure means "not ready", never a crash
            return ComponentHealth("unhealthy", f"database unreachable: {type(exc).__name__}")
        return ComponentHealth("healthy", self.dialect)

    def pool_status(self) -> dict[str, int] | None:
        """The PostgreSQL connection pool's size and use; None without a pool of our own.

        SQLite runs on one thread with one connection, and behind PgBouncer the pool is
        PgBouncer's (NullPool here): nothing to report then.
        """
        if self._async is None or not isinstance(self._async.pool, QueuePool):
            return None
        pool = self._async.pool
        return {
            "size": pool.size(),
            "checked_out": pool.checkedout(),
            "idle": pool.checkedin(),
            # overflow() counts from -size up; above zero it is connections past the size.
            "overflow": max(pool.overflow(), 0),
        }

    async def aclose(self) -> None:
        """Close every pooled connection and the SQLite thread."""
        if self._sqlite is not None and self._thread is not None:
            await self._on_thread(self._sqlite.dispose)
            self._thread.shutdown(wait=True)
        if self._async is not None:
            await self._async.dispose()


def _in_transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
    with engine.begin() as conn:
        return work(conn)


def _on_connection(engine: Engine, work: Callable[[Connection], T]) -> T:
    with engine.connect() as conn:
        return work(conn)


def _select_one(conn: Connection) -> None:
    conn.execute(text("SELECT 1"))


def _create_sqlite_engine(config: DatabaseConfig) -> Engine:
    path = config.sqlite_path
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        sync_sqlite_url(config.url),
        # One connection, used only from the database thread.
        poolclass=StaticPool,
        connect_args={"timeout": 30, "check_same_thread": False},
    )
    synchronous = config.sqlite_synchronous.upper()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # The driver's own transaction handling is off; SQLAlchemy emits BEGIN itself
        # (below), so a transaction starts where the code says it does.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        # WAL: readers never block the writer; other processes (CLI, replicas on one
        # host) can share the file. synchronous=FULL fsyncs each commit, so an
        # acknowledged message survives power loss, not just a crash.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock up front: a transaction that reads then writes
        # cannot fail half-way with "database is locked" when another process writes.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _create_pg_engine(config: DatabaseConfig) -> AsyncEngine:
    if not config.statement_cache:
        # Behind PgBouncer in transaction mode a server connection is shared between
        # clients: no prepared-statement cache, unique statement names, and no pool of
        # our own (PgBouncer is the pool). SQLAlchemy's documented recipe.
        return create_async_engine(
            config.url,
            poolclass=NullPool,
            connect_args={
                "statement_cache_size": 0,
                "prepared_statement_cache_size": 0,
                "prepared_statement_name_func": lambda: f"__asyncpg_{uuid.uuid4()}__",
            },
        )
    return create_async_engine(
        config.url,
        pool_size=config.pool_size,
        max_overflow=config.max_overflow,
        pool_pre_ping=True,
    )
