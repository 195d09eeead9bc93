"""Docker Compose files, Kubernetes manifests and Helm charts, from line-keeping YAML.

Kubernetes objects are any YAML document with ``apiVersion`` and ``kind`` (rendered
manifests included). Helm templates are Go templates, not YAML, so a chart is found by
its ``Chart.yaml``; its templates are not rendered, only scanned for a few keys
(`HelmHint`), and its ``values.yaml`` is parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from readiness.configs.docker import url_path
from readiness.configs.yamlines import YMap

__all__ = [
    "Autoscaler",
    "ComposeService",
    "Container",
    "HelmChart",
    "HelmHint",
    "KubeObject",
    "Probe",
    "Workload",
    "compose_services",
    "helm_hints",
    "kube_autoscaler",
    "kube_workload",
]

#: Workload kinds and where their pod spec lives.
_POD_SPEC: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Rollout": ("spec", "template", "spec"),  # Argo Rollouts
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}
_PROBES = (
    ("livenessProbe", "liveness"),
    ("readinessProbe", "readiness"),
    ("startupProbe", "startup"),
)
_HINT_KEYS = re.compile(
    r"^\s*-?\s*(livenessProbe|readinessProbe|startupProbe|runAsNonRoot|runAsUser|replicas"
    r"|minReplicas|maxReplicas|kind)\s*:\s*(.*?)\s*$"
)


@dataclass(frozen=True, slots=True)
class Probe:
    """A health probe: a Kubernetes probe, a compose or Dockerfile healthcheck."""

    path: str
    line: int
    kind: str  # liveness | readiness | startup | healthcheck
    handler: str  # http | exec | tcp | grpc
    #: The HTTP path probed (None for exec/tcp probes without a URL).
    http_path: str | None = None
    command: str = ""

    @property
    def location(self) -> str:
        """``path:line``."""
        return f"{self.path}:{self.line}"


@dataclass(frozen=True, slots=True)
class Container:
    """A container of a Kubernetes workload."""

    name: str
    image: str
    line: int
    probes: tuple[Probe, ...] = ()
    run_as_non_root: bool | None = None
    run_as_user: int | None = None
    security_line: int = 0
    command: str = ""


@dataclass(frozen=True, slots=True)
class KubeObject:
    """Any Kubernetes object (``kind`` / ``metadata.name``)."""

    path: str
    line: int
    kind: str
    name: str
    api_version: str


@dataclass(frozen=True, slots=True)
class Workload:
    """A Kubernetes object that runs pods."""

    path: str
    line: int
    kind: str
    name: str
    replicas: int | None
    replicas_line: int
    containers: tuple[Container, ...]

    @property
    def long_running(self) -> bool:
        """Serves (Deployment, StatefulSet ...) rather than runs to completion (Job)."""
        return self.kind not in ("Job", "CronJob", "Pod")


@dataclass(frozen=True, slots=True)
class Autoscaler:
    """A HorizontalPodAutoscaler, KEDA ScaledObject or a cloud autoscaling resource."""

    path: str
    line: int
    kind: str
    name: str
    target: str
    min_replicas: int | None
    max_replicas: int | None


@dataclass(frozen=True, slots=True)
class ComposeService:
    """A service of a compose file."""

    path: str
    name: str
    line: int
    image: str | None
    #: The build context folder (repository-relative) when the service is built here.
    build: str | None
    dockerfile: str | None
    healthcheck: Probe | None
    healthcheck_disabled: bool
    user: str | None
    user_line: int
    replicas: int | None
    replicas_line: int
    restart: str | None


@dataclass(frozen=True, slots=True)
class HelmHint:
    """A key found in an unrendered Helm template line."""

    path: str
    line: int
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class HelmChart:
    """A Helm chart (its ``Chart.yaml``)."""

    path: str
    name: str
    directory: str
    templates: tuple[str, ...]
    hints: tuple[HelmHint, ...]
    values_path: str | None
    values: YMap | None

    def value(self, *keys: str) -> tuple[Any, int]:
        """A value of ``values.yaml`` by key path, with its line (None, 0 if absent)."""
        node: Any = self.values
        line = 0
        for key in keys:
            if not isinstance(node, YMap) or key not in node:
                return None, 0
            line = node.line_of(key)
            node = node[key]
        return node, line


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _dig(node: YMap, keys: tuple[str, ...]) -> YMap | None:
    for key in keys:
        child = node.get(key)
        if not isinstance(child, YMap):
            return None
        node = child
    return node


def _command_text(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value) if value is not None else ""


def _kube_probe(path: str, spec: YMap, key: str, kind: str) -> Probe:
    probe = spec.map(key)
    line = spec.line_of(key)
    if "httpGet" in probe:
        get = probe.map("httpGet")
        target = get.get("path", "/")
        return Probe(path, get.line_of("path") or line, kind, "http", str(target), f"GET {target}")
    if "exec" in probe:
        command = _command_text(probe.map("exec").get("command"))
        return Probe(path, line, kind, "exec", url_path(command), command)
    if "grpc" in probe:
        return Probe(path, line, kind, "grpc")
    return Probe(path, line, kind, "tcp")


def _security(context: YMap) -> tuple[bool | None, int | None, int]:
    non_root = context.get("runAsNonRoot")
    user = _int(context.get("runAsUser"))
    line = context.line_of("runAsNonRoot") if "runAsNonRoot" in context else context.line
    if user is not None:
        line = context.line_of("runAsUser")
    return (non_root if isinstance(non_root, bool) else None), user, line


def kube_workload(path: str, doc: YMap) -> Workload | None:
    """The workload ``doc`` describes (None when it is not one)."""
    kind = str(doc.get("kind", ""))
    keys = _POD_SPEC.get(kind)
    pod = _dig(doc, keys) if keys else None
    if pod is None:
        return None
    pod_non_root, pod_user, pod_line = _security(pod.map("securityContext"))
    containers = []
    for item in pod.list("containers").maps():
        non_root, user, line = _security(item.map("securityContext"))
        if non_root is None and user is None:
            non_root, user, line = pod_non_root, pod_user, pod_line
        elif non_root is None:
            non_root = pod_non_root
        probes = tuple(_kube_probe(path, item, key, name) for key, name in _PROBES if key in item)
        command = " ".join(_command_text(item.get(k)) for k in ("command", "args") if k in item)
        containers.append(
            Container(
                str(item.get("name", "")),
                str(item.get("image", "")),
                item.line,
                probes,
                non_root,
                user,
                line,
                command,
            )
        )
    spec = doc.map("spec")
    return Workload(
        path,
        doc.line,
        kind,
        str(doc.map("metadata").get("name", "")),
        _int(spec.get("replicas")),
        spec.line_of("replicas"),
        tuple(containers),
    )


def kube_autoscaler(path: str, doc: YMap) -> Autoscaler | None:
    """An HPA or KEDA ScaledObject (None for other kinds)."""
    kind = str(doc.get("kind", ""))
    if kind not in ("HorizontalPodAutoscaler", "ScaledObject"):
        return None
    spec = doc.map("spec")
    target = spec.map("scaleTargetRef").get("name", "")
    low = "minReplicas" if kind == "HorizontalPodAutoscaler" else "minReplicaCount"
    high = "maxReplicas" if kind == "HorizontalPodAutoscaler" else "maxReplicaCount"
    return Autoscaler(
        path,
        doc.line,
        kind,
        str(doc.map("metadata").get("name", "")),
        str(target),
        _int(spec.get(low)) if low in spec else (1 if kind == "HorizontalPodAutoscaler" else 0),
        _int(spec.get(high)),
    )


def _compose_healthcheck(path: str, service: YMap) -> tuple[Probe | None, bool]:
    if "healthcheck" not in service:
        return None, False
    check = service.map("healthcheck")
    if check.get("disable") is True:
        return None, True
    test = check.get("test")
    if isinstance(test, list):
        if test and str(test[0]).upper() == "NONE":
            return None, True
        command = " ".join(str(t) for t in test if str(t) not in ("CMD", "CMD-SHELL"))
    else:
        command = str(test or "")
    line = check.line_of("test") if "test" in check else service.line_of("healthcheck")
    return Probe(path, line, "healthcheck", "exec", url_path(command), command), False


def compose_services(path: str, doc: YMap) -> list[ComposeService]:
    """The services of the compose document ``doc``."""
    folder = str(PurePosixPath(path).parent)
    out = []
    services = doc.map("services")
    for name, service in services.items():
        if not isinstance(service, YMap):
            continue
        build = service.get("build")
        context: str | None = None
        dockerfile: str | None = None
        if isinstance(build, str):
            context = build
        elif isinstance(build, YMap):
            context = str(build.get("context", "."))
            dockerfile = str(build["dockerfile"]) if "dockerfile" in build else None
        if context is not None:
            context = _join(folder, context)
        check, disabled = _compose_healthcheck(path, service)
        deploy = service.map("deploy")
        out.append(
            ComposeService(
                path,
                str(name),
                services.line_of(name),
                str(service["image"]) if "image" in service else None,
                context,
                dockerfile,
                check,
                disabled,
                str(service["user"]) if "user" in service else None,
                service.line_of("user"),
                _int(deploy.get("replicas"))
                if "replicas" in deploy
                else _int(service.get("scale")),
                deploy.line_of("replicas") if "replicas" in deploy else service.line_of("scale"),
                str(service["restart"]) if "restart" in service else None,
            )
        )
    return out


def _join(folder: str, relative: str) -> str:
    parts: list[str] = [] if folder in ("", ".") else folder.split("/")
    for part in relative.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/".join(parts) or "."


def helm_hints(path: str, lines: list[str]) -> list[HelmHint]:
    """Probe, security, replica and kind keys in a template, and the paths HTTP probes get.

    A light line scan (templates are not YAML until rendered): an ``httpGet:`` line's
    deeper-indented ``path:`` line becomes a ``probePath`` hint.
    """
    out: list[HelmHint] = []
    probe_indent: int | None = None
    for number, line in enumerate(lines, start=1):
        indent = len(line) - len(line.lstrip())
        stripped = line.strip()
        if probe_indent is not None and stripped and indent <= probe_indent:
            probe_indent = None
        if stripped.startswith("httpGet:"):
            probe_indent = indent
            continue
        if probe_indent is not None and stripped.startswith("path:"):
            out.append(HelmHint(path, number, "probePath", stripped[5:].strip().strip("\"'")))
            continue
        match = _HINT_KEYS.match(line)
        if match:
            out.append(HelmHint(path, number, match.group(1), match.group(2).strip("\"'")))
    return out
