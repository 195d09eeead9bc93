"""The audited repository as a file index: which files, of what kind, and their text.

Files come from ``git ls-files`` (tracked and untracked-but-not-ignored) when the folder
is a git work tree, else from a walk that skips the usual build and environment folders.
Text is read lazily and kept (a 250,000-line repository is ~10 MB of text); files over
``MAX_FILE_BYTES`` and binary files are listed but never read.
"""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = ["MAX_FILE_BYTES", "Match", "Repo", "is_doc", "is_python", "is_test_path"]

MAX_FILE_BYTES = 2_000_000
_SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "env",
        ".env",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".tox",
        ".nox",
        "build",
        "dist",
        "site-packages",
        ".cache",
        ".eggs",
        ".idea",
        ".vscode",
    }
)
_DOC_SUFFIXES = frozenset({".md", ".rst", ".txt", ".adoc"})
_TEST_DIR = re.compile(r"(^|/)(tests?|testing|spec|__tests__)(/|$)")


def is_python(path: str) -> bool:
    """A Python source file."""
    return path.endswith(".py")


def is_test_path(path: str) -> bool:
    """A test file: under a tests folder, or named ``test_*.py`` / ``*_test.py``."""
    name = PurePosixPath(path).name
    return bool(
        _TEST_DIR.search(path)
        or name.startswith("test_")
        or name.endswith(("_test.py", "_test.go", ".test.ts", ".test.js", ".spec.ts"))
        or name == "conftest.py"
    )


def is_doc(path: str) -> bool:
    """A document (Markdown, reStructuredText, AsciiDoc, plain text)."""
    return PurePosixPath(path).suffix.lower() in _DOC_SUFFIXES


@dataclass(frozen=True, slots=True)
class Match:
    """One line matching a search."""

    path: str
    line: int
    text: str


class Repo:
    """A read-only view of the repository at ``root``."""

    def __init__(self, root: Path, *, files: Iterable[str] | None = None) -> None:
        self.root = root.resolve()
        if not self.root.is_dir():
            raise NotADirectoryError(f"not a folder: {root}")
        listed = files if files is not None else _list_files(self.root)
        # The auditor's own earlier reports are not evidence: a report's recommendations
        # ("document the rollback steps: ...") would otherwise count as documentation.
        self.files: tuple[str, ...] = tuple(
            sorted(p for p in listed if not _generated_report(self.root / p))
        )
        self._fileset = frozenset(self.files)
        self._text: dict[str, str | None] = {}
        self._lock = threading.Lock()

    # --- listing ----------------------------------------------------------------------
    def exists(self, path: str) -> bool:
        """Whether ``path`` (relative, posix) is one of the indexed files."""
        return path in self._fileset

    def glob(self, *patterns: str) -> list[str]:
        """Indexed files matching any of the fnmatch ``patterns``.

        A pattern is matched against the whole path; one without ``/`` also matches the
        file name in any folder.
        """
        out = []
        for path in self.files:
            name = path.rsplit("/", 1)[-1]
            for pattern in patterns:
                if fnmatch.fnmatch(path, pattern) or (
                    "/" not in pattern and fnmatch.fnmatch(name, pattern)
                ):
                    out.append(path)
                    break
        return out

    @property
    def python_files(self) -> list[str]:
        """Every ``.py`` file."""
        return [p for p in self.files if is_python(p)]

    @property
    def doc_files(self) -> list[str]:
        """Every document."""
        return [p for p in self.files if is_doc(p)]

    # --- reading ----------------------------------------------------------------------
    def text(self, path: str) -> str | None:
        """The file's text (UTF-8, errors replaced); None if missing, binary or huge."""
        with self._lock:
            if path in self._text:
                return self._text[path]
        value = _read(self.root / path)
        with self._lock:
            self._text[path] = value
        return value

    def lines(self, path: str) -> list[str]:
        """The file's lines (empty when unreadable)."""
        text = self.text(path)
        return text.splitlines() if text is not None else []

    def grep(self, pattern: str | re.Pattern[str], paths: Iterable[str]) -> Iterator[Match]:
        """Lines of ``paths`` matching ``pattern`` (case-insensitive when given a str)."""
        regex = re.compile(pattern, re.IGNORECASE) if isinstance(pattern, str) else pattern
        for path in paths:
            text = self.text(path)
            if text is None or not regex.search(text):
                continue
            for number, line in enumerate(text.splitlines(), start=1):
                if regex.search(line):
                    yield Match(path, number, line.strip()[:200])

    def line_of(self, path: str, pattern: str | re.Pattern[str]) -> int:
        """The first line of ``path`` matching ``pattern``; 0 if none."""
        for match in self.grep(pattern, [path]):
            return match.line
        return 0


#: How the auditor's reports name their tool near the top (Markdown; JSON and SARIF).
_REPORT_MARKER = re.compile(rb'Generated \S+ by alice-readiness |"name": ?"alice-readiness"')
_REPORT_SUFFIXES = (".md", ".json", ".sarif")


def _generated_report(path: Path) -> bool:
    if not path.name.endswith(_REPORT_SUFFIXES):
        return False
    try:
        with path.open("rb") as handle:
            head = handle.read(600)
    except OSError:
        return False
    return _REPORT_MARKER.search(head) is not None


def _read(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace")


def _list_files(root: Path) -> list[str]:
    if (root / ".git").exists():
        try:
            result = subprocess.run(
                ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],  # noqa: S607 - git from PATH, like any developer tool
                cwd=root,
                capture_output=True,
                check=True,
                timeout=60,
            )
        except (OSError, subprocess.SubprocessError):
            pass
        else:
            names = [n for n in result.stdout.decode("utf-8", "replace").split("\0") if n]
            return [n for n in names if not _skipped(n) and (root / n).is_file()]
    out: list[str] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.endswith(".egg-info"))
        rel = Path(folder).relative_to(root).as_posix()
        for name in names:
            out.append(name if rel == "." else f"{rel}/{name}")
    return out


def _skipped(path: str) -> bool:
    return any(part in _SKIP_DIRS for part in path.split("/")[:-1])
