"""A throwaway PostgreSQL cluster that the chaos drill can restart under load.

Not the shared server on 5432: restarting that would break everyone else's work. The
cluster is made with ``initdb`` in a temporary folder (fsync on, PostgreSQL's default,
so a crash keeps every commit), started with ``pg_ctl`` as the ``postgres`` account
when we are root (as `tests.support.postgres.throwaway_cluster` does), and removed
afterwards.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal

import asyncpg

from alice.store.pitr import INSTALL_HINT, as_db_user, pg_bindir
from bench.processes import free_port

__all__ = ["PgRestart", "ThrowawayPostgres"]

DATABASE = "alice"
_COMMAND_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class PgRestart:
    """One restart: when the command was issued and when the server accepted again."""

    mode: str
    issued_at: float
    returned_at: float


@dataclass
class ThrowawayPostgres:
    """initdb + pg_ctl in a temporary folder; `url` points Alice at database ``alice``."""

    port: int = field(default_factory=free_port)
    _root: Path | None = field(default=None, init=False)
    _bindir: Path | None = field(default=None, init=False)

    @property
    def admin_url(self) -> str:
        """The ``postgres`` database, for administration and the durability check."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def url(self) -> str:
        """The database Alice uses."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def log_path(self) -> Path:
        """The server's log."""
        if self._root is None:
            raise RuntimeError("the cluster is not running")
        return self._root / "log"

    def _pg_ctl(self, *args: str) -> list[str]:
        if self._bindir is None or self._root is None:
            raise RuntimeError("the cluster is not running")
        return as_db_user([str(self._bindir / "pg_ctl"), "-D", str(self._root / "data"), *args])

    def start(self) -> None:
        """Create and start the cluster, then the ``alice`` database.

        Raises:
            RuntimeError: PostgreSQL is not installed.
            subprocess.CalledProcessError: initdb or pg_ctl failed.
        """
        self._bindir = pg_bindir()
        if self._bindir is None:
            raise RuntimeError(INSTALL_HINT)
        self._root = Path(tempfile.mkdtemp(prefix="alice-loadtest-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self._root, user="postgres")
        initdb = [str(self._bindir / "initdb"), "-D", str(self._root / "data")]
        subprocess.run(
            as_db_user([*initdb, "-U", "postgres", "-A", "trust"]),
            check=True,
            capture_output=True,
            timeout=_COMMAND_TIMEOUT_S,
        )
        options = f"-p {self.port} -k {self._root} -c listen_addresses=127.0.0.1"
        subprocess.run(
            self._pg_ctl("-l", str(self.log_path), "-o", options, "-w", "start"),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=_COMMAND_TIMEOUT_S,
        )
        asyncio.run(self._create_database())

    async def _create_database(self) -> None:
        conn = await asyncpg.connect(self.admin_url, timeout=10)
        try:
            await conn.execute(f'CREATE DATABASE "{DATABASE}"')
        finally:
            await conn.close()

    def restart(self, mode: Literal["fast", "immediate"]) -> PgRestart:
        """``pg_ctl restart -m mode -w``: down, then up and accepting connections.

        ``immediate`` is a crash as far as the data is concerned (no shutdown checkpoint;
        the restart replays the WAL); ``fast`` disconnects clients and shuts down cleanly.
        """
        issued = time.time()
        # -l: the new postmaster writes to the log file. Without it, it would inherit
        # pg_ctl's output pipe and keep it open, and run() would wait on it for ever.
        subprocess.run(
            self._pg_ctl("-l", str(self.log_path), "-m", mode, "-w", "restart"),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=_COMMAND_TIMEOUT_S,
        )
        return PgRestart(mode=mode, issued_at=issued, returned_at=time.time())

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        if self._root is None:
            return
        subprocess.run(
            self._pg_ctl("-m", "fast", "stop"),
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=_COMMAND_TIMEOUT_S,
        )
        shutil.rmtree(self._root, ignore_errors=True)
        self._root = None

    def __enter__(self) -> ThrowawayPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
