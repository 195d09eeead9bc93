"""Configuration parsing: every format with its real parser, every finding with its line."""

from __future__ import annotations

from readiness.configs import Configs
from readiness.configs.ci import Command, follow, makefile_rules
from readiness.configs.yamlines import load_all
from readiness.repo import Repo

from .conftest import MakeRepo, context

MULTI_STAGE = """
    ARG PY=3.11
    FROM python:${PY}-slim AS build
    RUN pip wheel --wheel-dir /wheels .

    FROM python:3.11-slim AS runtime
    ARG APP_USER=app
    RUN useradd --create-home ${APP_USER}
    USER ${APP_USER}
    COPY --from=build /wheels /wheels
    EXPOSE 8000 9090/tcp
    HEALTHCHECK --interval=30s CMD curl -fsS http://localhost:8000/health/live || exit 1
"""

DEPLOYMENT = """
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: api
    spec:
      replicas: 2
      template:
        spec:
          securityContext:
            runAsNonRoot: true
          containers:
            - name: api
              image: example/api:1.0
              livenessProbe:
                httpGet:
                  path: /health
                  port: 8000
              readinessProbe:
                exec:
                  command: ["curl", "-f", "http://localhost:8000/ready"]
    ---
    apiVersion: autoscaling/v2
    kind: HorizontalPodAutoscaler
    metadata:
      name: api
    spec:
      scaleTargetRef: {kind: Deployment, name: api}
      minReplicas: 2
      maxReplicas: 8
"""


def _configs(make_repo: MakeRepo, files: dict[str, str]) -> Configs:
    return Configs(Repo(make_repo(files)))


def test_yaml_keeps_lines_of_keys_items_and_block_text() -> None:
    doc = load_all("a: 1\nlist:\n  - x\n  - run: |\n      one\n      two\n")[0]
    assert doc.line_of("list") == 2
    assert doc["list"].item_lines == [3, 4]
    assert doc["list"][1].value_lines["run"] == 5  # the text after the ``|`` line


def test_multi_stage_dockerfile_final_user_healthcheck_and_ports(make_repo: MakeRepo) -> None:
    configs = _configs(make_repo, {"Dockerfile": MULTI_STAGE})
    (dockerfile,) = configs.dockerfiles
    assert [(s.base, s.alias, s.line) for s in dockerfile.stages] == [
        ("python:${PY}-slim", "build", 2),
        ("python:3.11-slim", "runtime", 5),
    ]
    assert dockerfile.user() == ("app", 8, "USER")  # ${APP_USER} resolved from its ARG
    assert dockerfile.runs_as_root() is False
    check = dockerfile.healthcheck()
    assert check is not None and (check.line, check.path) == (11, "/health/live")
    assert dockerfile.exposed() == (("8000", 10), ("9090", 10))


def test_final_stage_inherits_user_from_the_stage_it_is_built_on(make_repo: MakeRepo) -> None:
    text = "FROM python:3.11 AS base\nUSER 1000\n\nFROM base\nCMD run\n"
    configs = _configs(make_repo, {"Dockerfile": text})
    assert configs.dockerfiles[0].user() == ("1000", 2, "USER of stage base")


def test_root_when_no_user_and_dev_images_are_not_production(make_repo: MakeRepo) -> None:
    configs = _configs(
        make_repo,
        {"Dockerfile": "FROM python:3.11\n", ".devcontainer/Dockerfile": "FROM python:3.11\n"},
    )
    by_path = {d.path: d for d in configs.dockerfiles}
    assert by_path["Dockerfile"].runs_as_root() is True
    assert by_path["Dockerfile"].user() == (None, 1, "no USER")
    assert [d.path for d in configs.production_dockerfiles] == ["Dockerfile"]


def test_kubernetes_workload_probes_security_and_autoscaler(make_repo: MakeRepo) -> None:
    configs = _configs(make_repo, {"k8s/api.yaml": DEPLOYMENT})
    (workload,) = configs.workloads
    assert (workload.kind, workload.name, workload.replicas, workload.replicas_line) == (
        "Deployment",
        "api",
        2,
        6,
    )
    (container,) = workload.containers
    assert container.run_as_non_root is True  # inherited from the pod's securityContext
    probes = {p.kind: (p.line, p.handler, p.http_path) for p in container.probes}
    assert probes == {"liveness": (16, "http", "/health"), "readiness": (18, "exec", "/ready")}
    (scaler,) = configs.autoscalers
    assert (scaler.line, scaler.min_replicas, scaler.max_replicas, scaler.target) == (
        22,
        2,
        8,
        "api",
    )
    assert [o.kind for o in configs.kube_objects] == ["Deployment", "HorizontalPodAutoscaler"]


def test_compose_services_healthcheck_user_replicas(make_repo: MakeRepo) -> None:
    compose = """
        services:
          api:
            build: ./app
            user: "1000"
            deploy:
              replicas: 3
            healthcheck:
              test: ["CMD", "curl", "-f", "http://localhost:8000/health"]
          db:
            image: postgres:16
    """
    configs = _configs(make_repo, {"deploy/compose.yaml": compose})
    api, db = configs.compose
    assert (api.name, api.line, api.build, api.user, api.replicas, api.replicas_line) == (
        "api",
        2,
        "deploy/app",
        "1000",
        3,
        6,
    )
    assert api.healthcheck is not None and (api.healthcheck.line, api.healthcheck.http_path) == (
        8,
        "/health",
    )
    assert (db.image, db.healthcheck) == ("postgres:16", None)


def test_helm_chart_is_noted_and_its_templates_scanned(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "chart/Chart.yaml": "apiVersion: v2\nname: api\nversion: 1.0.0\n",
            "chart/values.yaml": "replicaCount: 3\n",
            "chart/templates/deployment.yaml": (
                "apiVersion: apps/v1\nkind: Deployment\nspec:\n"
                "  replicas: {{ .Values.replicaCount }}\n"
                "  template:\n    spec:\n      containers:\n        - name: api\n"
                "          readinessProbe:\n            httpGet:\n              path: /ready\n"
            ),
        }
    )
    ctx = context(root)
    (chart,) = ctx.configs.charts
    assert chart.value("replicaCount") == (3, 1)
    hints = {(h.key, h.value, h.line) for h in chart.hints}
    assert ("readinessProbe", "", 9) in hints
    assert ("probePath", "/ready", 11) in hints
    assert ctx.configs.kube_objects == []  # templates are not parsed as YAML
    assert any("Helm chart read without rendering" in n for n in ctx.notes)


def test_terraform_blocks_with_lines(make_repo: MakeRepo) -> None:
    tf = """
        module "vpc" {
          source = "terraform-aws-modules/vpc/aws"
        }

        resource "aws_db_instance" "main" {
          engine                  = "postgres"
          backup_retention_period = 7
        }
    """
    configs = _configs(make_repo, {"infra/main.tf": tf})
    blocks = {(b.block, b.type, b.name): b for b in configs.terraform}
    assert blocks[("resource", "aws_db_instance", "main")].line == 5
    assert blocks[("resource", "aws_db_instance", "main")].body["backup_retention_period"] == 7
    assert blocks[("module", "terraform-aws-modules/vpc/aws", "vpc")].line == 1
    assert configs.terraform_files == ["infra/main.tf"]


def test_github_workflow_triggers_steps_and_run_lines(make_repo: MakeRepo) -> None:
    workflow = """
        name: ci
        on:
          pull_request:
          push:
            branches: [main]
        jobs:
          test:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
              - name: tests
                run: |
                  pip install -e .
                  python -m pytest -q
    """
    configs = _configs(make_repo, {".github/workflows/ci.yml": workflow})
    (pipeline,) = configs.pipelines
    assert [(t.event, t.line, t.branches) for t in pipeline.triggers] == [
        ("pull_request", 3, ()),
        ("push", 4, ("main",)),
    ]
    step = pipeline.jobs[0].steps[1]
    assert [(c.line, c.text) for c in step.commands] == [
        (13, "pip install -e ."),
        (14, "python -m pytest -q"),
    ]
    (run,) = configs.test_runs()
    assert [c.location for c in run.chain] == [".github/workflows/ci.yml:14"]


def test_make_test_is_followed_into_the_makefile_and_a_script(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "Makefile": (
                "VENV := .venv\n\ntest: install\n\t./scripts/test.sh\n\ninstall:\n\tpip install .\n"
            ),
            "scripts/test.sh": "#!/bin/sh\nset -e\n$VENV/bin/pytest tests\n",
        }
    )
    configs = Configs(Repo(root))
    chain = follow(Command("ci", 1, "make test"), configs.makefiles, configs.repo.text)
    assert chain is not None
    assert [(c.location, c.role) for c in chain] == [
        ("ci:1", "command"),
        ("Makefile:3", "rule"),
        ("Makefile:4", "command"),
        ("scripts/test.sh:3", "command"),
    ]


def test_installing_pytest_is_not_running_it() -> None:
    rules = makefile_rules("Makefile", "deps:\n\tpip install pytest\n")
    assert follow(Command("ci", 1, "make deps"), {"Makefile": rules}, lambda _: None) is None


def test_gitlab_jobs_and_rules(make_repo: MakeRepo) -> None:
    gitlab = """
        stages: [test]
        .base:
          script:
            - pytest
        test:
          extends: .base
          rules:
            - if: $CI_PIPELINE_SOURCE == "merge_request_event"
        deploy:
          script: ./deploy.sh
          when: manual
    """
    configs = _configs(make_repo, {".gitlab-ci.yml": gitlab})
    (pipeline,) = configs.pipelines
    jobs = {j.name: j for j in pipeline.jobs}
    assert [(t.event, t.line) for t in jobs["test"].triggers] == [("merge_request", 8)]
    assert [t.event for t in jobs["deploy"].triggers] == ["manual"]
    (run,) = configs.test_runs()
    assert run.job.name == "test" and run.chain[0].location == ".gitlab-ci.yml:4"


def test_script_in_ci_folder_is_an_unconfirmed_pipeline(make_repo: MakeRepo) -> None:
    configs = _configs(
        make_repo, {".ci/run": "#!/bin/sh\nmake test\n", "Makefile": "test:\n\tpytest\n"}
    )
    (pipeline,) = configs.pipelines
    assert (pipeline.provider, pipeline.confirmed) == ("script", False)
    assert "no CI configuration in the repository says when it runs" in pipeline.why
    (run,) = configs.test_runs()
    assert [c.location for c in run.chain] == [".ci/run:2", "Makefile:1", "Makefile:2"]


def test_prometheus_rules_alertmanager_and_dashboard(make_repo: MakeRepo) -> None:
    rules = """
        groups:
          - name: api
            rules:
              - record: job:errors:rate5m
                expr: sum(rate(http_errors_total[5m]))
              - alert: HighErrors
                expr: job:errors:rate5m > 1
                labels: {severity: page}
                annotations:
                  runbook_url: docs/runbook.md#higherrors
    """
    manager = """
        route: {receiver: oncall}
        receivers:
          - name: oncall
            pagerduty_configs: [{routing_key: x}]
          - name: blackhole
    """
    board = '{"title": "API",\n "panels": [{"type": "row", "panels": [\n'
    board += '{"type": "graph", "targets": [{"expr": "rate(http_errors_total[5m])"}]}]},\n'
    board += '{"type": "text"}]}'
    configs = _configs(
        make_repo,
        {"ops/rules.yml": rules, "ops/alertmanager.yml": manager, "grafana/api.json": board},
    )
    record, alert = configs.rules
    assert (record.kind, record.line) == ("record", 4)
    assert (alert.kind, alert.name, alert.line, alert.severity) == (
        "alert",
        "HighErrors",
        6,
        "page",
    )
    assert alert.runbook == "docs/runbook.md#higherrors"
    (am,) = configs.alertmanagers
    assert (am.receivers, am.wired_receivers, am.line) == (("oncall", "blackhole"), ("oncall",), 2)
    (dash,) = configs.dashboards
    assert (dash.title, dash.panels, dash.line) == ("API", 1, 2)
    assert dash.queries == ("rate(http_errors_total[5m])",)


def test_unparsable_files_become_notes_not_crashes(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "k8s/broken.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: [x\n",
            "infra/bad.tf": 'resource "a" "b" {{{\n',
            "Dockerfile": "# only a comment\n",
            "k8s/ok.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: ok\n",
        }
    )
    ctx = context(root)
    assert [o.name for o in ctx.configs.kube_objects] == ["ok"]
    notes = "\n".join(ctx.notes)
    assert "k8s/broken.yaml: not parsed as YAML" in notes
    assert "infra/bad.tf: not parsed as Terraform" in notes
    assert "Dockerfile: not parsed as a Dockerfile (ValueError: no FROM instruction)" in notes
