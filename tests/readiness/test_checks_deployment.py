"""Deployment checks (and performance.horizontal-scaling) on small repositories."""

from __future__ import annotations

from readiness.model import Outcome

from .conftest import MakeRepo, check_outcome

APP = """
    from fastapi import FastAPI

    app = FastAPI()


    @app.get("/health")
    async def health():
        return {"ok": True}


    @app.get("/ready")
    async def ready():
        return {"ok": True}
"""

K8S = """
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: api
    spec:
      replicas: 3
      template:
        spec:
          containers:
            - name: api
              image: example/api:1.0
              securityContext:
                runAsNonRoot: true
                runAsUser: 10001
              livenessProbe:
                httpGet:
                  path: /health
                  port: 8000
              readinessProbe:
                httpGet:
                  path: /ready
                  port: 8000
"""


def _locations(outcome: Outcome) -> list[str]:
    return [e.location for e in outcome.evidence]


def test_container_image_pinned_passes(make_repo: MakeRepo) -> None:
    root = make_repo({"Dockerfile": "FROM python:3.11-slim AS build\nFROM python:3.11-slim\n"})
    outcome = check_outcome("deployment.container-image", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert _locations(outcome) == ["Dockerfile:2"]
    assert outcome.strengths == ("Dockerfile: multi-stage build (2 stages)",)


def test_container_image_unpinned_warns_and_none_fails(make_repo: MakeRepo) -> None:
    unpinned = check_outcome(
        "deployment.container-image", make_repo({"Dockerfile": "FROM python\n"})
    )
    assert (unpinned.status, unpinned.score) == ("warn", 70)
    assert unpinned.gaps == ("Dockerfile:1: base image python is not pinned to a version",)
    none = check_outcome("deployment.container-image", make_repo({"app.py": "x = 1\n"}))
    assert (none.status, none.score, none.evidence) == ("fail", 0, ())


def test_root_user_dockerfile_fails(make_repo: MakeRepo) -> None:
    root = make_repo({"Dockerfile": "FROM python:3.11-slim\nRUN pip install app\nCMD app\n"})
    outcome = check_outcome("deployment.non-root-user", root)
    assert (outcome.status, outcome.score) == ("fail", 0)
    assert [(e.location, e.note) for e in outcome.evidence] == [
        ("Dockerfile:1", "no USER in the final stage: runs as root")
    ]


def test_user_zero_fails_even_after_a_named_user(make_repo: MakeRepo) -> None:
    text = "FROM python:3.11\nUSER app\nRUN make\nUSER 0\n"
    outcome = check_outcome("deployment.non-root-user", make_repo({"Dockerfile": text}))
    assert (outcome.status, _locations(outcome)) == ("fail", ["Dockerfile:4"])


def test_multi_stage_whose_final_stage_is_non_root_passes(make_repo: MakeRepo) -> None:
    text = (
        "FROM python:3.11 AS build\nUSER root\nRUN pip wheel .\n\n"
        "FROM python:3.11-slim\nRUN useradd app\nUSER app:app\nCMD serve\n"
    )
    outcome = check_outcome("deployment.non-root-user", make_repo({"Dockerfile": text}))
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert [(e.location, e.note) for e in outcome.evidence] == [
        ("Dockerfile:7", "runs as app:app (USER)")
    ]


def test_root_image_forced_non_root_by_kubernetes_warns(make_repo: MakeRepo) -> None:
    root = make_repo({"Dockerfile": "FROM python:3.11\n", "k8s/api.yaml": K8S})
    outcome = check_outcome("deployment.non-root-user", root)
    assert (outcome.status, outcome.score) == ("warn", 70)
    assert _locations(outcome) == ["Dockerfile:1", "k8s/api.yaml:14"]


def test_non_root_unknown_without_containers(make_repo: MakeRepo) -> None:
    outcome = check_outcome("deployment.non-root-user", make_repo({"app.py": APP}))
    assert outcome.status == "unknown"


def test_health_check_on_a_missing_route_fails_with_both_locations(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app.py": APP,
            "Dockerfile": (
                "FROM python:3.11-slim\nUSER app\n"
                "HEALTHCHECK CMD curl -f http://localhost:8000/healthz || exit 1\n"
            ),
        }
    )
    outcome = check_outcome("deployment.container-healthcheck", root)
    assert (outcome.status, outcome.score) == ("fail", 10)
    assert _locations(outcome) == ["Dockerfile:3", "app.py:6", "app.py:11"]
    assert outcome.gaps == (
        "Dockerfile:3: healthcheck probe requests /healthz, which no route serves "
        "(the app has /health, /ready)",
    )


def test_kubernetes_probes_on_served_routes_pass(make_repo: MakeRepo) -> None:
    root = make_repo({"app.py": APP, "k8s/api.yaml": K8S})
    outcome = check_outcome("deployment.container-healthcheck", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert [(e.location, e.note) for e in outcome.evidence[:2]] == [
        ("k8s/api.yaml:17", "liveness probe /health is served by app.py:6"),
        ("k8s/api.yaml:21", "readiness probe /ready is served by app.py:11"),
    ]


def test_probe_under_a_router_prefix_is_accepted_and_said_so(make_repo: MakeRepo) -> None:
    manifest = K8S.replace("path: /health", "path: /api/health").replace(
        "path: /ready", "path: /api/ready"
    )
    outcome = check_outcome(
        "deployment.container-healthcheck", make_repo({"app.py": APP, "k8s/api.yaml": manifest})
    )
    assert outcome.status == "pass"
    assert outcome.evidence[0].note == (
        "liveness probe /api/health is served by app.py:6 under a router prefix (not verified)"
    )


def test_only_liveness_warns_and_no_healthcheck_fails(make_repo: MakeRepo) -> None:
    liveness_only = K8S.split("              readinessProbe:")[0]
    warned = check_outcome(
        "deployment.container-healthcheck",
        make_repo({"app.py": APP, "k8s/api.yaml": liveness_only}),
    )
    assert (warned.status, warned.score) == ("warn", 50)
    assert warned.gaps == ("k8s/api.yaml:10: Deployment api container api has no readiness probe",)
    none = check_outcome(
        "deployment.container-healthcheck", make_repo({"Dockerfile": "FROM python:3.11\n"})
    )
    assert (none.status, none.score) == ("fail", 0)
    assert none.gaps == ("Dockerfile:1: image Dockerfile has no health check",)


def test_compose_healthcheck_covers_the_image_it_builds(make_repo: MakeRepo) -> None:
    compose = """
        services:
          api:
            build: .
            healthcheck:
              test: ["CMD", "curl", "-f", "http://localhost:8000/ready"]
    """
    root = make_repo({"app.py": APP, "Dockerfile": "FROM python:3.11\n", "compose.yaml": compose})
    outcome = check_outcome("deployment.container-healthcheck", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert outcome.evidence[0].location == "compose.yaml:5"


def test_iac_kubernetes_passes_compose_warns_nothing_fails(make_repo: MakeRepo) -> None:
    k8s = check_outcome("deployment.iac", make_repo({"k8s/api.yaml": K8S}))
    assert (k8s.status, k8s.score, _locations(k8s)) == ("pass", 100, ["k8s/api.yaml:1"])
    compose = "services:\n  api:\n    image: example/api:1\n"
    only = check_outcome("deployment.iac", make_repo({"docker-compose.yml": compose}))
    assert (only.status, only.score, _locations(only)) == ("warn", 60, ["docker-compose.yml:1"])
    none = check_outcome("deployment.iac", make_repo({"app.py": APP}))
    assert (none.status, none.score) == ("fail", 0)


def test_terraform_counts_as_iac(make_repo: MakeRepo) -> None:
    tf = 'resource "aws_ecs_service" "api" {\n  desired_count = 2\n}\n'
    outcome = check_outcome("deployment.iac", make_repo({"infra/main.tf": tf}))
    assert (outcome.status, [(e.location, e.note) for e in outcome.evidence]) == (
        "pass",
        [("infra/main.tf:1", "Terraform: 1 blocks")],
    )


def test_rollback_documented_with_steps_passes(make_repo: MakeRepo) -> None:
    doc = """
        # Deploying

        ## Rolling back a release

        1. Find the previous image tag in the release log.
        2. Run `kubectl rollout undo deployment/api` and watch the pods become Ready.
    """
    outcome = check_outcome("deployment.rollback-docs", make_repo({"docs/deploy.md": doc}))
    assert (outcome.status, outcome.score) == ("pass", 70)
    assert _locations(outcome) == ["docs/deploy.md:3", "docs/deploy.md:5", "docs/deploy.md:6"]


def test_rollback_stub_section_fails(make_repo: MakeRepo) -> None:
    doc = "# Ops\n\n## Rollback\n\nTODO\n"
    outcome = check_outcome("deployment.rollback-docs", make_repo({"docs/ops.md": doc}))
    assert (outcome.status, outcome.score) == ("fail", 0)
    assert "docs/ops.md:3: section 'Rollback' is a stub" in outcome.gaps


def test_rollback_mention_with_kubernetes_warns(make_repo: MakeRepo) -> None:
    root = make_repo({"README.md": "# api\n\nWe roll back bad releases.\n", "k8s/api.yaml": K8S})
    outcome = check_outcome("deployment.rollback-docs", root)
    assert (outcome.status, outcome.score) == ("warn", 40)
    assert _locations(outcome) == ["k8s/api.yaml:1", "README.md:3"]


STORE = "from sqlalchemy import create_engine\n\nengine = create_engine('postgresql://db/app')\n"
BACKUP_DOC = """
    # Operations

    ## Backups

    Nightly, a CronJob runs `pg_dump -Fc app > app.dump` and uploads it (kept 30 days).

    ## Restore

    1. Download the dump.
    2. Run `pg_restore --clean -d app app.dump`.
"""
CRONJOB = """
    apiVersion: batch/v1
    kind: CronJob
    metadata:
      name: db-backup
    spec:
      schedule: "0 3 * * *"
      jobTemplate:
        spec:
          template:
            spec:
              containers:
                - name: dump
                  image: postgres:16
                  command: ["sh", "-c", "pg_dump -Fc app > /backup/app.dump"]
"""


def test_backup_unknown_without_a_data_store(make_repo: MakeRepo) -> None:
    outcome = check_outcome("deployment.backup-docs", make_repo({"app.py": APP}))
    assert outcome.status == "unknown"


def test_backup_and_restore_documented_and_scheduled_passes(make_repo: MakeRepo) -> None:
    root = make_repo({"app/db.py": STORE, "docs/ops.md": BACKUP_DOC, "k8s/backup.yaml": CRONJOB})
    outcome = check_outcome("deployment.backup-docs", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert _locations(outcome)[:5] == [
        "docs/ops.md:3",
        "docs/ops.md:5",
        "docs/ops.md:7",
        "docs/ops.md:10",
        "k8s/backup.yaml:1",
    ]


def test_backup_without_restore_warns_and_nothing_fails(make_repo: MakeRepo) -> None:
    backup_only = BACKUP_DOC.split("## Restore")[0]
    warned = check_outcome(
        "deployment.backup-docs", make_repo({"app/db.py": STORE, "docs/ops.md": backup_only})
    )
    assert (warned.status, warned.score) == ("warn", 40)
    assert warned.gaps == (
        "no document gives the steps to restore it",
        "nothing in the repository runs backups (no CronJob, backup plan or script)",
    )
    none = check_outcome("deployment.backup-docs", make_repo({"app/db.py": STORE}))
    assert (none.status, none.score, _locations(none)) == ("fail", 0, ["app/db.py:1"])


REDIS_APP = "import redis\n\nstore = redis.Redis(host='redis')\n"


def test_replicas_and_shared_state_pass(make_repo: MakeRepo) -> None:
    root = make_repo({"app/state.py": REDIS_APP, "k8s/api.yaml": K8S})
    outcome = check_outcome("performance.horizontal-scaling", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert _locations(outcome) == ["k8s/api.yaml:6", "app/state.py:3"]


def test_replicas_with_sqlite_state_warns(make_repo: MakeRepo) -> None:
    root = make_repo(
        {"app/db.py": "import sqlite3\n\nDB = sqlite3.connect('app.db')\n", "k8s/api.yaml": K8S}
    )
    outcome = check_outcome("performance.horizontal-scaling", root)
    assert (outcome.status, outcome.score) == ("warn", 60)
    assert outcome.gaps == ("app/db.py:1: SQLite is a file on one host",)


def test_single_process_with_local_state_fails(make_repo: MakeRepo) -> None:
    root = make_repo({"app/db.py": "import sqlite3\n"})
    outcome = check_outcome("performance.horizontal-scaling", root)
    assert (outcome.status, outcome.score) == ("fail", 0)
    assert _locations(outcome) == ["app/db.py:1"]


def test_shared_state_without_replicas_warns(make_repo: MakeRepo) -> None:
    compose = "services:\n  api:\n    build: .\n    deploy:\n      replicas: 1\n"
    root = make_repo({"app/state.py": REDIS_APP, "compose.yaml": compose})
    outcome = check_outcome("performance.horizontal-scaling", root)
    assert (outcome.status, outcome.score) == ("warn", 50)
    assert _locations(outcome) == ["app/state.py:3", "compose.yaml:5"]


def test_in_memory_rate_limits_are_local_state(make_repo: MakeRepo) -> None:
    limiter = (
        "from slowapi import Limiter\nfrom slowapi.util import get_remote_address\n\n"
        "limiter = Limiter(key_func=get_remote_address)\n"
    )
    shared = limiter.replace("get_remote_address)", "get_remote_address, storage_uri='redis://r'")
    local = check_outcome(
        "performance.horizontal-scaling", make_repo({"app.py": limiter, "k8s/api.yaml": K8S})
    )
    assert (local.status, local.score) == ("warn", 60)
    assert local.gaps == (
        "app.py:4: rate-limit counters in process memory (slowapi Limiter without storage_uri)",
    )
    fine = check_outcome(
        "performance.horizontal-scaling", make_repo({"app.py": shared, "k8s/api.yaml": K8S})
    )
    assert (fine.status, fine.score) == ("pass", 90)


def test_unmatched_probe_with_prefixed_routers_only_warns(make_repo: MakeRepo) -> None:
    app = (
        "from fastapi import APIRouter, FastAPI\n\napp = FastAPI()\n"
        'router = APIRouter(prefix="/healthz")\n\n\n@router.get("/")\nasync def health():\n'
        "    return {}\n\n\napp.include_router(router)\n"
    )
    dockerfile = "FROM python:3.11\nHEALTHCHECK CMD curl -f http://localhost/healthz\n"
    outcome = check_outcome(
        "deployment.container-healthcheck", make_repo({"app.py": app, "Dockerfile": dockerfile})
    )
    assert (outcome.status, outcome.score) == ("warn", 50)
    assert [e.location for e in outcome.evidence] == ["Dockerfile:2", "app.py:4", "app.py:7"]
