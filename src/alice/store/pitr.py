"""Point-in-time recovery drill for PostgreSQL: prove the backup procedure works.

``alice db pitr-drill`` (and the test suite) runs the procedure docs/operations.md
describes, end to end, on throwaway clusters started from the installed PostgreSQL
binaries, never touching the configured database:

1. a cluster with WAL archiving (``archive_mode=on``, ``archive_command`` copying each
   finished segment to an archive folder), Alice's schema migrated into it;
2. rows written, then a base backup (``pg_basebackup``), then more rows;
3. the target time noted, then rows written after it, the WAL segment switched and
   archived, and the cluster stopped (the "disaster");
4. the base backup restored into a new cluster with ``restore_command`` reading the
   archive and ``recovery_target_time`` set, started, and promoted at the target;
5. checked: every row written before the target time (before and after the base
   backup) is back, and no row written after it is.

PostgreSQL refuses to run as root; as root the clusters run as the ``postgres`` user.
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg

from alice.errors import ConfigurationError

__all__ = ["DrillReport", "as_db_user", "pg_bindir", "run_pitr_drill"]

INSTALL_HINT = (
    "PostgreSQL's server binaries (initdb, pg_ctl, pg_basebackup) are needed: "
    "`sudo apt-get install postgresql` (Debian/Ubuntu) or `brew install postgresql@16`."
)


def pg_bindir() -> Path | None:
    """Where initdb, pg_ctl and pg_basebackup are, if installed."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")) + sorted(
        glob.glob("/opt/homebrew/opt/postgresql@*/bin/pg_ctl")
    )
    return Path(candidates[-1]).parent if candidates else None


def as_db_user(cmd: list[str]) -> list[str]:
    """``cmd`` run as the ``postgres`` account when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return cmd
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise ConfigurationError("running as root and there is no 'postgres' user") from exc
    return ["runuser", "-u", "postgres", "--", *cmd]


def _tool(bindir: Path, name: str) -> str:
    path = bindir / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        raise ConfigurationError(f"{name} not found. {INSTALL_HINT}")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DrillReport:
    """What the drill wrote, what came back, and how long recovery took."""

    target_time: datetime | None = None
    written_before_backup: int = 0
    written_after_backup: int = 0
    written_after_target: int = 0
    recovered: int = 0
    recovered_after_target: int = 0
    archived_segments: int = 0
    recovery_s: float = 0.0
    steps: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Every row before the target is back, none after it."""
        expected = self.written_before_backup + self.written_after_backup
        return self.recovered == expected and self.recovered_after_target == 0


class _Cluster:
    def __init__(self, bindir: Path, root: Path, name: str) -> None:
        self.bindir = bindir
        self.data = root / name
        self.log = root / f"{name}.log"
        self.socket_dir = root
        self.port = _free_port()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, *cmd: str) -> None:
        # The PostgreSQL tools of this installation with paths the drill made.
        result = subprocess.run(  # noqa: S603
            as_db_user(list(cmd)), capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{Path(cmd[0]).name} failed: {result.stderr.strip()[-800:]}")

    def start(self) -> None:
        self.run(
            _tool(self.bindir, "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1",
            "-w",
            "-t",
            "120",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(  # noqa: S603
            as_db_user([_tool(self.bindir, "pg_ctl"), "-D", str(self.data), "-m", mode, "stop"]),
            capture_output=True,
            check=False,
        )


async def _rows(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def _write(url: str, label: str, count: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        for n in range(count):
            # One transaction (one commit timestamp) per row, like chat turns.
            await conn.execute(
                "INSERT INTO pitr_drill (label, n, written_at) VALUES ($1, $2, clock_timestamp())",
                label,
                n,
            )
    finally:
        await conn.close()


async def _wait_archived(url: str, segments_before: int, timeout_s: float = 60) -> int:
    deadline = time.monotonic() + timeout_s
    while True:
        rows = await _rows(url, "SELECT archived_count, failed_count FROM pg_stat_archiver")
        archived = int(rows[0]["archived_count"])
        if archived > segments_before:
            return archived
        if time.monotonic() > deadline:
            raise RuntimeError(f"WAL archiving stalled ({rows[0]['failed_count']} failures)")
        await asyncio.sleep(0.2)


async def _wait_promoted(url: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            rows = await _rows(url, "SELECT pg_is_in_recovery() AS recovering")
            if not rows[0]["recovering"]:
                return
        except (OSError, asyncpg.PostgresError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the restored cluster did not finish recovery")
        await asyncio.sleep(0.2)


async def run_pitr_drill(*, rows: int = 20, keep: Path | None = None) -> DrillReport:
    """Run the drill on throwaway clusters; see the module docstring.

    Args:
        rows: rows written in each of the three phases.
        keep: leave the clusters' folders here (stopped) instead of deleting them.

    Raises:
        ConfigurationError: PostgreSQL's binaries are not installed.
        RuntimeError: a step of the procedure failed (the message says which).
    """
    from alice.app import database_config
    from alice.settings import Settings
    from alice.store.database import Database
    from alice.store.migrate import migrate

    bindir = pg_bindir()
    if bindir is None:
        raise ConfigurationError(INSTALL_HINT)
    root = Path(tempfile.mkdtemp(prefix="alice-pitr-", dir=keep))
    archive = root / "wal-archive"
    archive.mkdir()
    if os.geteuid() == 0:
        for path in (root, archive):
            shutil.chown(path, user="postgres")
    report = DrillReport()
    primary = _Cluster(bindir, root, "primary")
    restored = _Cluster(bindir, root, "restored")
    try:
        primary.run(
            _tool(bindir, "initdb"), "-D", str(primary.data), "-U", "postgres", "-A", "trust"
        )
        with (primary.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# alice pitr drill\n"
                "wal_level = replica\n"
                "archive_mode = on\n"
                f"archive_command = 'test ! -f {archive}/%f && cp %p {archive}/%f'\n"
                "archive_timeout = 0\n"
            )
        primary.start()
        report.steps.append("primary cluster started with WAL archiving")
        # Alice's own schema, migrated as in production, plus the drill's marker table.
        settings = Settings(_env_file=None, database_url=primary.url, encryption="off")
        database = Database(database_config(settings))
        try:
            await migrate(database)
        finally:
            await database.aclose()
        await _rows(
            primary.url,
            "CREATE TABLE pitr_drill (id bigserial PRIMARY KEY, label text NOT NULL, "
            "n int NOT NULL, written_at timestamptz NOT NULL)",
        )
        await _write(primary.url, "before-backup", rows)
        report.written_before_backup = rows
        primary.run(
            _tool(bindir, "pg_basebackup"),
            "-d",
            primary.url,
            "-D",
            str(root / "base"),
            "-X",
            "stream",
            "-c",
            "fast",
        )
        report.steps.append("base backup taken (pg_basebackup)")
        await _write(primary.url, "after-backup", rows)
        report.written_after_backup = rows
        target = (await _rows(primary.url, "SELECT clock_timestamp() AS now"))[0]["now"]
        report.target_time = target
        await asyncio.sleep(1.0)
        await _write(primary.url, "after-target", rows)
        report.written_after_target = rows
        archived = int(
            (await _rows(primary.url, "SELECT archived_count FROM pg_stat_archiver"))[0][
                "archived_count"
            ]
        )
        await _rows(primary.url, "SELECT pg_switch_wal()")
        report.archived_segments = await _wait_archived(primary.url, archived)
        report.steps.append(f"WAL archived ({report.archived_segments} segments)")
        primary.stop("immediate")  # the disaster: no clean shutdown
        report.steps.append("primary stopped (immediate)")

        # Restore: the base backup, the archive, and the target time.
        primary.run("cp", "-a", str(root / "base"), str(restored.data))
        with (restored.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# alice pitr drill: recovery\n"
                "archive_mode = off\n"
                f"restore_command = 'cp {archive}/%f %p'\n"
                f"recovery_target_time = '{target.isoformat()}'\n"
                "recovery_target_action = 'promote'\n"
            )
        primary.run("touch", str(restored.data / "recovery.signal"))
        started = time.perf_counter()
        restored.start()
        await _wait_promoted(restored.url)
        report.recovery_s = round(time.perf_counter() - started, 2)
        report.steps.append(f"restored to {target.isoformat()} in {report.recovery_s} s")
        back = await _rows(restored.url, "SELECT label, count(*) AS c FROM pitr_drill GROUP BY 1")
        counts = {row["label"]: int(row["c"]) for row in back}
        report.recovered = counts.get("before-backup", 0) + counts.get("after-backup", 0)
        report.recovered_after_target = counts.get("after-target", 0)
        version = await _rows(restored.url, "SELECT version_num FROM alembic_version")
        report.steps.append(f"Alice schema {version[0]['version_num']} present after recovery")
    finally:
        restored.stop()
        primary.stop("immediate")
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return report
