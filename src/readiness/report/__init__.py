"""Report formats: Markdown for people, JSON for tools, SARIF 2.1.0 for code scanning.

Each format is a pure function of an `AuditReport` (`render`), so the same audit can be
written in every format without running it again.
"""

from __future__ import annotations

from collections.abc import Callable

from readiness.model import AuditReport
from readiness.report.json_report import render_json
from readiness.report.markdown import render_markdown
from readiness.report.sarif import render_sarif

__all__ = ["FORMATS", "render"]

#: Format name (as ``--format`` takes it) -> renderer.
FORMATS: dict[str, Callable[[AuditReport], str]] = {
    "md": render_markdown,
    "json": render_json,
    "sarif": render_sarif,
}


def render(report: AuditReport, fmt: str) -> str:
    """``report`` in the format ``fmt`` (``md``, ``json`` or ``sarif``)."""
    try:
        renderer = FORMATS[fmt]
    except KeyError:
        raise ValueError(
            f"unknown report format {fmt!r} (expected one of: {', '.join(FORMATS)})"
        ) from None
    return renderer(report)
