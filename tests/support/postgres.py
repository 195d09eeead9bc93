"""A PostgreSQL server for the test run.

Uses the server at ``ALICE_TEST_POSTGRES_URL`` (default: the local one on 5432). If none
answers, starts a throwaway cluster from the installed PostgreSQL binaries in a temporary
folder and removes it afterwards. If there are no binaries either, the tests fail with
the exact install command: the PostgreSQL tests are part of the suite, never skipped.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from alice.store.pitr import as_db_user, pg_bindir
from tests.support.servers import free_port

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
INSTALL_HINT = (
    "PostgreSQL is needed for the test suite and none is running or installed. "
    "Install it with `sudo apt-get install postgresql` (Debian/Ubuntu) or "
    "`brew install postgresql@16` (macOS), or point ALICE_TEST_POSTGRES_URL at a server."
)


async def _can_connect(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    bindir = pg_bindir()
    if bindir is None:
        raise RuntimeError(INSTALL_HINT)
    root = Path(tempfile.mkdtemp(prefix="alice-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres")
    data = root / "data"
    port = free_port()
    subprocess.run(
        as_db_user([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]),
        check=True,
        capture_output=True,
    )
    subprocess.run(
        as_db_user(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "log"),
                "-o",
                f"-p {port} -k {root} -c listen_addresses=127.0.0.1",
                "-w",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            as_db_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the admin URL of a running PostgreSQL server."""
    url = os.environ.get("ALICE_TEST_POSTGRES_URL", DEFAULT_URL)
    if asyncio.run(_can_connect(url)):
        yield url
        return
    with throwaway_cluster() as started:
        yield started


async def create_database(admin_url: str, name: str) -> str:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
