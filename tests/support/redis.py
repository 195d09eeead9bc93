"""A Redis server for the test run.

Uses the server at ``ALICE_TEST_REDIS_URL`` (default: the local one on 6379). If none
answers, starts a throwaway ``redis-server`` (no persistence) on a free port in a
temporary folder and removes it afterwards. If there is no binary either, the tests fail
with the exact install command: the Redis tests are part of the suite, never skipped.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def throwaway_server() -> Iterator[str]:
    """Start ``redis-server`` on a free port; yield its URL; stop it and remove its folder."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(INSTALL_HINT)
    root = Path(tempfile.mkdtemp(prefix="alice-redis-"))
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with (root / "log").open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(root),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while not _can_connect(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"redis-server did not start: {(root / 'log').read_text(errors='replace')}"
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
