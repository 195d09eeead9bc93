"""Fixtures for the readiness auditor's tests: small repositories built on disk."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from readiness.context import AuditContext, AuditOptions
from readiness.engine import build_context
from readiness.model import Outcome
from readiness.registry import all_checks

MakeRepo = Callable[..., Path]


def write_repo(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative path -> text, dedented) under ``root``."""
    for rel, text in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


@pytest.fixture
def make_repo(tmp_path: Path) -> MakeRepo:
    """``make_repo({"app.py": "...", ...}, name="repo")`` -> the repository's root."""
    counter = iter(range(1_000_000))

    def make(files: dict[str, str], name: str | None = None) -> Path:
        return write_repo(tmp_path / (name or f"repo{next(counter)}"), files)

    return make


def context(root: Path, **options: object) -> AuditContext:
    """An audit context for ``root`` (external analysers off unless asked for)."""
    options.setdefault("analysers", False)
    ctx = build_context(root, AuditOptions(**options))  # type: ignore[arg-type]
    if ctx.options.analysers:
        from readiness.analysers import Analysers

        ctx.attach_analysers(Analysers.start(ctx.repo, timeout_s=ctx.options.analyser_timeout_s))
    return ctx


def check_outcome(check_id: str, root: Path | AuditContext, **options: object) -> Outcome:
    """Run one check by id on a repository root (or a context built already)."""
    ctx = root if isinstance(root, AuditContext) else context(root, **options)
    for item in all_checks():
        if item.spec.id == check_id:
            return item.run(ctx)  # not engine.run_check: a crash must fail the test
    raise KeyError(check_id)
