"""Suppressions: accepted findings, each with the check id, an optional path and a reason.

The file is TOML::

    [[suppress]]
    check = "security.hardcoded-secrets"
    path = "examples/*"          # optional fnmatch glob on the evidence's path
    reason = "documented sample keys, revoked"

A suppression without ``path`` takes the whole check out of the score (the report still
lists it, with the reason). With ``path``, the evidence under that path is dropped; if
nothing of a failed or warned check's evidence is left, the check is suppressed; if some
is left, the finding stands (a suppression for one file must not hide another).
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from readiness.model import CheckResult

__all__ = ["Suppression", "SuppressionError", "apply_suppressions", "load_suppressions"]


class SuppressionError(ValueError):
    """The suppressions file is not valid."""


@dataclass(frozen=True, slots=True)
class Suppression:
    """One accepted finding."""

    check: str
    reason: str
    path: str | None = None


def load_suppressions(file: Path, known: set[str]) -> tuple[Suppression, ...]:
    """Parse ``file``; every entry needs a known ``check`` and a non-empty ``reason``."""
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SuppressionError(f"cannot read {file}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SuppressionError(f"{file} is not valid TOML: {exc}") from exc
    entries = data.get("suppress", [])
    if not isinstance(entries, list):
        raise SuppressionError(f"{file}: 'suppress' must be an array of tables ([[suppress]])")
    out = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise SuppressionError(f"{file}: suppression {number} is not a table")
        check, reason, path = entry.get("check"), entry.get("reason"), entry.get("path")
        if not isinstance(check, str) or check not in known:
            raise SuppressionError(f"{file}: suppression {number}: unknown check {check!r}")
        if not isinstance(reason, str) or not reason.strip():
            raise SuppressionError(f"{file}: suppression {number} ({check}) needs a reason")
        if path is not None and not isinstance(path, str):
            raise SuppressionError(f"{file}: suppression {number}: path must be a string")
        out.append(Suppression(check, reason.strip(), path))
    return tuple(out)


def apply_suppressions(
    results: list[CheckResult], suppressions: tuple[Suppression, ...]
) -> list[CheckResult]:
    """The results with suppressions applied."""
    out = []
    for result in results:
        for item in suppressions:
            if item.check != result.id:
                continue
            if item.path is None:
                result = replace(result, suppressed=item.reason)
                break
            pattern = item.path
            kept = tuple(e for e in result.outcome.evidence if not fnmatch.fnmatch(e.path, pattern))
            if len(kept) == len(result.outcome.evidence):
                continue
            if not kept and result.status in ("fail", "warn"):
                result = replace(result, suppressed=item.reason)
                break
            notes = (*result.outcome.notes, f"evidence under {pattern} suppressed: {item.reason}")
            result = replace(result, outcome=replace(result.outcome, evidence=kept, notes=notes))
        out.append(result)
    return out
