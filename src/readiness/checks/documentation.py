"""Checks: documentation (README, API docs, architecture, runbook, troubleshooting, config).

Documents are judged by their structure and content (`readiness.checks._docs`): a README
must say what the thing is, how to get it running, how to use it and how to configure it;
an API reference must describe routes the code registers; a runbook must give steps, per
alert when there are alerts; the configuration reference must cover the environment
variables the code actually reads. A file name alone proves nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

import yaml

from readiness.checks._auth import is_public_path
from readiness.checks._code import is_auxiliary, production, resolved_calls, served_routes
from readiness.checks._docs import DocSection, doc_sections, documents
from readiness.context import AuditContext
from readiness.model import Evidence, Outcome, Status
from readiness.registry import check

__all__ = [
    "api_docs",
    "architecture",
    "config_reference",
    "readme",
    "runbook",
    "troubleshooting",
]

_INSTALL_CMD = re.compile(
    r"\b(pip3? install|pipx install|poetry install|uv (sync|pip install|tool install)|"
    r"make (install|setup|run|dev|bootstrap|up)|npm (ci|install)|yarn install|"
    r"docker(-| )compose (up|build|pull)|docker (run|build|pull)|helm install|git clone|"
    r"apt(-get)? install|brew install|conda (env )?create|go install|cargo install)\b"
)
_RUN_CMD = re.compile(
    r"\b(make run|docker(-| )compose up|docker run|uvicorn|gunicorn|hypercorn|python3? -m|"
    r"flask run|npm (run|start)|yarn start|go run|cargo run)\b"
)
_GETTING_STARTED = re.compile(
    r"install|set ?up|getting started|quick ?start|requirements|prerequisites|run|running|"
    r"deploy|build", re.IGNORECASE
)  # fmt: skip
_USAGE = re.compile(
    r"usage|example|how to use|api|endpoint|cli|command|talk|use it|tutorial|client",
    re.IGNORECASE,
)
_USAGE_CODE = re.compile(r"\b(curl|http[s]?://|import |from \w+ import|requests\.|httpx\.)")
_CONFIG = re.compile(r"config|setting|environment|env\b|variables|options", re.IGNORECASE)
_ENV_LINE = re.compile(r"^\s*(export\s+)?[A-Z][A-Z0-9_]{2,}=")


def _readme(ctx: AuditContext) -> str | None:
    for name in ("README.md", "README.rst", "README.txt", "README", "readme.md", "Readme.md"):
        if ctx.repo.exists(name):
            return name
    return None


@check(
    id="documentation.readme",
    category="documentation",
    title="README",
    severity="high",
    effort="S",
    weight=1.5,
    impact=(
        "Without a README that says what the service is and how to run, use and "
        "configure it, every new engineer and every on-call responder starts by reading "
        "the code."
    ),
    recommendation=(
        "Write the README around four questions: what is it, how do I get it running "
        "(one copy-paste command), how do I use it (a request example), and how do I "
        "configure it (the key settings, linking the full reference)."
    ),
)
def readme(ctx: AuditContext) -> Outcome:
    """A root README covering overview, getting started, usage and configuration."""
    path = _readme(ctx)
    if path is None:
        return Outcome("fail", 0, "no README at the repository root")
    sections = documents(ctx).get(path, [])
    whole = sections[0] if sections else None
    if whole is None or whole.words < 15:
        words = whole.words if whole else 0
        return Outcome(
            "fail",
            10,
            f"{path} is nearly empty ({words} words)",
            (Evidence(path, 1, "docs", f"{words} words"),),
        )
    parts = _readme_parts(path, sections)
    present = [k for k, v in parts.items() if v is not None]
    missing = [k for k, v in parts.items() if v is None]
    score = 25 * len(present)
    evidence = tuple(v for v in parts.values() if v is not None)
    summary = f"{path} covers {len(present)} of 4: " + ", ".join(present or ["nothing"])
    gaps = tuple(f"the README does not cover {m}" for m in missing)
    status: Status = "pass" if score >= 75 else "warn" if score >= 50 else "fail"
    return Outcome(status, score, summary, evidence, gaps=gaps)


def _code(section: DocSection) -> str:
    return "\n".join(section.code)


def _readme_parts(path: str, sections: list[DocSection]) -> dict[str, Evidence | None]:
    """Where the README answers each of its four questions (None: it does not)."""
    whole = sections[0]
    parts: dict[str, Evidence | None] = {
        "overview": None,
        "getting started": None,
        "usage": None,
        "configuration": None,
    }
    # The prose before the first sub-heading: the document less its top-level sections
    # (under the title when there is one).
    title = sections[1] if len(sections) > 1 and sections[1].level == 1 else None
    top = sections[2:] if title is not None else sections[1:]
    level = min((s.level for s in top), default=0)
    intro_words = whole.words - sum(s.words for s in top if s.level == level)
    if intro_words >= 15 or any(re.search(r"about|overview|what", s.title, re.I) for s in sections):
        parts["overview"] = Evidence(path, 1, "docs", f"overview: {intro_words} words")
    # The most specific section first, so the evidence cites where the content is.
    ordered = sorted(sections, key=lambda s: s.end_line - s.line)
    body = [s for s in ordered if s.level and s is not title]
    start = _first(body, lambda s: bool(_GETTING_STARTED.search(s.title)) and s.procedural)
    start = start or _first(
        ordered, lambda s: bool(_INSTALL_CMD.search(_code(s)) or _RUN_CMD.search(_code(s)))
    )
    if start is not None:
        note = f"getting started: '{start.title or 'top of the file'}'"
        parts["getting started"] = Evidence(path, start.line, "docs", note)
    # A sentence or a short table of settings is a configuration section; a bare heading
    # ("Configuration: see the wiki") is not.
    config = _first(body, lambda s: bool(_CONFIG.search(s.title)) and s.words >= 8)
    config = config or _first(body, lambda s: any(_ENV_LINE.match(c) for c in s.code))
    if config is not None:
        note = f"configuration: '{config.title}'"
        parts["configuration"] = Evidence(path, config.line, "docs", note)
    usage = _first(body, lambda s: bool(_USAGE.search(s.title)) and s.procedural)
    usage = usage or _first(
        body, lambda s: s.procedural and s is not config and bool(_USAGE_CODE.search(_code(s)))
    )
    if usage is not None:
        parts["usage"] = Evidence(path, usage.line, "docs", f"usage: '{usage.title}'")
    return parts


def _first(sections: list[DocSection], test: Callable[[DocSection], bool]) -> DocSection | None:
    return next((s for s in sections if test(s)), None)


# --- documentation.api-docs -------------------------------------------------------------
_SPEC_NAME = re.compile(r"(openapi|swagger)[\w.-]*\.(json|ya?ml)$", re.IGNORECASE)
_SPEC_HEAD = re.compile(r"""^\s*["']?(openapi|swagger)["']?\s*:""", re.MULTILINE)
_DOC_ENDPOINT = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE|HEAD)\s+`?(/[^\s`|)\]]*)")
_VERBS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"})
_PARAM = re.compile(r"\{[^}]*\}|<[^>]*>|:\w+")


def _normalise(path: str) -> str:
    return _PARAM.sub("{}", path.split("?", 1)[0]).rstrip("/") or "/"


def _specs(ctx: AuditContext) -> list[Evidence]:
    """Parsed OpenAPI/Swagger documents with at least one path."""
    out = []
    for path in ctx.repo.files:
        if not path.endswith((".json", ".yaml", ".yml")) or is_auxiliary(path):
            continue
        text = ctx.repo.text(path)
        if text is None or not (_SPEC_NAME.search(path) or _SPEC_HEAD.search(text[:2000])):
            continue
        try:
            data: Any = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError):
            ctx.note(f"{path}: looks like an OpenAPI document but does not parse; left out")
            continue
        if not isinstance(data, dict) or not ("openapi" in data or "swagger" in data):
            continue
        paths = data.get("paths") or {}
        if isinstance(paths, dict) and paths:
            version = data.get("openapi") or data.get("swagger")
            note = f"OpenAPI {version} document with {len(paths)} paths"
            out.append(Evidence(path, 1, "config", note))
    return out


@check(
    id="documentation.api-docs",
    category="documentation",
    title="API documentation",
    severity="medium",
    effort="M",
    weight=1.25,
    impact=(
        "Clients guess request shapes and error codes from trial and error; every API "
        "change breaks someone silently."
    ),
    recommendation=(
        "Publish an OpenAPI document (generated by the framework, e.g. FastAPI's "
        "/openapi.json, or a maintained spec file) and a short API guide with examples "
        "for each endpoint and its error responses."
    ),
)
def api_docs(ctx: AuditContext) -> Outcome:
    """An OpenAPI spec (file or generated by the framework) or docs covering the routes."""
    routes = [r for r in served_routes(ctx) if not is_public_path(r.path)]
    specs = _specs(ctx)
    generated: list[Evidence] = []
    for app in resolved_calls(ctx, ("fastapi.FastAPI",)):
        if "openapi_url" in app.call.off:
            note = "FastAPI(openapi_url=None): the OpenAPI document is switched off"
            generated.append(Evidence(app.module.path, app.call.line, "code", note))
        else:
            note = "FastAPI app: OpenAPI is generated from the routes (/openapi.json)"
            generated.append(Evidence(app.module.path, app.call.line, "wired", note))
    served = [e for e in generated if e.strength == "wired"]
    if not routes and not specs:
        return Outcome("unknown", 0, "no HTTP API found (no routes, no OpenAPI document)")
    documented: set[tuple[str, str]] = set()
    doc_files: list[Evidence] = []
    for path in ctx.repo.doc_files:
        if is_auxiliary(path) and not path.startswith("docs/"):
            continue
        text = ctx.repo.text(path) or ""
        found = {(m.group(1), _normalise(m.group(2))) for m in _DOC_ENDPOINT.finditer(text)}
        if found:
            documented |= found
            doc_files.append(Evidence(path, 1, "docs", f"describes {len(found)} endpoints"))

    def described_route(method: str, path: str) -> bool:
        # A documented path may carry the router's prefix (/v1/chat for a /chat route);
        # a route registered for any method (Flask's @app.route) matches any verb.
        wanted = _normalise(path)
        return any(
            (m == method or method not in _VERBS) and (d == wanted or d.endswith(wanted))
            for m, d in documented
        )

    described = [r for r in routes if described_route(r.method, r.path)]
    coverage = len(described) / len(routes) if routes else 1.0
    missing = [r for r in routes if r not in described]
    evidence = [*specs[:2], *generated[:2], *sorted(doc_files, key=lambda e: e.path)[:3]]
    evidence += [
        Evidence(r.module.path, r.line, "code", f"{r.method} {r.path} is not in any API doc")
        for r in missing[:6]
    ]
    summary = f"{len(described)} of {len(routes)} API routes described in documents"
    if specs or served:
        what = "an OpenAPI document" if specs else "OpenAPI generated by FastAPI"
        gaps = () if coverage >= 0.5 else ("no written API guide with examples",)
        return Outcome(
            "pass", 100 if coverage >= 0.5 else 90, f"{what}; {summary}", tuple(evidence),
            gaps=gaps,
        )  # fmt: skip
    if coverage >= 0.8:
        return Outcome("pass", 90, summary, tuple(evidence))
    undocumented = tuple(f"{r.method} {r.path} is undocumented" for r in missing[:5])
    if coverage >= 0.4:
        return Outcome("warn", 60, summary, tuple(evidence), gaps=undocumented)
    return Outcome("fail", 30 if described else 0, summary, tuple(evidence), gaps=undocumented)


# --- documentation.architecture ---------------------------------------------------------
_ARCH_TITLE = re.compile(
    r"architecture|design|how it works|components|system overview|internals|data flow",
    re.IGNORECASE,
)
_ARCH_PATH = re.compile(r"architecture|design|internals", re.IGNORECASE)
_ADR_DIR = re.compile(r"(^|/)(adr|adrs|decisions|architecture/decisions|rfcs?)/", re.I)


@check(
    id="documentation.architecture",
    category="documentation",
    title="Architecture documentation",
    severity="medium",
    effort="M",
    weight=1.0,
    impact=(
        "Without an architecture description, changes are made without knowing what "
        "depends on what, and incidents are debugged by rediscovering the design."
    ),
    recommendation=(
        "Document the components, how a request flows through them, the data stores and "
        "external dependencies, with a diagram (mermaid renders on GitHub), and record "
        "significant decisions as ADRs."
    ),
)
def architecture(ctx: AuditContext) -> Outcome:
    """A substantive architecture document (words, diagram) and decision records."""
    docs = documents(ctx)
    candidates: list[DocSection] = []
    for path, sections in docs.items():
        if not sections:
            continue
        if _ARCH_PATH.search(PurePosixPath(path).stem):
            candidates.append(sections[0])
        candidates += [s for s in sections[1:] if _ARCH_TITLE.search(s.title)]
    adrs = sorted(p for p in docs if _ADR_DIR.search(p))
    best = max(candidates, key=lambda s: (s.words, s.diagrams), default=None)
    evidence: list[Evidence] = []
    if best is not None:
        what = best.title or PurePosixPath(best.path).name
        note = f"{what}: {best.words} words, {best.diagrams} diagram(s)"
        evidence.append(Evidence(best.path, best.line, "docs", note))
    if adrs:
        evidence.append(Evidence(adrs[0], 0, "docs", f"{len(adrs)} decision record(s)"))
    # Substantive: a real description, or a shorter one that names the components.
    if best is not None and (best.words >= 150 or (best.words >= 40 and best.steps >= 3)):
        extra = best.diagrams > 0 or len(adrs) > 0
        return Outcome(
            "pass",
            100 if extra else 85,
            "architecture is documented"
            + (" with a diagram" if best.diagrams else "")
            + (f" and {len(adrs)} decision records" if adrs else ""),
            tuple(evidence),
            gaps=() if extra else ("no diagram or decision records",),
        )
    if best is not None or adrs:
        return Outcome(
            "warn",
            55,
            "only a short architecture section or decision records, no architecture overview",
            tuple(evidence),
            gaps=("no substantive architecture overview (components, request flow)",),
        )
    return Outcome("fail", 0, "no architecture documentation found")


# --- documentation.runbook --------------------------------------------------------------
_RUNBOOK_PATH = re.compile(r"runbook|playbook|operations|operating|on-?call|incident", re.I)
_RUNBOOK_TITLE = re.compile(r"runbook|playbook|on-?call|incident|alert|when .+ fires", re.I)


@check(
    id="documentation.runbook",
    category="documentation",
    title="Runbook",
    severity="medium",
    effort="M",
    weight=1.0,
    impact=(
        "When an alert fires at 3 a.m. without a runbook, the responder improvises: "
        "outages last longer and fixes differ from person to person."
    ),
    recommendation=(
        "Write a runbook with one section per alert (what it means, how to confirm, the "
        "commands to mitigate, when to escalate) and link it from each alert's "
        "runbook_url annotation."
    ),
)
def runbook(ctx: AuditContext) -> Outcome:
    """Operational procedures with steps, covering the alerts that are defined."""
    docs = documents(ctx)
    procedures: list[DocSection] = []
    files: list[str] = []
    for path, sections in docs.items():
        whole_file = bool(_RUNBOOK_PATH.search(PurePosixPath(path).stem))
        if whole_file:
            files.append(path)
        for section in sections[1:]:
            in_runbook = whole_file or _RUNBOOK_TITLE.search(section.title)
            if in_runbook and section.procedural and section.level >= 2:
                procedures.append(section)
    alerts = [r for r in ctx.configs.rules if r.kind == "alert"]
    titles = " ".join(s.title.lower() for s in procedures)
    covered = [a for a in alerts if a.name.lower() in titles or a.runbook]
    evidence = [
        Evidence(s.path, s.line, "docs", f"procedure '{s.title[:60]}' ({s.steps} steps)")
        for s in procedures[:6]
    ]
    uncovered = [a for a in alerts if a not in covered]
    evidence += [
        Evidence(a.path, a.line, "config", f"alert {a.name} has no runbook section or link")
        for a in uncovered[:4]
    ]
    if not procedures:
        if files:
            return Outcome(
                "warn",
                40,
                "an operations document exists but gives no step-by-step procedures",
                tuple(Evidence(p, 1, "docs", "no procedural section") for p in files[:3]),
                gaps=("the runbook has no procedures with steps",),
            )
        return Outcome("fail", 0, "no runbook or operational procedures found")
    coverage = len(covered) / len(alerts) if alerts else 1.0
    summary = f"{len(procedures)} runbook procedure(s) with steps"
    if alerts:
        summary += f"; {len(covered)} of {len(alerts)} alerts have a runbook section or link"
    # Alerts defined: the runbook is judged by them; otherwise by how much it covers.
    if (alerts and coverage >= 0.6) or (not alerts and len(procedures) >= 3):
        return Outcome("pass", round(70 + 30 * coverage), summary, tuple(evidence))
    gaps = tuple(f"alert {a.name} has no runbook" for a in uncovered[:5]) or ("few procedures",)
    return Outcome("warn", round(40 + 30 * coverage), summary, tuple(evidence), gaps=gaps)


# --- documentation.troubleshooting ------------------------------------------------------
_TROUBLE = re.compile(
    r"troubleshoot|common (problems|issues|errors)|known issues|faq|debugging|diagnos|"
    r"if something goes wrong|when things go wrong|errors? (and|&) fixes",
    re.IGNORECASE,
)


@check(
    id="documentation.troubleshooting",
    category="documentation",
    title="Troubleshooting guide",
    severity="low",
    effort="S",
    weight=0.75,
    impact=(
        "Known failure modes are rediscovered by each user and support engineer; the "
        "same questions reach the team again and again."
    ),
    recommendation=(
        "Add a troubleshooting section: each known symptom (error message, status code, "
        "log line), its cause, and the command or setting that fixes it."
    ),
)
def troubleshooting(ctx: AuditContext) -> Outcome:
    """A troubleshooting/FAQ section with symptoms and fixes, not a heading alone."""
    sections = doc_sections(ctx, _TROUBLE)
    docs = documents(ctx)

    def symptoms(section: DocSection) -> int:
        """Subsections with a body: one per symptom, each with its fix."""
        return sum(
            1
            for s in docs.get(section.path, [])
            if section.line < s.line <= section.end_line
            and s.level > section.level
            and s.words >= 5
        )

    substantive = [
        s
        for s in sections
        if (s.words >= 40 and (s.procedural or s.words >= 120))
        or (s.words >= 20 and symptoms(s) >= 2)
    ]
    evidence = tuple(
        Evidence(s.path, s.line, "docs", f"'{s.title[:60]}': {s.words} words, {s.steps} steps")
        for s in (substantive or sections)[:5]
    )
    if substantive:
        return Outcome("pass", 100, "troubleshooting is documented with fixes", evidence)
    if sections:
        return Outcome(
            "warn",
            45,
            "a troubleshooting heading exists but says little",
            evidence,
            gaps=("the troubleshooting section lists no symptoms with fixes",),
        )
    return Outcome("fail", 0, "no troubleshooting or FAQ section found")


# --- documentation.config-reference -----------------------------------------------------
_GENERIC_ENV = frozenset(
    {"PATH", "HOME", "USER", "SHELL", "TERM", "PWD", "LANG", "TZ", "TMPDIR", "CI",
     "PYTHONPATH", "VIRTUAL_ENV", "HOSTNAME", "LC_ALL", "NO_COLOR", "FORCE_COLOR",
     "COLUMNS", "LINES", "EDITOR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"}
)  # fmt: skip
_ENV_EXAMPLE = re.compile(
    r"(^|/)(\.env\.(example|sample|template|dist)|env\.example|example\.env)$"
)
_ENV_TOKEN = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b|\b[A-Z]{3,}\b")
_DOTENV_KEY = re.compile(r"^\s*#?\s*(?:export\s+)?([A-Z][A-Z0-9_]*)\s*=", re.MULTILINE)


@check(
    id="documentation.config-reference",
    category="documentation",
    title="Configuration reference",
    severity="medium",
    effort="S",
    weight=1.0,
    impact=(
        "Settings the code reads but nobody documented are found during an incident, "
        "by reading source, or never: deployments run on defaults nobody chose."
    ),
    recommendation=(
        "Document every environment variable the service reads (name, default, meaning) "
        "in .env.example or a configuration page, and check it in CI against the code."
    ),
)
def config_reference(ctx: AuditContext) -> Outcome:
    """Environment variables read by the code vs those in .env.example and documents."""
    read: dict[str, tuple[str, int]] = {}
    for module in production(ctx).modules:
        if is_auxiliary(module.path):
            continue
        for name, line in (*module.env, *module.settings):
            if name not in _GENERIC_ENV and not name.startswith(("PYTEST", "GITHUB_")):
                read.setdefault(name, (module.path, line))
    if not read:
        return Outcome("unknown", 0, "the code reads no environment variables")
    documented: set[str] = set()
    sources: list[Evidence] = []
    for path in ctx.repo.files:
        if _ENV_EXAMPLE.search(path):
            keys = set(_DOTENV_KEY.findall(ctx.repo.text(path) or ""))
            documented |= keys
            sources.append(Evidence(path, 1, "docs", f"{len(keys)} variables"))
    for path in ctx.repo.doc_files:
        text = ctx.repo.text(path) or ""
        found = set(_ENV_TOKEN.findall(text)) & read.keys()
        if found - documented:
            sources.append(Evidence(path, 1, "docs", f"names {len(found)} variables"))
        documented |= found
    missing = sorted(n for n in read if n not in documented)
    share = 1 - len(missing) / len(read)
    evidence = [
        Evidence(read[n][0], read[n][1], "code", f"{n} is read here but documented nowhere")
        for n in missing[:10]
    ]
    evidence += sources[:4]
    summary = f"{len(read) - len(missing)} of {len(read)} environment variables are documented"
    gaps = (f"undocumented: {', '.join(missing[:8])}",) if missing else ()
    status: Status = "pass" if share >= 0.9 else "warn" if share >= 0.5 else "fail"
    return Outcome(status, round(100 * share), summary, tuple(evidence), gaps=gaps)
