"""``alice serve`` as a real separate process (for tests about several replicas)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.servers import free_port


@contextmanager
def alice_serve(
    settings: Mapping[str, str],
    *,
    cwd: Path,
    ready_path: str = "/health",
    log_path: Path | None = None,
) -> Iterator[str]:
    """Start ``alice serve`` with ``settings`` as its only ALICE_* variables; yield its URL.

    Its stdout and stderr go to ``log_path`` (default ``cwd/alice-PORT.log``); the URL is
    yielded once ``ready_path`` answers 200.
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
    env.update(settings)
    alice = Path(sys.executable).parent / "alice"
    log_path = log_path or cwd / f"alice-{port}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [str(alice), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"alice serve exited: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}{ready_path}", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("alice serve did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
