"""Dockerfiles, parsed with ``dockerfile-parse``.

Per file: its stages and base images, the user the final stage runs as, its
HEALTHCHECK and EXPOSEd ports, each instruction with its line.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from dockerfile_parse import DockerfileParser

from readiness.repo import is_test_path

__all__ = [
    "DockerHealthcheck",
    "Dockerfile",
    "Instruction",
    "Stage",
    "parse_dockerfile",
    "url_path",
]

_URL = re.compile(r"https?://[^/\s'\"]+(/[^\s'\"?#)]*)?")
_VAR = re.compile(r"\$\{?(\w+)(?::?-([^}]*))?\}?")
_ROOT_USERS = frozenset({"root", "0"})
_NONROOT_BASE = re.compile(r"nonroot|non-root|rootless", re.IGNORECASE)


def url_path(command: str) -> str | None:
    """The path of the first ``http(s)://host/path`` URL in ``command`` (``/`` for none)."""
    match = _URL.search(command)
    if match is None:
        return None
    return match.group(1) or "/"


@dataclass(frozen=True, slots=True)
class Instruction:
    """One instruction (``name`` upper-case, ``value`` the rest, joined over continuations)."""

    name: str
    value: str
    line: int


@dataclass(frozen=True, slots=True)
class DockerHealthcheck:
    """A HEALTHCHECK instruction."""

    line: int
    command: str
    disabled: bool
    #: The HTTP path it requests, when its command contains a URL.
    path: str | None


@dataclass(frozen=True, slots=True)
class Stage:
    """One ``FROM`` ... stage."""

    index: int
    base: str
    alias: str | None
    line: int
    instructions: tuple[Instruction, ...]

    def last(self, name: str) -> Instruction | None:
        """The stage's last instruction called ``name``."""
        for item in reversed(self.instructions):
            if item.name == name:
                return item
        return None


@dataclass(frozen=True, slots=True)
class Dockerfile:
    """A parsed Dockerfile."""

    path: str
    stages: tuple[Stage, ...]
    #: ARG defaults and ENV values (for resolving ``USER $APP_USER``).
    variables: tuple[tuple[str, str], ...] = ()

    @property
    def production(self) -> bool:
        """Not a dev container, a test image or a ``Dockerfile.dev``-style variant."""
        path = self.path.lower()
        name = PurePosixPath(path).name
        return not (
            ".devcontainer/" in path
            or is_test_path(path)
            or re.search(r"(^|[._-])(dev|test|tests|ci|local|debug)([._-]|$)", name) is not None
        )

    @property
    def final(self) -> Stage | None:
        """The stage the image is built from (the last)."""
        return self.stages[-1] if self.stages else None

    def _chain(self) -> list[Stage]:
        # The final stage, then the earlier stages it is built FROM (by alias).
        chain: list[Stage] = []
        stage = self.final
        while stage is not None and stage not in chain:
            chain.append(stage)
            stage = next((s for s in self.stages[: stage.index] if s.alias == stage.base), None)
        return chain

    def user(self) -> tuple[str | None, int, str]:
        """The final image's user: ``(value, line, how)``.

        ``value`` is None when no USER is set anywhere (the image runs as its base
        image's user, root for almost every base image). ``how`` says where it came from.
        """
        chain = self._chain()
        for stage in chain:
            item = stage.last("USER")
            if item is not None:
                value = self._resolve(item.value.split()[0] if item.value.split() else "")
                how = "USER" if stage is chain[0] else f"USER of stage {stage.alias}"
                return value, item.line, how
        base = chain[-1] if chain else None
        if base is not None and _NONROOT_BASE.search(base.base):
            return "nonroot", base.line, f"base image {base.base}"
        return None, base.line if base else 0, "no USER"

    def runs_as_root(self) -> bool | None:
        """True: root; False: another user; None: a variable that cannot be resolved."""
        value, _, _ = self.user()
        if value is None:
            return True
        if "$" in value:
            return None
        return value.split(":", 1)[0] in _ROOT_USERS

    def healthcheck(self) -> DockerHealthcheck | None:
        """The final image's HEALTHCHECK (inherited from an earlier stage it is built on)."""
        for stage in self._chain():
            item = stage.last("HEALTHCHECK")
            if item is not None:
                disabled = item.value.strip().upper() == "NONE"
                command = re.sub(r"^(--\S+\s+)*(CMD\s+)?", "", item.value.strip(), flags=re.I)
                return DockerHealthcheck(item.line, command, disabled, url_path(command))
        return None

    def exposed(self) -> tuple[tuple[str, int], ...]:
        """``(port, line)`` for each port the final stage EXPOSEs."""
        final = self.final
        if final is None:
            return ()
        return tuple(
            (port.split("/", 1)[0], item.line)
            for item in final.instructions
            if item.name == "EXPOSE"
            for port in item.value.split()
        )

    def _resolve(self, value: str) -> str:
        known = dict(self.variables)

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in known:
                return known[name]
            return default if default is not None else match.group(0)

        return _VAR.sub(replace, value)


def parse_dockerfile(path: str, text: str) -> Dockerfile:
    """Parse ``text``; raises ValueError when it has no ``FROM``."""
    parser = DockerfileParser(fileobj=io.StringIO(text), env_replace=False)
    stages: list[Stage] = []
    current: list[Instruction] = []
    header: tuple[str, str | None, int] | None = None
    variables: list[tuple[str, str]] = []
    for item in parser.structure:
        name = str(item["instruction"]).upper()
        if name == "COMMENT":
            continue
        instruction = Instruction(name, str(item["value"]).strip(), int(item["startline"]) + 1)
        if name == "FROM":
            if header is not None:
                stages.append(Stage(len(stages), header[0], header[1], header[2], tuple(current)))
            words = [w for w in instruction.value.split() if not w.startswith("--")]
            alias = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            header, current = (words[0] if words else "", alias, instruction.line), []
            continue
        if name in ("ARG", "ENV"):
            variables.extend(_assignments(instruction.value))
        current.append(instruction)
    if header is None:
        raise ValueError("no FROM instruction")
    stages.append(Stage(len(stages), header[0], header[1], header[2], tuple(current)))
    return Dockerfile(path, tuple(stages), tuple(variables))


def _assignments(value: str) -> list[tuple[str, str]]:
    # ``ARG A=1 B``, ``ENV A=1 B=2`` and the legacy ``ENV A 1``.
    out = []
    words = value.split()
    if len(words) >= 2 and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]).strip("\"'"))]
    for word in words:
        if "=" in word:
            key, _, val = word.partition("=")
            out.append((key, val.strip("\"'")))
    return out
