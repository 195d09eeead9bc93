"""Checks: compliance (security category): tenant isolation, PII handling, data retention.

Each is judged from code on the running path first: tenant ids passed into queries and
constructors, a PII redactor that is called (in the request path and in logging), and
deletion/export endpoints plus a purge job or retention setting. Documents only count as
the weakest evidence: a privacy policy that no code enforces is a promise.
"""

from __future__ import annotations

import re

from readiness.checks._code import (
    is_auxiliary,
    name_words,
    named_defs,
    production,
    resolved_calls,
    served_routes,
    web_service,
)
from readiness.context import AuditContext, grade
from readiness.docsections import find_sections
from readiness.model import Evidence, Outcome, Strength
from readiness.registry import check

__all__ = ["data_retention", "pii_handling", "tenant_isolation"]

# --- security.tenant-isolation ----------------------------------------------------------
_TENANT_KEYS = frozenset(
    {"tenant_id", "tenant", "org_id", "organization_id", "organisation_id", "workspace_id",
     "account_id", "team_id", "customer_id", "project_id"}
)  # fmt: skip
_USER_KEYS = frozenset({"user_id", "owner_id", "owner", "principal_id"})
#: Libraries of data stores: a module importing one holds data that must be scoped.
_STORES = frozenset(
    {"sqlalchemy", "sqlmodel", "asyncpg", "psycopg", "psycopg2", "aiosqlite", "sqlite3",
     "redis", "pymongo", "motor", "django", "peewee", "tortoise", "databases", "boto3",
     "qdrant_client", "chromadb", "pinecone", "weaviate", "elasticsearch"}
)  # fmt: skip
_TENANT_DEF = re.compile(r"tenan|organi[sz]ation|workspace", re.IGNORECASE)


@check(
    id="security.tenant-isolation",
    category="security",
    title="Tenant isolation",
    severity="high",
    effort="L",
    weight=1.5,
    impact=(
        "Without a tenant id on every stored row and every query, one customer's "
        "conversations, keys or documents are one missing WHERE clause away from another's."
    ),
    recommendation=(
        "Carry a tenant id from the authenticated key into every model and query (a "
        "repository layer that requires it, or row-level security), keep per-tenant keys "
        "and quotas, and test that tenant A cannot read tenant B's data."
    ),
    depends_on=("security.endpoint-auth",),
)
def tenant_isolation(ctx: AuditContext) -> Outcome:
    """Tenant ids flow through production calls (queries, models), not just a name."""
    if not web_service(ctx):
        return Outcome("unknown", 0, "not a multi-user service: no HTTP routes or web framework")
    tenant_calls: list[Evidence] = []
    user_calls: list[Evidence] = []
    modules: set[str] = set()
    stores: set[str] = set()
    for module in production(ctx).modules:
        names = module.names & _TENANT_KEYS
        for call in module.calls:
            keys = set(call.kwargs)
            if keys & _TENANT_KEYS:
                names = names | (keys & _TENANT_KEYS)
                key = sorted(keys & _TENANT_KEYS)[0]
                tenant_calls.append(
                    Evidence(module.path, call.line, "wired", f"{call.name}({key}=...)")
                )
            elif keys & _USER_KEYS:
                key = sorted(keys & _USER_KEYS)[0]
                user_calls.append(
                    Evidence(module.path, call.line, "code", f"{call.name}({key}=...)")
                )
        if names - {"tenant"}:  # ``tenant`` alone is too common a word to count
            modules.add(module.path)
            if any(i.module.split(".")[0] in _STORES for i in module.imports):
                stores.add(module.path)
    store_evidence = [
        Evidence(path, 0, "wired", "a data-store module keys its data by tenant")
        for path in sorted(stores)
    ]
    defs = [d for d in named_defs(ctx, _TENANT_DEF) if d.state == "wired"]
    def_evidence = [
        Evidence(d.module.path, d.item.line, "wired", f"{d.item.kind} {d.item.name} is used")
        for d in defs
    ]
    tests = [
        Evidence(m.path, line, "test", f"test {name}")
        for m in ctx.py.tests
        for name, line in m.tests
        if re.search(r"tenant|cross_org|isolation|other_org", name, re.IGNORECASE)
    ]
    evidence = (tenant_calls[:5] + store_evidence[:3] + def_evidence[:3] + tests[:3]) or (
        user_calls[:6]
    )
    if len(modules) >= 2 and (stores or def_evidence or tests):
        return Outcome(
            "pass",
            100 if tests else 90,
            f"tenant ids flow through {len(modules)} production modules"
            + (f", {len(stores)} of them data stores" if stores else ""),
            tuple(evidence),
            strengths=("data access is scoped by tenant",),
            gaps=() if tests else ("no test shows one tenant cannot read another's data",),
        )
    if modules or def_evidence:
        return Outcome(
            "warn",
            55,
            f"a tenant notion exists but reaches only {len(modules)} production module(s)",
            tuple(evidence),
            gaps=("tenant scoping is not shown across the data layer",),
        )
    if user_calls:
        return Outcome(
            "warn",
            40,
            "data is scoped per user, with no tenant or organisation concept",
            tuple(evidence),
            gaps=("no tenant/organisation isolation (per-user scoping only)",),
        )
    return Outcome(
        "fail",
        0,
        "no tenant or user scoping found in production calls",
        gaps=("nothing scopes stored data to a tenant or user",),
    )


# --- security.pii-handling --------------------------------------------------------------
_PII_LIBS = ("presidio_analyzer", "presidio_anonymizer", "scrubadub", "piiano", "pii_redact")
_PII_DEPS = ("presidio-analyzer", "presidio-anonymizer", "scrubadub")
_PII_STRONG = frozenset(
    {"pii", "redact", "redactor", "redaction", "redacts", "anonymize", "anonymise",
     "anonymizer", "anonymiser", "anonymization", "anonymisation", "pseudonymize",
     "pseudonymise", "pseudonymizer", "scrub", "scrubber", "deidentify"}
)  # fmt: skip
_PII_STEMS = ("redact", "anonymi", "anonymis", "pseudonymi", "scrub", "deidentif")
_PII_MASK = frozenset({"mask", "masking", "masker", "masked"})
_PII_CONTEXT = frozenset(
    {"pii", "personal", "sensitive", "email", "emails", "phone", "ssn", "personnummer", "card"}
)
_PII_PREFILTER = re.compile(r"pii|redact|anonymi|pseudonymi|scrub|deidentif|mask", re.IGNORECASE)
_PII_DOC = re.compile(r"\bpii\b|personal data|personuppgifter|redact|anonymi", re.IGNORECASE)


def _pii_named(name: str) -> bool:
    words = set(name_words(name))
    strong = words & _PII_STRONG or any(w.startswith(_PII_STEMS) for w in words)
    return bool(strong) or bool(words & _PII_MASK and words & _PII_CONTEXT)


@check(
    id="security.pii-handling",
    category="security",
    title="PII handling",
    severity="high",
    effort="L",
    weight=1.5,
    impact=(
        "Personal data sent to a model provider or written to logs leaves your control: "
        "it is retained by third parties and readable by everyone with log access (GDPR "
        "exposure)."
    ),
    recommendation=(
        "Detect and mask PII (Presidio, scrubadub or own validated detectors) before "
        "prompts leave the service and in a logging filter, and test the masking on real "
        "formats (emails, phone and national id numbers)."
    ),
)
def pii_handling(ctx: AuditContext) -> Outcome:
    """A PII detector/redactor called from production code (request path and logs)."""
    evidence: list[Evidence] = []
    for found in resolved_calls(ctx, _PII_LIBS):
        evidence.append(
            Evidence(found.module.path, found.call.line, "wired", f"calls {found.qualified}")
        )
    log_filters: list[Evidence] = []
    for item in named_defs(ctx, _PII_PREFILTER, mechanisms_only=False):
        if not _pii_named(item.item.name):
            continue
        strength: Strength = "wired" if item.state == "wired" else "code"
        note = f"{item.item.kind} {item.item.name} ({item.state})"
        evidence.append(Evidence(item.module.path, item.item.line, strength, note))
        if item.item.kind == "class" and any(b.endswith("Filter") for b in item.item.bases):
            log_filters.append(Evidence(item.module.path, item.item.line, strength, note))
    evidence += ctx.deps.evidence(*_PII_DEPS)
    for section in find_sections(ctx.repo, _PII_DOC):
        evidence.append(Evidence(section.path, section.line, "docs", section.title[:80]))
    outcome = grade(
        evidence,
        found="PII is detected and masked in code on the running path",
        missing="no PII detection or masking found",
    )
    if outcome.status == "pass" and not log_filters:
        return Outcome(
            "pass",
            90,
            outcome.summary,
            outcome.evidence,
            gaps=("no logging filter shown to redact PII from log lines",),
        )
    return outcome


# --- security.data-retention ------------------------------------------------------------
_ERASE_PATH = re.compile(r"export|gdpr|erase|erasure|forget|takeout|delete|purge", re.I)
_PURGE_DEF = re.compile(r"purge|prune|expire|retention|erase|forget|cleanup|delete_old", re.I)
_RETENTION_ENV = re.compile(r"RETENTION|_TTL|EXPIR|MAX_AGE|PURGE|KEEP_DAYS|_DAYS$", re.I)
_RETENTION_DOC = re.compile(r"retention|deletion|erasure|gdpr|data protection|forget", re.I)


@check(
    id="security.data-retention",
    category="security",
    title="Data retention and deletion",
    severity="medium",
    effort="M",
    weight=1.0,
    impact=(
        "Stored conversations grow forever and cannot be deleted or exported on request: "
        "a GDPR right-to-erasure request becomes a manual database job, and a breach "
        "exposes years of data instead of weeks."
    ),
    recommendation=(
        "Add deletion and export endpoints (per user and per tenant), a scheduled purge "
        "driven by a retention setting, and document the retention periods."
    ),
)
def data_retention(ctx: AuditContext) -> Outcome:
    """Deletion/export endpoints and a retention mechanism (purge job or setting)."""
    if not production(ctx).modules:
        return Outcome("unknown", 0, "no production Python source to analyse")
    erase: list[Evidence] = []
    for served in served_routes(ctx):
        if served.method == "DELETE" or _ERASE_PATH.search(served.path):
            note = f"{served.method} {served.path}"
            erase.append(Evidence(served.module.path, served.line, "wired", note))
    keep: list[Evidence] = []
    for item in named_defs(ctx, _PURGE_DEF, mechanisms_only=False):
        if item.state == "wired":
            note = f"{item.item.kind} {item.item.name} is called"
            keep.append(Evidence(item.module.path, item.item.line, "wired", note))
    for module in production(ctx).modules:
        for name, line in (*module.env, *module.settings):
            if _RETENTION_ENV.search(name) and not is_auxiliary(module.path):
                keep.append(Evidence(module.path, line, "code", f"setting {name}"))
    docs = [
        Evidence(s.path, s.line, "docs", s.title[:80])
        for s in find_sections(ctx.repo, _RETENTION_DOC)
    ][:3]
    evidence = tuple([*erase[:5], *keep[:5], *docs])
    if erase and keep:
        return Outcome(
            "pass",
            100,
            f"{len(erase)} deletion/export route(s) and a retention mechanism",
            evidence,
            strengths=("data can be deleted on request and expires by policy",),
        )
    if erase or keep:
        missing = "no retention purge or setting" if erase else "no deletion or export endpoint"
        return Outcome("warn", 55, f"partial: {missing}", evidence, gaps=(missing,))
    if docs:
        return Outcome(
            "fail",
            25,
            "retention and deletion are only described in documents",
            evidence,
            gaps=("no deletion endpoint or purge job implements the documented policy",),
        )
    return Outcome(
        "fail",
        0,
        "no deletion/export endpoints, retention settings or purge jobs found",
        gaps=("stored data is kept forever and cannot be erased on request",),
    )
