"""The file index: which files an audit sees."""

from __future__ import annotations

import subprocess

from readiness import AuditOptions, run_audit
from readiness.repo import Repo
from readiness.report import render

from .conftest import MakeRepo


def test_build_and_environment_folders_are_skipped(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app.py": "x = 1\n",
            ".venv/lib/site.py": "y = 2\n",
            "node_modules/pkg/index.js": "z\n",
            "build/lib/app.py": "x = 1\n",
        }
    )
    assert Repo(root).files == ("app.py",)


def test_git_ignored_files_are_skipped(make_repo: MakeRepo) -> None:
    root = make_repo({"app.py": "x = 1\n", "secret.env": "K=v\n", ".gitignore": "*.env\n"})
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    assert Repo(root).files == (".gitignore", "app.py")


def test_the_auditors_own_reports_are_not_evidence(make_repo: MakeRepo) -> None:
    """A report recommends rollback steps; read back as a document it would pass the
    rollback check it failed. Earlier reports in any format are left out of the index."""
    root = make_repo({"app.py": "x = 1\n", "docs/notes.md": "# Notes\n\nPlain notes.\n"})
    report = run_audit(root, AuditOptions(analysers=False))
    for fmt, name in (("md", "readiness.md"), ("json", "audit.json"), ("sarif", "a.sarif")):
        (root / "docs" / name).write_text(render(report, fmt), encoding="utf-8")
    assert Repo(root).files == ("app.py", "docs/notes.md")
    again = run_audit(root, AuditOptions(analysers=False))
    assert [(r.id, r.status, r.score) for r in again.results] == [
        (r.id, r.status, r.score) for r in report.results
    ]
