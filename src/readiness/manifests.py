"""Declared dependencies, parsed with real parsers (tomllib, json, configparser).

Sources: pyproject (PEP 621 and Poetry), requirements files, setup.cfg, package.json
and go.mod.

Names are normalised the PEP 503 way (``Python_Dotenv`` -> ``python-dotenv``).
"""

from __future__ import annotations

import configparser
import json
import re
import tomllib
from dataclasses import dataclass

from readiness.model import Evidence
from readiness.repo import Repo

__all__ = ["Dependencies", "normalise"]

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalise(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True, slots=True)
class _Declared:
    name: str
    path: str
    line: int


class Dependencies:
    """Every dependency the repository declares, with where it is declared."""

    def __init__(self, repo: Repo) -> None:
        self._repo = repo
        self._by_name: dict[str, list[_Declared]] = {}
        for path in repo.files:
            name = path.rsplit("/", 1)[-1]
            if name == "pyproject.toml":
                self._pyproject(path)
            elif re.fullmatch(r"requirements.*\.(txt|in)", name):
                self._requirements(path)
            elif name == "setup.cfg":
                self._setup_cfg(path)
            elif name == "package.json" and "node_modules/" not in path:
                self._package_json(path)
            elif name == "go.mod":
                self._go_mod(path)

    def _add(self, name: str, path: str) -> None:
        key = normalise(name)
        line = self._repo.line_of(path, re.compile(re.escape(name), re.IGNORECASE))
        self._by_name.setdefault(key, []).append(_Declared(key, path, line))

    def _pyproject(self, path: str) -> None:
        text = self._repo.text(path)
        if text is None:
            return
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            return
        project = data.get("project", {})
        specs: list[str] = list(project.get("dependencies", []))
        for group in project.get("optional-dependencies", {}).values():
            specs.extend(group)
        for group in data.get("dependency-groups", {}).values():
            specs.extend(s for s in group if isinstance(s, str))
        for spec in specs:
            match = _REQUIREMENT.match(spec)
            if match:
                self._add(match.group(1), path)
        poetry = data.get("tool", {}).get("poetry", {})
        for table in (poetry.get("dependencies", {}), poetry.get("dev-dependencies", {})):
            for name in table:
                if name.lower() != "python":
                    self._add(name, path)
        for group in poetry.get("group", {}).values():
            for name in group.get("dependencies", {}):
                self._add(name, path)

    def _requirements(self, path: str) -> None:
        for line in self._repo.lines(path):
            line = line.split("#", 1)[0].strip()
            if not line or line.startswith("-"):
                continue
            match = _REQUIREMENT.match(line)
            if match:
                self._add(match.group(1), path)

    def _setup_cfg(self, path: str) -> None:
        parser = configparser.ConfigParser()
        try:
            parser.read_string(self._repo.text(path) or "")
        except configparser.Error:
            return
        for line in parser.get("options", "install_requires", fallback="").splitlines():
            match = _REQUIREMENT.match(line)
            if match:
                self._add(match.group(1), path)

    def _package_json(self, path: str) -> None:
        try:
            data = json.loads(self._repo.text(path) or "{}")
        except json.JSONDecodeError:
            return
        for key in ("dependencies", "devDependencies", "optionalDependencies"):
            for name in data.get(key, {}) or {}:
                self._add(name, path)

    def _go_mod(self, path: str) -> None:
        for line in self._repo.lines(path):
            parts = line.strip().split()
            if parts and "/" in parts[0] and not parts[0].startswith("//"):
                self._add(parts[0] if parts[0] != "require" else parts[1], path)

    # --- queries ----------------------------------------------------------------------
    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and normalise(name) in self._by_name

    @property
    def names(self) -> frozenset[str]:
        """Every declared name (normalised)."""
        return frozenset(self._by_name)

    def evidence(self, *names: str) -> list[Evidence]:
        """Where any of ``names`` is declared (strength ``dependency``)."""
        out = []
        for name in names:
            for item in self._by_name.get(normalise(name), []):
                out.append(Evidence(item.path, item.line, "dependency", f"declares {item.name}"))
        return out
