"""Evidence of operational procedures: rollback and backup/restore.

A procedure is documented when a document has a section about it that gives steps (a
numbered list, a code block, commands), or a document line runs the tool that does it
(``kubectl rollout undo``, ``pg_restore``). Automation weighs more: a CronJob or a
Terraform backup plan, a rollback script, an Argo Rollout, reversible migrations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from readiness.checks._code import is_auxiliary
from readiness.configs import Configs
from readiness.configs.terraform import setting
from readiness.context import AuditContext
from readiness.docsections import find_sections
from readiness.model import Evidence
from readiness.repo import is_doc, is_python

__all__ = [
    "BACKUP",
    "RESTORE",
    "ROLLBACK",
    "DocProcedure",
    "Procedure",
    "backup_automation",
    "documented",
    "migrations",
    "rollback_automation",
]


@dataclass(frozen=True, slots=True)
class Procedure:
    """How to recognise one procedure in documents."""

    name: str
    title: re.Pattern[str]
    command: re.Pattern[str]
    mention: re.Pattern[str]


ROLLBACK = Procedure(
    "rollback",
    re.compile(r"roll(ing|ed)?[\s-]?back|revert|downgrad|undo|back[\s-]?out", re.I),
    re.compile(
        r"kubectl\s+(argo\s+rollouts\s+)?(rollout\s+)?undo|helm\s+rollback|alembic\s+downgrade|"
        r"git\s+revert|argocd\s+app\s+rollback|flyway\s+undo|docker\s+service\s+rollback|"
        r"update-traffic|manage\.py\s+migrate\s+\w+\s+\d{4}|(previous|last known good)\s+"
        r"(image|release|version|tag|revision)",
        re.I,
    ),
    re.compile(r"\broll(ing|ed)?[\s-]?backs?\b", re.I),
)
BACKUP = Procedure(
    "backup",
    re.compile(r"back[\s-]?ups?\b|disaster[\s-]recovery|snapshots?\b", re.I),
    re.compile(
        r"pg_dump(all)?|pg_basebackup|mysqldump|mariadb-dump|mongodump|\bbgsave\b|"
        r"sqlite3\s.*\.backup|vacuum\s+into|restic\s+backup|borg\s+create|"
        r"velero\s+(backup|schedule)\s+create|create-db-snapshot|gcloud\s+sql\s+backups\s+create|"
        r"wal-g\s+backup-push|pgbackrest\b.*\bbackup|barman\s+backup",
        re.I,
    ),
    re.compile(r"\bback[\s-]?(ed\s+)?ups?\b", re.I),
)
RESTORE = Procedure(
    "restore",
    re.compile(r"restor|recover", re.I),
    re.compile(
        r"pg_restore|\bpsql\b[^\n]*<|\bmysql\b[^\n]*<|mongorestore|restic\s+restore|"
        r"borg\s+extract|velero\s+restore|restore-db-|gcloud\s+sql\s+backups\s+restore|"
        r"wal-g\s+backup-fetch|pgbackrest\b.*\brestore|barman\s+recover|sqlite3\s.*\.restore",
        re.I,
    ),
    re.compile(r"\brestor(e|ed|ing)\b", re.I),
)
_BACKUP_NAME = re.compile(r"backup|dump|snapshot", re.I)
#: Functions named for doing a backup (``backup``, ``backup_db``, ``take_snapshot``), not
#: for merely being about backups (``backup_settings``).
_BACKUP_FUNCTION = re.compile(
    r"^_?(?:(?:run|do|make|create|take|schedule|nightly|daily)_)?(?:backup|dump|snapshot)s?"
    r"(?:_(?:db|database|data|sqlite|postgres|pg|mysql|mongo|redis|store|tables?|files?|"
    r"volumes?|all|now|job|task))?$",
    re.I,
)
_SCRIPT_SUFFIXES = ("", ".sh", ".bash", ".ps1", ".cron")


@dataclass(frozen=True, slots=True)
class DocProcedure:
    """What the documents say about one procedure."""

    #: Sections about it that give steps, and document lines that run its commands.
    steps: tuple[Evidence, ...] = ()
    #: Sections about it without steps (a heading, a sentence), or passing mentions.
    mentions: tuple[Evidence, ...] = ()
    placeholders: tuple[Evidence, ...] = field(default=())

    @property
    def level(self) -> str:
        """``steps``, ``mention`` or ``none``."""
        return "steps" if self.steps else "mention" if self.mentions else "none"


def documented(ctx: AuditContext, procedure: Procedure) -> DocProcedure:
    """Sections and command lines in documents about ``procedure``."""
    steps: list[Evidence] = []
    mentions: list[Evidence] = []
    placeholders: list[Evidence] = []
    for section in find_sections(ctx.repo, procedure.title):
        title = f"section '{section.title}'"
        if section.procedural:
            steps.append(Evidence(section.path, section.line, "docs", f"{title} gives steps"))
        elif section.placeholder:
            placeholders.append(Evidence(section.path, section.line, "docs", f"{title} is a stub"))
        else:
            mentions.append(Evidence(section.path, section.line, "docs", f"{title}, no steps"))
    docs = ctx.repo.doc_files
    for match in ctx.repo.grep(procedure.command, docs):
        steps.append(Evidence(match.path, match.line, "docs", f"command: {match.text[:80]}"))
    if not steps and not mentions and not placeholders:
        for match in ctx.repo.grep(procedure.mention, docs):
            mentions.append(Evidence(match.path, match.line, "docs", f"mention: {match.text[:80]}"))
            if len(mentions) >= 4:
                break
    return DocProcedure(tuple(steps[:6]), tuple(mentions[:4]), tuple(placeholders[:2]))


def _scripts(ctx: AuditContext) -> list[str]:
    out = []
    for path in ctx.repo.files:
        suffix = PurePosixPath(path).suffix
        if is_python(path) or is_doc(path) or suffix not in _SCRIPT_SUFFIXES:
            continue
        if suffix or path.startswith(("scripts/", "bin/", "ops/", "tools/")):
            out.append(path)
    return out


def backup_automation(ctx: AuditContext, configs: Configs) -> list[Evidence]:
    """Backups that run by themselves or by a script: CronJobs, cloud backup plans ..."""
    out: list[Evidence] = []
    for workload in configs.workloads:
        commands = " ".join(c.command for c in workload.containers)
        if workload.kind == "CronJob" and (
            _BACKUP_NAME.search(workload.name) or BACKUP.command.search(commands)
        ):
            out.append(Evidence(workload.path, workload.line, "config", f"CronJob {workload.name}"))
    for obj in configs.kube_objects:
        if obj.kind in ("Schedule", "Backup") and "velero" in obj.api_version:
            out.append(Evidence(obj.path, obj.line, "config", f"Velero {obj.kind} {obj.name}"))
    for block in configs.terraform:
        if block.block != "resource":
            continue
        what = f"Terraform {block.type}.{block.name}"
        if re.match(
            r"^(aws_backup_(plan|selection)|aws_dlm_lifecycle_policy|azurerm_backup_\w+)$",
            block.type,
        ):
            out.append(Evidence(block.path, block.line, "config", what))
        retention = setting(block.body, "backup_retention_period")
        if isinstance(retention, int) and retention > 0:
            out.append(Evidence(block.path, block.line, "config", f"{what}: {retention} days"))
        if setting(block.body, "settings", "backup_configuration", "enabled") is True:
            out.append(Evidence(block.path, block.line, "config", f"{what}: backups enabled"))
    for service in configs.compose:
        if service.image and "backup" in service.image.lower():
            out.append(Evidence(service.path, service.line, "config", f"runs {service.image}"))
    for rules in configs.makefiles.values():
        for rule in rules.values():
            for command in rule.commands:
                if BACKUP.command.search(command.text):
                    out.append(Evidence(command.path, command.line, "code", f"make {rule.target}"))
    for match in ctx.repo.grep(BACKUP.command, _scripts(ctx)):
        out.append(Evidence(match.path, match.line, "code", f"script: {match.text[:60]}"))
    for module, item in ctx.py.defs(_BACKUP_FUNCTION, kinds=("function",)):
        if not is_auxiliary(module.path) and ctx.py.is_wired(module, item):
            out.append(Evidence(module.path, item.line, "wired", f"{item.name}() is wired"))
    return out


def migrations(ctx: AuditContext) -> tuple[list[Evidence], list[Evidence]]:
    """Database migrations' ``downgrade`` functions: (real ones, empty ones)."""
    real: list[Evidence] = []
    empty: list[Evidence] = []
    for module in ctx.py.source:
        if "/versions/" not in f"/{module.path}" and "/migrations/" not in f"/{module.path}":
            continue
        for item in module.defs:
            if item.kind == "function" and item.name == "downgrade":
                target = empty if item.stub else real
                target.append(Evidence(module.path, item.line, "code", "migration downgrade()"))
    return real, empty


def rollback_automation(
    ctx: AuditContext, configs: Configs
) -> tuple[list[Evidence], list[Evidence]]:
    """(automatic or scripted rollback, platform support for rolling back)."""
    strong: list[Evidence] = []
    platform: list[Evidence] = []
    for workload in configs.workloads:
        if workload.kind == "Rollout":
            strong.append(
                Evidence(workload.path, workload.line, "config", f"Argo Rollout {workload.name}")
            )
        elif workload.kind == "Deployment":
            platform.append(
                Evidence(
                    workload.path,
                    workload.line,
                    "config",
                    f"Deployment {workload.name}: rollout undo",
                )
            )
    for chart in configs.charts:
        platform.append(
            Evidence(chart.path, 1, "config", f"Helm chart {chart.name}: helm rollback")
        )
    for rules in configs.makefiles.values():
        for rule in rules.values():
            if ROLLBACK.title.search(rule.target):
                strong.append(Evidence(rule.path, rule.line, "config", f"make {rule.target}"))
    for path in _scripts(ctx):
        if ROLLBACK.title.search(PurePosixPath(path).name):
            strong.append(Evidence(path, 1, "config", "rollback script"))
    real, _ = migrations(ctx)
    platform.extend(real[:2])
    return strong, platform
