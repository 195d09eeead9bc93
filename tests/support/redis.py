"""A Redis server for the test run.

Uses the server at ``ALICE_TEST_REDIS_URL`` (default: the local one on 6379). If none
answers, starts a throwaway ``redis-server`` (no persistence) on a free port in a
temporary folder and removes it afterwards. If there is no binary either, the tests fail
with the exact install command: the Redis tests are part of the suite, never skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.exceptions import RedisError

from tests.support.servers import free_port

DEFAULT_URL = "redis://127.0.0.1:6379/0"
INSTALL_HINT = (
    "Redis is needed for the test suite and none is running or installed. "
    "Install it with `sudo apt-get install redis-server` (Debian/Ubuntu) or "
    "`brew install redis` (macOS), or point ALICE_TEST_REDIS_URL at a server."
)


def _can_connect(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        return bool(client.ping())
    except (RedisError, OSError):
        return False
    finally:
        client.close()


def _binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(INSTALL_HINT)
    return binary


@contextmanager
def _process(args: list[str], root: Path, url: str) -> Iterator[str]:
    """Run ``redis-server`` with ``args``; yield ``url`` once it answers; stop it."""
    log_path = root / f"log-{url.rsplit(':', 1)[-1].split('/')[0]}"
    with log_path.open("wb") as log:
        process = subprocess.Popen([_binary(), *args], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not _can_connect(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"redis-server did not start: {log_path.read_text(errors='replace')}"
                )
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _server_args(port: int, root: Path, *extra: str) -> list[str]:
    folder = root / str(port)
    folder.mkdir()
    return [
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(folder),
        "--save",
        "",
        "--appendonly",
        "no",
        *extra,
    ]


@contextmanager
def throwaway_server() -> Iterator[str]:
    """Start ``redis-server`` on a free port; yield its URL; stop it and remove its folder."""
    _binary()
    root = Path(tempfile.mkdtemp(prefix="alice-redis-"))
    port = free_port()
    try:
        with _process(_server_args(port, root), root, f"redis://127.0.0.1:{port}/0") as url:
            yield url
    finally:
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class SentinelGroup:
    """A master, its replica and one sentinel watching them, all throwaway."""

    master_name: str
    master_port: int
    replica_port: int
    sentinel_port: int
    #: Processes `freeze_master` stopped, resumed when the group stops.
    frozen: list[int] = field(default_factory=list)

    @property
    def sentinels(self) -> str:
        """The value of ``ALICE_REDIS_SENTINELS``."""
        return f"127.0.0.1:{self.sentinel_port}"

    def url(self, port: int) -> str:
        return f"redis://127.0.0.1:{port}/0"

    def master_addr(self) -> tuple[str, int]:
        """Where the sentinel says the master is now."""
        client = redis.Redis(port=self.sentinel_port, socket_timeout=3)
        try:
            host, port = client.sentinel_get_master_addr_by_name(self.master_name)
        finally:
            client.close()
        return host.decode() if isinstance(host, bytes) else str(host), int(port)

    def wait_until_watched(self, timeout_s: float = 30) -> None:
        """Until the sentinel knows the replica and the replica is in sync."""
        sentinel = redis.Redis(port=self.sentinel_port, socket_timeout=3, decode_responses=True)
        replica = redis.Redis(port=self.replica_port, socket_timeout=3, decode_responses=True)
        try:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                known = sentinel.sentinel_slaves(self.master_name)
                link = replica.info("replication").get("master_link_status")
                if link == "up" and any(
                    int(r["port"]) == self.replica_port and not r["is_odown"] for r in known
                ):
                    return
                time.sleep(0.1)
            raise RuntimeError("the sentinel never saw the replica in sync")
        finally:
            sentinel.close()
            replica.close()

    def replicated(self) -> None:
        """Wait until the replica has acknowledged every write the master took."""
        client = redis.Redis(port=self.master_addr()[1], socket_timeout=10)
        try:
            if client.wait(1, 5000) != 1:
                raise RuntimeError("the replica did not catch up")
        finally:
            client.close()

    def fail_over(self, timeout_s: float = 30) -> int:
        """Make the sentinel promote the replica; return the new master's port."""
        old = self.master_addr()[1]
        client = redis.Redis(port=self.sentinel_port, socket_timeout=3)
        try:
            client.execute_command("SENTINEL", "FAILOVER", self.master_name)
        finally:
            client.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            port = self.master_addr()[1]
            if port != old and _role(port) == "master" and _role(old) == "slave":
                return port
            time.sleep(0.1)
        raise RuntimeError("the sentinel did not fail over")

    def freeze_master(self, timeout_s: float = 30) -> int:
        """Stop the master's process (SIGSTOP: a hung host, its sockets left open, no FIN).

        Returns the port the sentinel promotes. The process resumes when the group stops.
        """
        old = self.master_addr()[1]
        client = redis.Redis(port=old, socket_timeout=3)
        try:
            pid = int(client.info("server")["process_id"])
        finally:
            client.close()
        self.frozen.append(pid)
        os.kill(pid, signal.SIGSTOP)
        return self._promoted(old, timeout_s)

    def _promoted(self, old: int, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            port = self.master_addr()[1]
            if port != old and _role(port) == "master":
                return port
            time.sleep(0.1)
        raise RuntimeError("the sentinel did not promote the replica")

    def lose_master(self, timeout_s: float = 30) -> int:
        """Shut the master down (a lost host); return the port the sentinel promotes."""
        old = self.master_addr()[1]
        client = redis.Redis(port=old, socket_timeout=3)
        try:
            client.shutdown(nosave=True)
        except (RedisError, OSError):
            pass  # the server closes the connection as it exits
        finally:
            client.close()
        return self._promoted(old, timeout_s)


def _role(port: int) -> str:
    client = redis.Redis(port=port, socket_timeout=3)
    try:
        role = client.execute_command("ROLE")
    except (RedisError, OSError):
        return "down"
    finally:
        client.close()
    name = role[0]
    return name.decode() if isinstance(name, bytes) else str(name)


@contextmanager
def sentinel_group(master_name: str = "alice-test") -> Iterator[SentinelGroup]:
    """Start a master, a replica of it and a sentinel (quorum 1) on free ports."""
    _binary()
    root = Path(tempfile.mkdtemp(prefix="alice-sentinel-"))
    master, replica, watcher = free_port(), free_port(), free_port()
    while len({master, replica, watcher}) < 3:
        replica, watcher = free_port(), free_port()
    config = root / "sentinel.conf"
    config.write_text(
        f"port {watcher}\n"
        "bind 127.0.0.1\n"
        f"dir {root}\n"
        f"sentinel monitor {master_name} 127.0.0.1 {master} 1\n"
        f"sentinel down-after-milliseconds {master_name} 1000\n"
        f"sentinel failover-timeout {master_name} 10000\n"
    )
    group = SentinelGroup(master_name, master, replica, watcher)
    replica_args = _server_args(replica, root, "--replicaof", "127.0.0.1", str(master))
    try:
        with (
            _process(_server_args(master, root), root, group.url(master)),
            _process(replica_args, root, group.url(replica)),
            _process([str(config), "--sentinel"], root, f"redis://127.0.0.1:{watcher}/0"),
        ):
            group.wait_until_watched()
            try:
                yield group
            finally:
                for pid in group.frozen:
                    with suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGCONT)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def redis_server(url: str | None = None) -> Iterator[str]:
    """Yield the URL of a running Redis server: ``url`` or the default if one answers."""
    url = url or DEFAULT_URL
    if _can_connect(url):
        yield url
        return
    with throwaway_server() as started:
        yield started


def delete_prefix(url: str, prefix: str) -> int:
    """Delete every key starting with ``prefix`` (SCAN + DEL); return how many."""
    pattern = re.sub(r"([*?\[\]\\])", r"\\\1", prefix) + "*"
    client = redis.Redis.from_url(url)
    try:
        deleted = 0
        batch: list[bytes] = []
        for name in client.scan_iter(match=pattern, count=500):
            batch.append(name)
            if len(batch) >= 500:
                deleted += client.delete(*batch)
                batch.clear()
        if batch:
            deleted += client.delete(*batch)
        return deleted
    finally:
        client.close()
