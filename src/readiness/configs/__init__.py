"""Parsed configuration files of the audited repository, built once per audit.

`Configs` finds and parses, each with a real parser: Dockerfiles (``dockerfile-parse``),
compose files, Kubernetes manifests and Helm charts (YAML that keeps line numbers),
Terraform (``python-hcl2``), CI configuration (GitHub workflows, GitLab CI, Makefiles,
scripts in CI folders, Jenkinsfiles), Prometheus rule and scrape files, Alertmanager
configs and Grafana dashboards. Everything keeps its ``file:line``. A file that fails to
parse becomes a note (`Configs.notes`, forwarded to the report) and is left out.
"""

from __future__ import annotations

import re
import threading
from pathlib import PurePosixPath
from typing import Any

from readiness.configs.ci import (
    MakeRule,
    Pipeline,
    TestRun,
    ci_script_pipeline,
    github_workflow,
    gitlab_pipeline,
    makefile_rules,
    test_runs,
)
from readiness.configs.docker import Dockerfile, parse_dockerfile
from readiness.configs.monitoring import (
    Alertmanager,
    Dashboard,
    Rule,
    ScrapeJob,
    alertmanager,
    dashboard,
    rules,
    scrape_jobs,
)
from readiness.configs.orchestration import (
    Autoscaler,
    ComposeService,
    HelmChart,
    KubeObject,
    Workload,
    compose_services,
    helm_hints,
    kube_autoscaler,
    kube_workload,
)
from readiness.configs.terraform import TfBlock, parse_terraform
from readiness.configs.yamlines import YamlError, YMap, load_all
from readiness.repo import Repo

__all__ = ["Configs", "IacFile"]

_DOCKERFILE = re.compile(r"^(Dockerfile(\..+)?|.+\.[Dd]ockerfile|Containerfile(\..+)?)$")
_COMPOSE = re.compile(r"^(docker-)?compose(\.[\w.-]+)?\.ya?ml$|^docker-stack.*\.ya?ml$")
_MAKEFILE = re.compile(r"^(GNUmakefile|[Mm]akefile|.+\.mk)$")
_CI_FOLDER = re.compile(r"^(\.ci|ci|\.buildkite|\.circleci/scripts)/|(^|/)(ci|run[-_]ci)\.sh$")
#: A YAML file is parsed only when it may be one of the kinds the auditor reads.
_YAML_WORTH = re.compile(
    r"apiVersion|services:|groups:|scrape_configs|receivers:|rule_files|AWSTemplateFormatVersion"
)
_OTHER_IAC = {
    "Pulumi.yaml": "Pulumi",
    "Pulumi.yml": "Pulumi",
    "kustomization.yaml": "Kustomize",
    "kustomization.yml": "Kustomize",
    "serverless.yml": "Serverless Framework",
    "serverless.yaml": "Serverless Framework",
    "fly.toml": "Fly.io",
    "render.yaml": "Render blueprint",
    "cdk.json": "AWS CDK",
    "skaffold.yaml": "Skaffold",
}


class IacFile:
    """Infrastructure as code the auditor recognises but does not model in detail."""

    __slots__ = ("kind", "line", "path")

    def __init__(self, kind: str, path: str, line: int) -> None:
        self.kind = kind
        self.path = path
        self.line = line

    def __repr__(self) -> str:
        return f"IacFile({self.kind!r}, {self.path!r}, {self.line})"


class Configs:
    """Every configuration file the checks read, parsed once."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.notes: list[str] = []
        self.dockerfiles: list[Dockerfile] = []
        self.compose: list[ComposeService] = []
        self.compose_files: list[str] = []
        self.kube_objects: list[KubeObject] = []
        self.workloads: list[Workload] = []
        self.autoscalers: list[Autoscaler] = []
        self.charts: list[HelmChart] = []
        self.terraform: list[TfBlock] = []
        self.terraform_files: list[str] = []
        self.other_iac: list[IacFile] = []
        self.pipelines: list[Pipeline] = []
        self.makefiles: dict[str, dict[str, MakeRule]] = {}
        self.rules: list[Rule] = []
        #: promtool rule test files: (path, line of ``tests:``).
        self.rule_tests: list[tuple[str, int]] = []
        self.scrape_jobs: list[ScrapeJob] = []
        self.alertmanagers: list[Alertmanager] = []
        self.dashboards: list[Dashboard] = []
        self._runs: list[TestRun] | None = None
        self._lock = threading.Lock()
        self._parse()

    # --- queries ----------------------------------------------------------------------
    def test_runs(self) -> list[TestRun]:
        """CI steps that run tests (following ``make`` targets and scripts)."""
        with self._lock:
            if self._runs is None:
                confirmed = tuple(self.pipelines)
                self._runs = test_runs(confirmed, self.makefiles, self._read_script)
            return self._runs

    @property
    def production_dockerfiles(self) -> list[Dockerfile]:
        """Dockerfiles that build a deployable image (not dev containers or test images)."""
        return [d for d in self.dockerfiles if d.production]

    @property
    def has_containers(self) -> bool:
        """Whether anything here builds or runs containers."""
        return bool(self.dockerfiles or self.compose or self.workloads or self.charts)

    # --- parsing ----------------------------------------------------------------------
    def _read_script(self, path: str) -> str | None:
        return self.repo.text(path) if self.repo.exists(path) else None

    def _note(self, path: str, what: str, exc: Exception) -> None:
        detail = " ".join(str(exc).split())[:160]
        self.notes.append(
            f"{path}: not parsed as {what} ({type(exc).__name__}: {detail}); left out"
        )

    def _parse(self) -> None:
        chart_dirs = self._charts()
        scripts: list[str] = []
        for path in self.repo.files:
            name = PurePosixPath(path).name
            if name in _OTHER_IAC:
                self.other_iac.append(IacFile(_OTHER_IAC[name], path, 1))
            if _DOCKERFILE.match(name):
                self._dockerfile(path)
            elif path.endswith(".tf"):
                self._terraform(path)
            elif _MAKEFILE.match(name):
                self._makefile(path)
            elif name == "Jenkinsfile":
                self._jenkins(path)
            elif path.endswith((".yml", ".yaml")):
                if not any(path.startswith(f"{d}/templates/") for d in chart_dirs):
                    self._yaml(path, name)
            elif path.endswith(".json"):
                self._json(path)
            if _CI_FOLDER.search(path) and not path.endswith((".py", ".md", ".yml", ".yaml")):
                scripts.append(path)
        self._scripts(scripts)

    def _charts(self) -> list[str]:
        dirs = []
        for path in self.repo.files:
            if PurePosixPath(path).name != "Chart.yaml":
                continue
            folder = str(PurePosixPath(path).parent)
            folder = "" if folder == "." else folder
            prefix = f"{folder}/" if folder else ""
            try:
                meta = next(iter(load_all(self.repo.text(path) or "")), YMap())
                values_path = f"{prefix}values.yaml"
                values = None
                if self.repo.exists(values_path):
                    values = next(iter(load_all(self.repo.text(values_path) or "")), None)
            except YamlError as exc:
                self._note(path, "a Helm chart", exc)
                continue
            templates = tuple(p for p in self.repo.files if p.startswith(f"{prefix}templates/"))
            hints = [h for t in templates for h in helm_hints(t, self.repo.lines(t))]
            self.charts.append(
                HelmChart(
                    path,
                    str(meta.get("name", folder)) if isinstance(meta, YMap) else folder,
                    folder,
                    templates,
                    tuple(hints),
                    values_path if values is not None else None,
                    values if isinstance(values, YMap) else None,
                )
            )
            self.notes.append(
                f"{path}: Helm chart read without rendering its templates (helm is not run); "
                "probes, users and replicas are taken from template lines and values.yaml"
            )
            dirs.append(folder)
        return dirs

    def _dockerfile(self, path: str) -> None:
        text = self.repo.text(path)
        if text is None:
            return
        try:
            self.dockerfiles.append(parse_dockerfile(path, text))
        except (ValueError, KeyError, IndexError) as exc:
            self._note(path, "a Dockerfile", exc)

    def _terraform(self, path: str) -> None:
        text = self.repo.text(path)
        if text is None:
            return
        try:
            blocks = parse_terraform(path, text)
        except Exception as exc:  # lark raises many types; any of them means "not valid HCL"
            self._note(path, "Terraform", exc)
            return
        self.terraform_files.append(path)
        self.terraform.extend(blocks)

    def _makefile(self, path: str) -> None:
        self.makefiles[path] = makefile_rules(path, self.repo.text(path) or "")

    def _jenkins(self, path: str) -> None:
        why = "a Jenkinsfile: when it runs is configured in Jenkins, not in the repository"
        self.pipelines.append(ci_script_pipeline(path, self.repo.text(path) or "", "jenkins", why))

    def _scripts(self, paths: list[str]) -> None:
        referenced = " ".join(
            c.text for p in self.pipelines for j in p.jobs for s in j.steps for c in s.commands
        )
        for path in paths:
            if path in referenced:
                continue  # run by a pipeline above: followed from there
            text = self.repo.text(path)
            if text is None:
                continue
            why = (
                f"{path} is a script in a CI folder, but no CI configuration in the "
                "repository says when it runs (on every push or pull request?)"
            )
            self.pipelines.append(ci_script_pipeline(path, text, "script", why))

    def _yaml(self, path: str, name: str) -> None:
        workflow = path.startswith(".github/workflows/")
        gitlab = name == ".gitlab-ci.yml"
        compose = bool(_COMPOSE.match(name))
        text = self.repo.text(path)
        if text is None or not (workflow or gitlab or compose or _YAML_WORTH.search(text)):
            return
        try:
            docs = load_all(text)
        except YamlError as exc:
            self._note(path, "YAML", exc)
            return
        for doc in docs:
            if not isinstance(doc, YMap):
                continue
            if workflow:
                self.pipelines.append(github_workflow(path, doc))
            elif gitlab:
                self.pipelines.append(gitlab_pipeline(path, doc))
            else:
                self._document(path, doc, compose)

    def _document(self, path: str, doc: YMap, compose: bool) -> None:
        if "apiVersion" in doc and "kind" in doc:
            self._kube(path, doc)
        elif compose or (isinstance(doc.get("services"), YMap) and _looks_compose(doc)):
            if path not in self.compose_files:
                self.compose_files.append(path)
            self.compose.extend(compose_services(path, doc))
        elif isinstance(doc.get("groups"), list):
            self.rules.extend(rules(path, doc["groups"]))
        elif "rule_files" in doc and "tests" in doc:
            self.rule_tests.append((path, doc.line_of("tests")))
        elif "scrape_configs" in doc:
            self.scrape_jobs.extend(scrape_jobs(path, doc))
        elif "receivers" in doc and "route" in doc:
            self.alertmanagers.append(alertmanager(path, doc))
        elif "AWSTemplateFormatVersion" in doc or _cloudformation(doc):
            self.other_iac.append(IacFile("CloudFormation", path, doc.line))

    def _kube(self, path: str, doc: YMap) -> None:
        kind = str(doc.get("kind"))
        if kind == "List":
            for item in doc.list("items").maps():
                if "kind" in item:
                    self._kube(path, item)
            return
        name = str(doc.map("metadata").get("name", ""))
        self.kube_objects.append(KubeObject(path, doc.line, kind, name, str(doc["apiVersion"])))
        workload = kube_workload(path, doc)
        if workload is not None:
            self.workloads.append(workload)
        scaler = kube_autoscaler(path, doc)
        if scaler is not None:
            self.autoscalers.append(scaler)
        if kind == "PrometheusRule":
            self.rules.extend(rules(path, doc.map("spec").get("groups")))

    def _json(self, path: str) -> None:
        lowered = path.lower()
        if "grafana" not in lowered and "dashboard" not in lowered:
            return
        text = self.repo.text(path)
        if text is None or ('"panels"' not in text and '"rows"' not in text):
            return
        try:
            board = dashboard(path, text, self.repo.line_of(path, '"panels"|"rows"'))
        except ValueError as exc:
            self._note(path, "a Grafana dashboard", exc)
            return
        if board is not None:
            self.dashboards.append(board)


def _looks_compose(doc: YMap) -> bool:
    services = doc.map("services")
    return any(isinstance(s, YMap) and ("image" in s or "build" in s) for s in services.values())


def _cloudformation(doc: YMap) -> bool:
    resources: Any = doc.get("Resources")
    return isinstance(resources, YMap) and any(
        isinstance(r, YMap) and str(r.get("Type", "")).startswith(("AWS::", "Custom::"))
        for r in resources.values()
    )
