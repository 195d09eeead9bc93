"""The SARIF 2.1.0 report, for code-scanning tools (GitHub code scanning and others).

One rule per check (``tool.driver.rules``), one result per failed or warned check.
Levels follow the finding's severity as the gap engine sees it: critical and high are
``error``, medium ``warning``, low ``note``; a warning is one step milder than a failure.
Suppressed findings stay in the log with an external suppression and its reason, so a
code-scanning tool shows them as dismissed rather than losing them.

Evidence in the repository becomes a physical location (repository-relative URI under
``%SRCROOT%``, with ``startLine`` when the line is known). A finding from a live probe
has no file: it gets a logical location named after the URL, and the URL is in the
message. A repository-wide finding without evidence (say, no CI at all) gets a logical
location only; GitHub lists such results in the SARIF it stores but shows alerts only for
results with a file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from readiness.model import AuditReport, CheckResult, CheckSpec, Evidence, Severity
from readiness.report.common import (
    TOOL_NAME,
    redact,
    result_severity,
    sentence,
    sorted_notes,
)

__all__ = ["SARIF_SCHEMA", "SARIF_VERSION", "render_sarif", "sarif_dict"]

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SRCROOT = "%SRCROOT%"

_LEVEL: dict[Severity, str] = {
    "critical": "error",
    "high": "error",
    "medium": "warning",
    "low": "note",
}
# GitHub ranks security alerts by this CVSS-like number (rule property).
_SECURITY_SEVERITY: dict[Severity, str] = {
    "critical": "9.5",
    "high": "8.0",
    "medium": "5.5",
    "low": "3.0",
}
#: GitHub code scanning keeps at most this many locations per result.
_MAX_LOCATIONS = 10


def _is_live(item: Evidence) -> bool:
    return item.strength == "live" or item.path.startswith(("http://", "https://"))


def _rule(spec: CheckSpec) -> dict[str, Any]:
    tags = ["production-readiness", spec.category]
    properties: dict[str, Any] = {
        "category": spec.category,
        "severity": spec.severity,
        "effort": spec.effort,
        "weight": spec.weight,
        "live": spec.live,
        "depends_on": list(spec.depends_on),
    }
    if spec.category == "security":
        # The category is "security" already: that tag is what GitHub filters on.
        properties["security-severity"] = _SECURITY_SEVERITY[spec.severity]
    properties["tags"] = tags
    return {
        "id": spec.id,
        "name": "".join(part.capitalize() for part in spec.id.replace(".", "-").split("-")),
        "shortDescription": {"text": spec.title},
        "fullDescription": {"text": spec.impact},
        "help": {
            "text": spec.recommendation,
            "markdown": f"**{spec.title}**\n\n{spec.impact}\n\n**Fix:** {spec.recommendation}",
        },
        "defaultConfiguration": {"level": _LEVEL[spec.severity]},
        "properties": properties,
    }


def _physical(item: Evidence) -> dict[str, Any]:
    location: dict[str, Any] = {
        "physicalLocation": {
            "artifactLocation": {"uri": quote(item.path), "uriBaseId": SRCROOT},
        }
    }
    if item.line > 0:
        location["physicalLocation"]["region"] = {"startLine": item.line}
    if item.note:
        location["message"] = {"text": f"{redact(item.note)} ({item.strength})"}
    else:
        location["message"] = {"text": f"{item.strength} evidence"}
    return location


def _locations(result: CheckResult) -> list[dict[str, Any]]:
    evidence = result.outcome.evidence
    files = [e for e in evidence if not _is_live(e)]
    live = [e for e in evidence if _is_live(e)]
    out = [_physical(e) for e in files[:_MAX_LOCATIONS]]
    if not out:
        names = [e.path for e in live] or ["repository"]
        out = [
            {"logicalLocations": [{"name": name, "fullyQualifiedName": name, "kind": "resource"}]}
            for name in dict.fromkeys(names[:_MAX_LOCATIONS])
        ]
    return out


def _message(result: CheckResult) -> str:
    outcome = result.outcome
    parts = [sentence(p) for p in (f"{result.spec.title}: {outcome.summary}", *outcome.gaps)]
    urls = list(dict.fromkeys(e.path for e in outcome.evidence if _is_live(e)))
    if urls:
        parts.append("Probed: " + ", ".join(urls))  # no period: it would read as the URL's
    return redact(" ".join(p for p in parts if p))


def _fingerprint(result: CheckResult) -> str:
    # Check id and the first file it points at, not line numbers: an unrelated edit that
    # shifts lines must not turn an old alert into a new one.
    files = [e.path for e in result.outcome.evidence if not _is_live(e)]
    key = f"{result.id}|{files[0] if files else ''}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _result(result: CheckResult, index: dict[str, int]) -> dict[str, Any]:
    severity = result_severity(result)
    out: dict[str, Any] = {
        "ruleId": result.id,
        "ruleIndex": index[result.id],
        "level": _LEVEL[severity],
        "kind": "fail",
        "message": {"text": _message(result)},
        "locations": _locations(result),
        "partialFingerprints": {"readinessFinding/v1": _fingerprint(result)},
        "properties": {
            "category": result.spec.category,
            "status": result.status,
            "score": result.score,
            "severity": severity,
        },
    }
    if result.suppressed is not None:
        out["suppressions"] = [{"kind": "external", "justification": result.suppressed}]
    return out


def _specs(results: Iterable[CheckResult]) -> list[CheckSpec]:
    return list({r.spec.id: r.spec for r in results}.values())


def _srcroot(target: str) -> str:
    path = Path(target)
    uri = path.as_uri() if path.is_absolute() else quote(path.as_posix())
    return uri if uri.endswith("/") else uri + "/"


def sarif_dict(report: AuditReport) -> dict[str, Any]:
    """The report as a SARIF 2.1.0 log (plain JSON-ready data)."""
    specs = _specs(report.results)
    index = {spec.id: i for i, spec in enumerate(specs)}
    results = [_result(r, index) for r in report.results if r.status in ("fail", "warn")]
    notifications = [
        {"level": "note", "message": {"text": redact(note)}} for note in sorted_notes(report)
    ]
    notifications += [
        {"level": "note", "message": {"text": f"analyser {name}: {status}"}}
        for name, status in sorted(report.analysers.items())
    ]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": report.tool_version,
                "semanticVersion": report.tool_version,
                "rules": [_rule(spec) for spec in specs],
            }
        },
        "originalUriBaseIds": {SRCROOT: {"uri": _srcroot(report.target)}},
        "invocations": [{"executionSuccessful": True, "toolExecutionNotifications": notifications}],
        "columnKind": "utf16CodeUnits",
        "results": results,
        "properties": {
            "overall": report.overall,
            "band": report.band,
            "weakest": report.weakest.id if report.weakest is not None else None,
            "generated_at": report.generated_at,
        },
    }
    if report.url:
        run["properties"]["url"] = report.url
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def render_sarif(report: AuditReport) -> str:
    """The report as SARIF 2.1.0 JSON (ends with a newline)."""
    return json.dumps(sarif_dict(report), indent=2, ensure_ascii=False) + "\n"
