"""Checks: deployment, and horizontal scaling (judged from deployment configuration).

Container image, its user, health checks, infrastructure as code, rollback and backup
procedures; ``performance.horizontal-scaling`` is in category performance.

Everything here comes from parsed configuration (`readiness.configs`) and, where the
configuration points at the application (a health probe's path), from the routes the
Python source registers.
"""

from __future__ import annotations

import re

from readiness.checks._code import served_routes
from readiness.checks._deploy import (
    HEALTH_ROUTE,
    data_stores,
    local_state,
    matching_route,
    probe_units,
    shared_stores,
)
from readiness.checks._runbooks import (
    BACKUP,
    RESTORE,
    ROLLBACK,
    backup_automation,
    documented,
    migrations,
    rollback_automation,
)
from readiness.configs.docker import Dockerfile
from readiness.configs.orchestration import Probe
from readiness.context import AuditContext
from readiness.model import Evidence, Outcome, Status
from readiness.registry import check

__all__ = [
    "backup_docs",
    "container_healthcheck",
    "container_image",
    "horizontal_scaling",
    "infrastructure_as_code",
    "non_root_user",
    "rollback_docs",
]

_ROOT = frozenset({"root", "0"})


def _ordered(evidence: list[Evidence], limit: int = 8) -> tuple[Evidence, ...]:
    seen: dict[tuple[str, int, str], Evidence] = {}
    for item in evidence:
        seen.setdefault((item.path, item.line, item.note), item)
    return tuple(list(seen.values())[:limit])


def _unpinned(dockerfile: Dockerfile) -> list[tuple[str, int]]:
    aliases = {s.alias for s in dockerfile.stages if s.alias}
    out = []
    for stage in dockerfile.stages:
        base = stage.base
        if base in aliases or base == "scratch" or "$" in base or "@sha256:" in base:
            continue
        name = base.rsplit("/", 1)[-1]
        tag = name.split(":", 1)[1] if ":" in name else ""
        if tag in ("", "latest"):
            out.append((base, stage.line))
    return out


@check(
    id="deployment.container-image",
    category="deployment",
    title="Container image built from the repository",
    severity="medium",
    effort="S",
    impact=(
        "Without an image built from a reviewed Dockerfile, what runs in production is "
        "assembled by hand on each host: not reproducible, not scannable, not rollbackable."
    ),
    recommendation=(
        "Add a multi-stage Dockerfile that pins its base image (tag or digest), installs "
        "only runtime dependencies and is built by CI on every merge."
    ),
)
def container_image(ctx: AuditContext) -> Outcome:
    """A production Dockerfile (parsed), its base images pinned."""
    configs = ctx.configs
    images = configs.production_dockerfiles
    if not images:
        deployed = [
            Evidence(w.path, c.line, "config", f"runs image {c.image}")
            for w in configs.workloads
            for c in w.containers
        ] + [
            Evidence(s.path, s.line, "config", f"runs image {s.image}")
            for s in configs.compose
            if s.image
        ]
        others = [
            Evidence(d.path, 1, "config", "a development/test image") for d in configs.dockerfiles
        ]
        if deployed:
            return Outcome(
                "warn",
                60,
                "images are deployed, but none is built from a Dockerfile in this repository",
                _ordered(deployed + others),
                gaps=("no production Dockerfile: the deployed image's build is not reviewed here",),
            )
        return Outcome(
            "fail",
            10 if others else 0,
            "no production container image: no Dockerfile builds the service",
            _ordered(others),
            gaps=("no Dockerfile builds a deployable image",),
        )
    evidence: list[Evidence] = []
    strengths: list[str] = []
    gaps: list[str] = []
    for dockerfile in images:
        final = dockerfile.stages[-1]  # parse_dockerfile guarantees a FROM
        stages = len(dockerfile.stages)
        note = f"final stage FROM {final.base}" + (f" ({stages} stages)" if stages > 1 else "")
        evidence.append(Evidence(dockerfile.path, final.line, "config", note))
        if stages > 1:
            strengths.append(f"{dockerfile.path}: multi-stage build ({stages} stages)")
        for base, line in _unpinned(dockerfile):
            gaps.append(f"{dockerfile.path}:{line}: base image {base} is not pinned to a version")
            evidence.append(Evidence(dockerfile.path, line, "config", f"unpinned base {base}"))
    if gaps:
        return Outcome(
            "warn",
            70,
            "a Dockerfile builds the service, but a base image is not pinned",
            _ordered(evidence),
            tuple(strengths),
            tuple(gaps),
        )
    return Outcome(
        "pass",
        100,
        f"{len(images)} production Dockerfile(s) with pinned base images",
        _ordered(evidence),
        tuple(strengths) or ("the service is built into a container image",),
    )


@check(
    id="deployment.non-root-user",
    category="deployment",
    title="Containers run as a non-root user",
    severity="high",
    effort="S",
    impact=(
        "A process running as root inside the container turns any code-execution bug "
        "into root on the container and a short step from the host (container escapes, "
        "writable mounts)."
    ),
    recommendation=(
        "Create an unprivileged user in the final stage and end with `USER app` (or a "
        "numeric UID); on Kubernetes also set `securityContext.runAsNonRoot: true` and "
        "`runAsUser`."
    ),
    depends_on=("deployment.container-image",),
)
def non_root_user(ctx: AuditContext) -> Outcome:
    """The final stage's USER, Kubernetes securityContext, compose ``user:``."""
    configs = ctx.configs
    root: list[Evidence] = []
    safe: list[Evidence] = []
    unresolved: list[Evidence] = []
    root_images = 0
    for dockerfile in configs.production_dockerfiles:
        value, line, how = dockerfile.user()
        verdict = dockerfile.runs_as_root()
        if verdict is None:
            unresolved.append(
                Evidence(dockerfile.path, line, "config", f"USER {value}: a variable")
            )
        elif verdict:
            what = "no USER in the final stage: runs as root" if value is None else f"USER {value}"
            root.append(Evidence(dockerfile.path, line, "config", what))
            root_images += 1
        else:
            safe.append(Evidence(dockerfile.path, line, "config", f"runs as {value} ({how})"))
    overridden: list[Evidence] = []
    for workload in configs.workloads:
        for container in workload.containers:
            where = Evidence(workload.path, container.security_line or container.line, "config", "")
            if container.run_as_user == 0:
                root.append(_note(where, f"{workload.name}/{container.name}: runAsUser 0"))
            elif container.run_as_non_root or (container.run_as_user or 0) > 0:
                item = _note(where, f"{workload.name}/{container.name}: runs as non-root")
                safe.append(item)
                overridden.append(item)
    for chart in configs.charts:
        for hint in chart.hints:
            if hint.key == "runAsNonRoot" and hint.value == "true":
                item = Evidence(
                    hint.path, hint.line, "config", "runAsNonRoot: true (Helm template)"
                )
                safe.append(item)
                overridden.append(item)
            elif hint.key == "runAsUser" and hint.value == "0":
                root.append(
                    Evidence(hint.path, hint.line, "config", "runAsUser: 0 (Helm template)")
                )
    for service in configs.compose:
        if service.user is not None:
            item = Evidence(service.path, service.user_line, "config", f"user: {service.user}")
            if service.user.split(":", 1)[0] in _ROOT:
                root.append(item)
            else:
                safe.append(item)
    if not (root or safe or unresolved):
        if configs.has_containers:
            return Outcome(
                "unknown",
                0,
                "containers are deployed from images built elsewhere; their user is not visible",
            )
        return Outcome("unknown", 0, "no container configuration to judge")
    if root and overridden and root_images == len(root):
        return Outcome(
            "warn",
            70,
            "the image runs as root; the orchestrator forces a non-root user at run time",
            _ordered(root + overridden),
            gaps=(
                *(f"{e.location}: {e.note}" for e in root),
                "the image itself still runs as root wherever it is started without that policy",
            ),
        )
    if root:
        share = len(safe) / (len(safe) + len(root))
        return Outcome(
            "fail",
            min(40, round(100 * share)),
            f"{len(root)} container configuration(s) run as root",
            _ordered(root + safe),
            gaps=tuple(f"{e.location}: {e.note}" for e in root),
        )
    if unresolved:
        return Outcome(
            "warn",
            50,
            "the image's USER is a build variable whose value is not visible here",
            _ordered(unresolved + safe),
            gaps=tuple(f"{e.location}: {e.note}" for e in unresolved),
        )
    return Outcome(
        "pass",
        100,
        "every container configuration runs as a non-root user",
        _ordered(safe),
        strengths=tuple(f"{e.location}: {e.note}" for e in safe[:4]),
    )


def _note(item: Evidence, note: str) -> Evidence:
    return Evidence(item.path, item.line, item.strength, note)


def _http_probes(ctx: AuditContext) -> list[Probe]:
    configs = ctx.configs
    probes: list[Probe] = []
    for dockerfile in configs.production_dockerfiles:
        found = dockerfile.healthcheck()
        if found is not None and not found.disabled and found.path is not None:
            probes.append(
                Probe(dockerfile.path, found.line, "healthcheck", "exec", found.path, found.command)
            )
    probes.extend(s.healthcheck for s in configs.compose if s.healthcheck is not None)
    probes.extend(p for w in configs.workloads for c in w.containers for p in c.probes)
    for chart in configs.charts:
        for hint in chart.hints:
            if hint.key == "probePath" and hint.value.startswith("/"):
                probes.append(Probe(hint.path, hint.line, "helm probe", "http", hint.value))
    return [p for p in probes if p.http_path]


def _prefixed_routers(ctx: AuditContext) -> list[Evidence]:
    """Routers or blueprints created or included with a path prefix."""
    return [
        Evidence(m.path, c.line, "code", f"{c.tail}(prefix=...)")
        for m in ctx.py.source
        for c in m.calls
        if c.tail in ("APIRouter", "include_router", "Blueprint", "register_blueprint", "Router")
        and ({"prefix", "url_prefix"} & set(c.kwargs) or c.splat)
    ][:2]


@check(
    id="deployment.container-healthcheck",
    category="deployment",
    title="Containers declare health checks that hit real routes",
    severity="high",
    effort="S",
    impact=(
        "Without liveness and readiness probes the orchestrator sends traffic to replicas "
        "that are starting or wedged, and never restarts a hung process; a probe on a "
        "path the app does not serve fails forever and restarts healthy pods in a loop."
    ),
    recommendation=(
        "Declare a HEALTHCHECK (or Kubernetes liveness and readiness probes) that request "
        "the service's own health and readiness routes, and test that those paths exist."
    ),
    weight=1.5,
    depends_on=(
        "resilience.health-endpoint",
        "resilience.readiness-endpoint",
        "deployment.container-image",
    ),
)
def container_healthcheck(ctx: AuditContext) -> Outcome:
    """Health probes declared for every deployed process, each on a registered route."""
    configs = ctx.configs
    units = probe_units(configs)
    if not units:
        return Outcome("unknown", 0, "no container configuration to judge")
    routes = served_routes(ctx)
    broken: list[Evidence] = []
    verified: list[Evidence] = []
    notes: list[str] = []
    for probe in _http_probes(ctx):
        path = probe.http_path or "/"
        if not routes:
            notes.append(f"{probe.location}: probe path {path} not verified (no routes found)")
            continue
        route, prefixed = matching_route(path, routes)
        if route is None:
            broken.append(
                Evidence(probe.path, probe.line, "config", f"{probe.kind} probe requests {path}")
            )
            continue
        how = " under a router prefix (not verified)" if prefixed else ""
        verified.append(
            Evidence(
                probe.path,
                probe.line,
                "config",
                f"{probe.kind} probe {path} is served by {route.module.path}:{route.line}{how}",
            )
        )
    if broken:
        healthish = [r for r in routes if HEALTH_ROUTE.search(r.path)] or routes[:3]
        served = [
            Evidence(r.module.path, r.line, "wired", f"the app serves {r.method} {r.path}")
            for r in healthish[:4]
        ]
        routers = _prefixed_routers(ctx)
        if routers:
            # Routers mounted under a prefix the index cannot read: the full paths of
            # their routes are unknown, so a missing match is not proof.
            return Outcome(
                "warn",
                50,
                "a health check's path could not be matched to a route (routers use prefixes)",
                _ordered(broken + routers + served),
                gaps=tuple(f"{e.location}: {e.note}, not found among the routes" for e in broken),
                notes=tuple(notes),
            )
        return Outcome(
            "fail",
            10,
            "a health check requests a path the application does not serve",
            _ordered(broken + served),
            gaps=tuple(
                f"{e.location}: {e.note}, which no route serves "
                f"(the app has {', '.join(r.path for r in healthish[:4])})"
                for e in broken
            ),
            notes=tuple(notes),
        )
    evidence = [
        Evidence(p.path, p.line, "config", f"{p.kind} probe ({p.command or p.handler})")
        for u in units
        for p in u.probes
    ]
    missing = [u for u in units if u.coverage() < 1.0]
    score = round(100 * sum(u.coverage() for u in units) / len(units))
    gaps = tuple(
        f"{u.path}:{u.line}: {u.label} has "
        + (
            "no health check"
            if not u.probes
            else f"no {' or '.join(sorted(u.needs - {p.kind for p in u.probes}))} probe"
        )
        for u in missing
    )
    gap_evidence = [
        Evidence(u.path, u.line, "config", f"{u.label}: no health check") for u in missing
    ]
    if score == 100:
        return Outcome(
            "pass",
            100,
            "every deployed process declares health checks"
            + (", on routes the app serves" if verified else ""),
            _ordered(verified + evidence),
            strengths=tuple(e.note for e in verified[:3]),
            notes=tuple(notes),
        )
    return Outcome(
        "warn" if score > 0 else "fail",
        score,
        "some deployed processes have no health check" if score else "no health checks declared",
        _ordered(verified + evidence + gap_evidence),
        gaps=gaps,
        notes=tuple(notes),
    )


@check(
    id="deployment.iac",
    category="deployment",
    title="Infrastructure as code",
    severity="medium",
    effort="L",
    impact=(
        "Infrastructure created by hand drifts between environments, cannot be reviewed "
        "and cannot be recreated after a region or account loss."
    ),
    recommendation=(
        "Describe the production environment in code (Kubernetes manifests or a Helm "
        "chart, Terraform for the cloud resources), reviewed and applied from CI."
    ),
)
def infrastructure_as_code(ctx: AuditContext) -> Outcome:
    """Kubernetes, Helm, Terraform or other IaC parsed; compose alone is a single host."""
    configs = ctx.configs
    strong: list[Evidence] = []
    by_file: dict[str, list[str]] = {}
    first_line: dict[str, int] = {}
    for obj in configs.kube_objects:
        by_file.setdefault(obj.path, []).append(obj.kind)
        first_line.setdefault(obj.path, obj.line)
    for path, kinds in by_file.items():
        strong.append(
            Evidence(
                path, first_line[path], "config", "Kubernetes: " + ", ".join(sorted(set(kinds)))
            )
        )
    strong += [Evidence(c.path, 1, "config", f"Helm chart {c.name}") for c in configs.charts]
    for path in configs.terraform_files:
        blocks = [b for b in configs.terraform if b.path == path]
        line = min((b.line for b in blocks if b.line), default=1)
        strong.append(Evidence(path, line, "config", f"Terraform: {len(blocks)} blocks"))
    strong += [Evidence(i.path, i.line, "config", i.kind) for i in configs.other_iac]
    compose = [Evidence(p, 1, "config", "compose file") for p in configs.compose_files]
    if strong:
        kinds = sorted({e.note.split(":")[0].split(" chart")[0] for e in strong})
        return Outcome(
            "pass",
            100,
            "infrastructure described as code: " + ", ".join(kinds),
            _ordered(strong + compose),
            strengths=tuple(f"{e.location}: {e.note}" for e in strong[:4]),
        )
    if compose:
        return Outcome(
            "warn",
            60,
            "only compose files: one host's containers, not the production environment",
            _ordered(compose),
            gaps=("no Kubernetes, Helm, Terraform or other IaC for the production environment",),
        )
    images = [Evidence(d.path, 1, "config", "Dockerfile") for d in configs.dockerfiles]
    return Outcome(
        "fail",
        20 if images else 0,
        "no infrastructure as code" + (" (a Dockerfile only)" if images else ""),
        _ordered(images),
        gaps=("the environment the service runs in is not described in the repository",),
    )


def _scaling_config(ctx: AuditContext) -> tuple[list[Evidence], list[Evidence]]:
    """(more than one replica or an autoscaler, single-replica configurations)."""
    configs = ctx.configs
    many: list[Evidence] = []
    single: list[Evidence] = []
    for workload in configs.workloads:
        if not workload.long_running or workload.kind == "DaemonSet":
            continue
        count = workload.replicas if workload.replicas is not None else 1
        line = workload.replicas_line if workload.replicas is not None else workload.line
        item = Evidence(
            workload.path, line, "config", f"{workload.kind} {workload.name}: {count} replica(s)"
        )
        (many if count > 1 else single).append(item)
    for scaler in configs.autoscalers:
        top = scaler.max_replicas or 0
        item = Evidence(
            scaler.path,
            scaler.line,
            "config",
            f"{scaler.kind} {scaler.name}: {scaler.min_replicas}-{top} replicas",
        )
        (many if top > 1 else single).append(item)
    for service in configs.compose:
        if service.replicas is not None:
            item = Evidence(
                service.path,
                service.replicas_line,
                "config",
                f"compose {service.name}: {service.replicas} replicas",
            )
            (many if service.replicas > 1 else single).append(item)
    for chart in configs.charts:
        count, line = chart.value("replicaCount")
        if isinstance(count, int) and chart.values_path:
            item = Evidence(chart.values_path, line, "config", f"Helm replicaCount {count}")
            (many if count > 1 else single).append(item)
        enabled, line = chart.value("autoscaling", "enabled")
        if enabled is True and chart.values_path:
            many.append(Evidence(chart.values_path, line, "config", "Helm autoscaling enabled"))
    for block in configs.terraform:
        if block.block == "resource" and re.match(_TF_SCALING, block.type):
            many.append(
                Evidence(block.path, block.line, "config", f"Terraform {block.type}.{block.name}")
            )
    return many, single


_TF_SCALING = (
    r"^(aws_autoscaling_group|aws_appautoscaling_target|google_compute_(region_)?autoscaler|"
    r"azurerm_monitor_autoscale_setting|kubernetes_horizontal_pod_autoscaler(_v\d\w*)?|"
    r"google_cloud_run_(v2_)?service|aws_apprunner_auto_scaling_configuration_version)$"
)


@check(
    id="performance.horizontal-scaling",
    category="performance",
    title="Runs as several replicas, with state outside the process",
    severity="medium",
    effort="M",
    impact=(
        "A single replica is a single point of failure and a hard capacity ceiling; "
        "state kept in one process or on one host (SQLite, a disk cache, in-memory "
        "limits) breaks or diverges as soon as a second replica starts."
    ),
    recommendation=(
        "Run at least two replicas behind the load balancer with an autoscaler (HPA or "
        "the cloud's), and keep sessions, caches, rate-limit counters and locks in a "
        "shared store (Redis, the database)."
    ),
    depends_on=("deployment.iac",),
)
def horizontal_scaling(ctx: AuditContext) -> Outcome:
    """Replicas > 1 or an autoscaler, and state in shared stores rather than on one host."""
    many, single = _scaling_config(ctx)
    shared = shared_stores(ctx)
    local = local_state(ctx)
    local_notes = tuple(f"{e.location}: {e.note}" for e in local[:4])
    if many and not local:
        stateless = "state lives in shared stores" if shared else "no process-local state found"
        return Outcome(
            "pass",
            100 if shared else 90,
            f"scales out ({len(many)} replica or autoscaling configuration(s)); {stateless}",
            _ordered(many + shared),
            strengths=tuple(e.note for e in many[:3]),
        )
    if many:
        return Outcome(
            "warn",
            60,
            "configured for several replicas, but some state is local to one host",
            _ordered(many + local + shared),
            gaps=local_notes,
        )
    if shared and not local:
        return Outcome(
            "warn",
            50,
            "state is in shared stores, but nothing runs more than one replica",
            _ordered(shared + single),
            gaps=("no replica count above 1 and no autoscaler in the deployment configuration",),
        )
    return Outcome(
        "fail",
        25 if shared or single else 0,
        "no evidence of more than one replica" + ("; state is local to one host" if local else ""),
        _ordered(single + local + shared),
        gaps=("no replica count above 1 and no autoscaler", *local_notes),
    )


@check(
    id="deployment.rollback-docs",
    category="deployment",
    title="Rollback procedure documented",
    severity="medium",
    effort="S",
    impact=(
        "When a release misbehaves, the team improvises a rollback under pressure; "
        "irreversible migrations or an unknown previous version turn a bad deploy into "
        "an outage."
    ),
    recommendation=(
        "Write the rollback procedure in the runbook (the command, how to find the last "
        "good version, what to do about migrations), keep migrations reversible for one "
        "release, and rehearse it."
    ),
)
def rollback_docs(ctx: AuditContext) -> Outcome:
    """A documented rollback procedure; stronger with tooling that rolls back."""
    docs = documented(ctx, ROLLBACK)
    strong, platform = rollback_automation(ctx, ctx.configs)
    _, empty = migrations(ctx)
    base = {"steps": 70, "mention": 25, "none": 0}[docs.level]
    bonus = 30 if strong else 15 if platform else 0
    score = min(100, base + bonus - (10 if empty else 0))
    score = max(score, 0)
    gaps: list[str] = []
    if docs.level != "steps":
        gaps.append("no document gives the steps to roll a release back")
    if empty:
        gaps.append(
            f"{len(empty)} migration(s) have an empty downgrade(): the schema cannot roll back"
        )
    gaps += [f"{e.location}: {e.note}" for e in docs.placeholders]
    evidence = _ordered([*docs.steps, *strong, *platform, *docs.mentions, *empty])
    if docs.level == "steps" and score >= 70:
        return Outcome(
            "pass",
            score,
            "the rollback procedure is documented" + (" and tooled" if strong else ""),
            evidence,
            strengths=tuple(e.note for e in docs.steps[:2]),
            gaps=tuple(gaps),
        )
    status: Status = "warn" if score >= 35 else "fail"
    summary = {
        "steps": "the rollback procedure is documented, but migrations cannot roll back",
        "mention": "rollback is mentioned, but no document gives its steps",
        "none": "no rollback procedure is documented",
    }[docs.level]
    return Outcome(status, score, summary, evidence, gaps=tuple(gaps))


@check(
    id="deployment.backup-docs",
    category="deployment",
    title="Backups and restores documented (and automated)",
    severity="high",
    effort="M",
    impact=(
        "A backup nobody knows how to restore is not a backup: after data loss or a bad "
        "migration, the service's data is gone or hours of guessing away."
    ),
    recommendation=(
        "Schedule backups of every data store (CronJob, managed backups in Terraform), "
        "document backup and restore step by step with the retention, and test a restore "
        "regularly."
    ),
)
def backup_docs(ctx: AuditContext) -> Outcome:
    """Backup and restore procedures for the data the service keeps."""
    configs = ctx.configs
    stores = data_stores(ctx, configs)
    if not stores:
        return Outcome("unknown", 0, "no persistent data store found: nothing to back up")
    backup = documented(ctx, BACKUP)
    restore = documented(ctx, RESTORE)
    automated = backup_automation(ctx, configs)
    scheduled = [e for e in automated if e.strength in ("config", "wired")]
    score = {"steps": 40, "mention": 15, "none": 0}[backup.level]
    score += {"steps": 30, "mention": 10, "none": 0}[restore.level]
    score += 30 if scheduled else 15 if automated else 0
    gaps: list[str] = []
    if backup.level != "steps":
        gaps.append("no document gives the steps to back the data up")
    if restore.level != "steps":
        gaps.append("no document gives the steps to restore it")
    if not automated:
        gaps.append("nothing in the repository runs backups (no CronJob, backup plan or script)")
    evidence = _ordered(
        [
            *backup.steps,
            *restore.steps,
            *automated,
            *backup.mentions,
            *restore.mentions,
            *stores[:2],
        ]
    )
    strengths = [e.note for e in (*backup.steps[:1], *restore.steps[:1], *automated[:1])]
    status: Status = "pass" if score >= 70 else "warn" if score >= 35 else "fail"
    summary = {
        "pass": "backup and restore are documented" + (" and automated" if automated else ""),
        "warn": "backups are only partly documented or automated",
        "fail": "no backup and restore procedure for the service's data",
    }[status]
    return Outcome(status, score, summary, evidence, tuple(strengths), tuple(gaps))
