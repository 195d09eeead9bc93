"""Stopping the service stops it: a SIGTERM to the whole process group (what systemd and
Kubernetes send) shuts the server down cleanly, and the model worker is not taken for a
crashed one and respawned on the way out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]

from tests.support.servers import free_port


def test_a_sigterm_to_the_process_group_is_a_clean_shutdown(
    tmp_path: Path, model_file: Path
) -> None:
    port = free_port()
    log_file = tmp_path / "alice.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
    env.update(
        {
            "ALICE_DATA_DIR": str(tmp_path / "data"),
            "ALICE_MODEL_PATH": str(model_file),
            "ALICE_LOG_FILE": str(log_file),
            "ALICE_AUTH": "off",
            "ALICE_GUARDIAN_ENABLED": "false",
        }
    )
    alice = Path(sys.executable).parent / "alice"
    process = subprocess.Popen(
        [str(alice), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, as under a service manager
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, "alice serve exited early"
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1)
                # (Ready with offline answers only is not enough: the model must be up.)
                if ready.json()["components"]["model"]["state"] == "healthy":
                    break
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            assert time.monotonic() < deadline, "alice serve did not get ready"
            time.sleep(0.1)
        # The model worker (the child holding the model: by far the largest) ignores a
        # SIGTERM of its own: only its server stops it.
        worker = max(
            psutil.Process(process.pid).children(recursive=True),
            key=lambda child: child.memory_info().rss,
        )
        worker.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert worker.is_running() and worker.status() != psutil.STATUS_ZOMBIE
        os.killpg(process.pid, signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught (so a
        # supervisor sees "terminated by SIGTERM"); "alice.stopped" below proves the
        # graceful part.
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    events = [json.loads(line)["event"] for line in log_file.read_text().splitlines()]
    assert "alice.stopped" in events
    assert "model.worker_died" not in events
    assert events.count("model.loaded") == 1, " ".join(events)  # none started on the way out


def test_the_worker_uses_every_cpu_unless_told() -> None:
    from alice.llm.providers.llamacpp import LlamaCppConfig, default_n_threads

    usable = len(os.sched_getaffinity(0))
    assert 1 <= default_n_threads() <= usable
    config = LlamaCppConfig(model_name="m", model_path=Path("m.gguf"))
    assert config.worker_config().n_threads == default_n_threads()
    pinned = LlamaCppConfig(model_name="m", model_path=Path("m.gguf"), n_threads=1)
    assert pinned.worker_config().n_threads == 1
