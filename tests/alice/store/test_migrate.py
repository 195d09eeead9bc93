"""Migrations run exactly once, even when several processes start together."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from alice.app import database_config
from alice.settings import Settings
from alice.store import Database
from alice.store.migrate import head_revision

PROCESSES = 4


def _migrate_concurrently(
    env_overrides: dict[str, str], cwd: Path
) -> list[subprocess.CompletedProcess[str]]:
    env = {**os.environ, **env_overrides}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "alice", "migrate"],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


async def _assert_at_head_once(url: str) -> None:
    settings = Settings(_env_file=None, database_url=url, encryption="off")  # type: ignore[call-arg]
    database = Database(database_config(settings))

    def read(conn: Connection) -> tuple[list[str], set[str]]:
        versions = list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
        return versions, set(inspect(conn).get_table_names())

    try:
        versions, tables = await database.run(read)
    finally:
        await database.aclose()
    assert versions == [head_revision()]
    assert {"conversations", "messages", "alembic_version"} <= tables


async def test_parallel_migrations_on_one_sqlite_file(tmp_path: Path) -> None:
    results = _migrate_concurrently({"ALICE_DATA_DIR": str(tmp_path / "data")}, tmp_path)
    for result in results:
        assert result.returncode == 0, result.stderr
        assert f"database at revision {head_revision()}" in result.stdout
    await _assert_at_head_once(f"sqlite:///{tmp_path / 'data' / 'alice.db'}")


async def test_parallel_migrations_on_one_postgresql_database(
    postgres_url: str, tmp_path: Path
) -> None:
    results = _migrate_concurrently({"ALICE_DATABASE_URL": postgres_url}, tmp_path)
    for result in results:
        assert result.returncode == 0, result.stderr
    await _assert_at_head_once(postgres_url)
