"""CI configuration and what each pipeline really runs.

Parsed: GitHub workflows, GitLab CI, scripts in CI folders, Jenkinsfiles, Makefiles.

`follow` traces a CI command to the test runner it ends in: a workflow step
``make test`` leads to the Makefile's ``test`` rule (and its prerequisites), whose recipe
runs ``pytest``; a step ``./scripts/test.sh`` leads into that script. Every hop is a
`Command` with its ``file:line``, so a check can cite the whole chain.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from readiness.configs.yamlines import YList, YMap

__all__ = [
    "CHANGE_EVENTS",
    "CiJob",
    "CiStep",
    "Command",
    "MakeRule",
    "Pipeline",
    "TestRun",
    "Trigger",
    "ci_script_pipeline",
    "follow",
    "github_workflow",
    "gitlab_pipeline",
    "is_test_runner",
    "makefile_rules",
    "script_commands",
    "test_runs",
]

#: Events that run a pipeline on every change (a push or a pull/merge request).
CHANGE_EVENTS = frozenset(
    {"push", "pull_request", "pull_request_target", "merge_group", "merge_request"}
)

_INSTALL = re.compile(
    r"^\s*(sudo\s+)?(pip3?|python3?\s+-m\s+pip|uv\s+(pip|add|sync)|poetry\s+(add|install)|pipx"
    r"|conda|mamba|apt(-get)?|apk|brew|(npm|pnpm|yarn)\s+(i|install|ci|add))\b"
)
_RUNNER = re.compile(
    r"(?:^|[\s/=(\"'])(pytest|py\.test|tox|nox|nose2|unittest|go\s+test|cargo\s+(?:test|nextest)"
    r"|(?:npm|pnpm|yarn|bun)\s+(?:run\s+)?test|jest|vitest|mocha|rspec|phpunit|dotnet\s+test"
    r"|ctest|mix\s+test|(?:\./)?mvnw?\b[^;&|]*\b(?:test|verify|install)"
    r"|(?:\./)?gradlew?\b[^;&|]*\b(?:test|check|build))\b"
)
_NOT_A_RUN = re.compile(r"--version\b|--collect-only\b|\s--co\b|--help\b")
_SEPARATORS = re.compile(r"\s*(?:&&|\|\||;|\|)\s*")
_MAKE = re.compile(r"^(?:\$\(MAKE\)|\$\{MAKE\}|g?make)$")
_IGNORED_FAILURE = re.compile(r"\|\|\s*(true|:|exit\s+0)\b")
_RULE = re.compile(r"^([^\s:#=][^:=]*?)\s*::?(?!=)\s*(.*)$")
_GITLAB_RESERVED = frozenset(
    {"stages", "variables", "default", "include", "workflow", "image", "services"}
    | {"before_script", "after_script", "cache", "types"}
)


@dataclass(frozen=True, slots=True)
class Command:
    """One command line of a CI step, script or Makefile recipe."""

    path: str
    line: int
    text: str
    #: ``command``, or ``rule`` for a Makefile rule's header line (``test: install``).
    role: str = "command"

    @property
    def location(self) -> str:
        """``path:line``."""
        return f"{self.path}:{self.line}"


@dataclass(frozen=True, slots=True)
class Trigger:
    """An event that starts a pipeline (``branches``: its branch filter, if any)."""

    event: str
    line: int
    branches: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CiStep:
    """A step (GitHub) or a job's script (GitLab)."""

    name: str
    line: int
    commands: tuple[Command, ...]
    allow_failure: bool = False


@dataclass(frozen=True, slots=True)
class CiJob:
    """A job; ``uses`` names a reusable workflow it calls."""

    name: str
    line: int
    steps: tuple[CiStep, ...]
    allow_failure: bool = False
    uses: str = ""
    #: The job's own triggers when they differ from the pipeline's (GitLab rules).
    triggers: tuple[Trigger, ...] = ()


@dataclass(frozen=True, slots=True)
class Pipeline:
    """A CI configuration file (or a script in a CI folder)."""

    provider: str  # github | gitlab | jenkins | script
    path: str
    line: int
    triggers: tuple[Trigger, ...]
    jobs: tuple[CiJob, ...]
    #: Whether the repository itself says when it runs.
    confirmed: bool = True
    why: str = ""


@dataclass(frozen=True, slots=True)
class MakeRule:
    """A Makefile rule."""

    path: str
    target: str
    line: int
    prerequisites: tuple[str, ...]
    commands: tuple[Command, ...]


@dataclass(frozen=True, slots=True)
class TestRun:
    """A CI step that ends in a test runner, with the chain of commands that leads there."""

    pipeline: Pipeline
    job: CiJob
    step: CiStep
    chain: tuple[Command, ...]
    allow_failure: bool
    triggers: tuple[Trigger, ...] = field(default=())


def _logical_lines(text: str, path: str, first: int) -> list[Command]:
    out: list[Command] = []
    pending = ""
    start = first
    for offset, raw in enumerate(text.splitlines()):
        line = raw.strip()
        if not pending:
            start = first + offset
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        if line and not line.startswith("#"):
            out.append(Command(path, start, line))
    if pending.strip():
        out.append(Command(path, start, pending.strip()))
    return out


def _commands(container: YMap, key: str, path: str) -> list[Command]:
    value = container.get(key)
    if isinstance(value, str):
        return _logical_lines(value, path, container.value_lines.get(key, container.line))
    if isinstance(value, YList):
        out: list[Command] = []
        for index, item in enumerate(value):
            if isinstance(item, str):
                out.extend(_logical_lines(item, path, value.line_at(index)))
        return out
    return []


# --- GitHub -----------------------------------------------------------------------------
def _github_triggers(doc: YMap) -> tuple[Trigger, ...]:
    key: Any = "on" if "on" in doc else True  # YAML 1.1 reads a bare ``on`` as true
    value = doc.get(key)
    line = doc.line_of(key)
    if isinstance(value, str):
        return (Trigger(value, line),)
    if isinstance(value, YList):
        return tuple(Trigger(str(v), value.line_at(i)) for i, v in enumerate(value))
    if isinstance(value, YMap):
        out = []
        for event, config in value.items():
            branches: tuple[str, ...] = ()
            if isinstance(config, YMap) and isinstance(config.get("branches"), list):
                branches = tuple(str(b) for b in config["branches"])
            out.append(Trigger(str(event), value.line_of(event), branches))
        return tuple(out)
    return ()


def github_workflow(path: str, doc: YMap) -> Pipeline:
    """A GitHub Actions workflow."""
    jobs = []
    for name, job in doc.map("jobs").items():
        if not isinstance(job, YMap):
            continue
        steps = []
        for index, step in enumerate(job.list("steps").maps()):
            label = str(step.get("name") or step.get("uses") or f"step {index + 1}")
            steps.append(
                CiStep(
                    label,
                    step.line,
                    tuple(_commands(step, "run", path)),
                    step.get("continue-on-error") is True,
                )
            )
        jobs.append(
            CiJob(
                str(name),
                doc.map("jobs").line_of(name),
                tuple(steps),
                job.get("continue-on-error") is True,
                str(job.get("uses", "")),
            )
        )
    return Pipeline("github", path, doc.line_of("jobs"), _github_triggers(doc), tuple(jobs))


# --- GitLab -----------------------------------------------------------------------------
def _gitlab_events(job: YMap, fallback: tuple[Trigger, ...]) -> tuple[Trigger, ...]:
    line = job.line
    if job.get("when") == "manual":
        return (Trigger("manual", job.line_of("when")),)
    only = job.get("only")
    if isinstance(only, YMap):
        only = only.get("refs")
    if isinstance(only, list):
        events = []
        for ref in (str(r) for r in only):
            event = {"merge_requests": "merge_request", "branches": "push", "pushes": "push"}
            events.append(Trigger(event.get(ref, "push" if ref not in _GITLAB_REFS else ref), line))
        return tuple(events)
    rules = job.get("rules")
    if isinstance(rules, YList):
        events = []
        for index, rule in enumerate(rules):
            if not isinstance(rule, YMap) or rule.get("when") == "never":
                continue
            condition = str(rule.get("if", ""))
            at = rules.line_at(index)
            if "merge_request_event" in condition:
                events.append(Trigger("merge_request", at))
            if not condition or "CI_COMMIT_BRANCH" in condition or '"push"' in condition:
                events.append(Trigger("push", at))
            if "schedule" in condition:
                events.append(Trigger("schedule", at))
        return tuple(events) or (Trigger("conditional", rules.line),)
    return fallback


_GITLAB_REFS = frozenset({"tags", "schedules", "web", "api", "triggers", "pipelines", "external"})


def gitlab_pipeline(path: str, doc: YMap) -> Pipeline:
    """A ``.gitlab-ci.yml`` (GitLab runs a pipeline on every push unless rules say else)."""
    default = doc.map("default")
    before = _commands(default, "before_script", path) or _commands(doc, "before_script", path)
    fallback = _gitlab_events(doc.map("workflow"), (Trigger("push", doc.line),))
    jobs = []
    for name, job in doc.items():
        if not isinstance(job, YMap) or not isinstance(name, str):
            continue
        if name in _GITLAB_RESERVED or name.startswith("."):
            continue
        source = job
        parent = job.get("extends")
        if "script" not in job and isinstance(parent, str) and isinstance(doc.get(parent), YMap):
            source = doc[parent]
        if "script" not in source:
            continue
        own_before = _commands(source, "before_script", path) or before
        commands = (*own_before, *_commands(source, "script", path))
        allowed = job.get("allow_failure") is True
        step = CiStep("script", source.line_of("script"), commands, allowed)
        triggers = _gitlab_events(job, fallback)
        jobs.append(CiJob(name, doc.line_of(name), (step,), allowed, "", triggers))
    events: dict[str, Trigger] = {}
    for job in jobs:
        for trigger in job.triggers:
            events.setdefault(trigger.event, trigger)
    return Pipeline("gitlab", path, doc.line, tuple(events.values()) or fallback, tuple(jobs))


# --- scripts and Makefiles --------------------------------------------------------------
def script_commands(path: str, text: str) -> list[Command]:
    """The command lines of a shell script or a Jenkinsfile."""
    return _logical_lines(text, path, 1)


def makefile_rules(path: str, text: str) -> dict[str, MakeRule]:
    """The rules of a Makefile by target (recipes with their lines)."""
    rules: dict[str, MakeRule] = {}
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        raw = lines[index]
        match = _RULE.match(raw) if not raw.startswith("\t") else None
        index += 1
        header = index
        if match is None:
            continue
        targets = match.group(1).split()
        rest = match.group(2).split("#", 1)[0]
        if "=" in rest.split(";", 1)[0]:
            continue  # a target-specific variable, not a rule
        prerequisites, _, inline = rest.partition(";")
        recipe: list[Command] = []
        if inline.strip():
            recipe.append(Command(path, index, inline.strip()))
        while index < len(lines) and (lines[index].startswith("\t") or not lines[index].strip()):
            if lines[index].strip():
                recipe.extend(_logical_lines(lines[index], path, index + 1))
            index += 1
        for target in targets:
            if target.startswith(".") and target != ".DEFAULT":
                continue
            prereqs = tuple(p for p in prerequisites.split() if p != "|")
            rules.setdefault(target, MakeRule(path, target, header, prereqs, tuple(recipe)))
    return rules


# --- following commands -----------------------------------------------------------------
Reader = Callable[[str], "str | None"]


def is_test_runner(text: str) -> bool:
    """Whether one command segment runs a test runner (not installs or queries it)."""
    return bool(_RUNNER.search(text)) and not _INSTALL.match(text) and not _NOT_A_RUN.search(text)


def _join(folder: str, relative: str) -> str:
    parts = [] if folder in ("", ".") else folder.split("/")
    for part in relative.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


def _words(segment: str) -> list[str]:
    try:
        return shlex.split(segment, posix=True)
    except ValueError:
        return segment.split()


class _Follower:
    def __init__(self, makefiles: dict[str, dict[str, MakeRule]], read: Reader) -> None:
        self.makefiles = makefiles
        self.read = read

    def command(self, command: Command, depth: int, seen: set[str]) -> tuple[Command, ...] | None:
        if depth > 6:
            return None
        cwd = ""
        for segment in _SEPARATORS.split(command.text):
            words = _words(segment)
            if not words or _INSTALL.match(segment):
                continue
            if words[0] == "cd" and len(words) > 1 and "$" not in words[1]:
                cwd = _join(cwd, words[1])
                continue
            if is_test_runner(segment):
                return (command,)
            chain = self._make(words, cwd, depth, seen) or self._script(words, cwd, depth, seen)
            if chain:
                return (command, *chain)
        return None

    def _make(
        self, words: list[str], cwd: str, depth: int, seen: set[str]
    ) -> tuple[Command, ...] | None:
        start = next((i for i, w in enumerate(words[:3]) if _MAKE.match(w)), None)
        if start is None:
            return None
        folder, file, targets = cwd, "", []
        args = iter(words[start + 1 :])
        for word in args:
            if word in ("-C", "--directory"):
                folder = _join(folder, next(args, ""))
            elif word in ("-f", "--file", "--makefile"):
                file = next(args, "")
            elif word.startswith("-") or "=" in word:
                continue
            else:
                targets.append(word)
        names = [file] if file else ["GNUmakefile", "makefile", "Makefile"]
        path = next((_join(folder, n) for n in names if _join(folder, n) in self.makefiles), None)
        if path is None:
            return None
        rules = self.makefiles[path]
        if not targets:
            first = min(rules.values(), key=lambda r: r.line, default=None)
            targets = [first.target] if first else []
        for target in targets:
            chain = self.rule(path, target, depth + 1, seen)
            if chain:
                return chain
        return None

    def rule(
        self, path: str, target: str, depth: int, seen: set[str]
    ) -> tuple[Command, ...] | None:
        key = f"{path}:{target}"
        rule = self.makefiles.get(path, {}).get(target)
        if rule is None or key in seen or depth > 6:
            return None
        seen.add(key)
        header = Command(
            path, rule.line, f"{target}: {' '.join(rule.prerequisites)}".strip(), "rule"
        )
        for prerequisite in rule.prerequisites:
            chain = self.rule(path, prerequisite, depth + 1, seen)
            if chain:
                return (header, *chain)
        for command in rule.commands:
            chain = self.command(command, depth + 1, seen)
            if chain:
                return (header, *chain)
        return None

    def _script(
        self, words: list[str], cwd: str, depth: int, seen: set[str]
    ) -> tuple[Command, ...] | None:
        for word in words[:3]:
            if word in ("bash", "sh", "source", ".", "exec", "time", "sudo", "-e", "-x", "-eu"):
                continue
            path = _join(cwd, word)
            if path in seen or path.endswith(".py") or ("/" not in word and "." not in word):
                return None
            text = self.read(path)
            if text is None:
                return None
            seen.add(path)
            for command in script_commands(path, text):
                chain = self.command(command, depth + 1, seen)
                if chain:
                    return chain
            return None
        return None


def follow(
    command: Command, makefiles: dict[str, dict[str, MakeRule]], read: Reader
) -> tuple[Command, ...] | None:
    """The chain of commands from ``command`` to a test runner (None when it runs none).

    ``makefiles`` maps each Makefile's path to its rules; ``read`` returns a file's
    text (None when the file is not in the repository).
    """
    return _Follower(makefiles, read).command(command, 0, set())


def test_runs(
    pipelines: tuple[Pipeline, ...], makefiles: dict[str, dict[str, MakeRule]], read: Reader
) -> list[TestRun]:
    """Every CI step that runs tests, with the triggers it runs on."""
    callers: dict[str, list[Trigger]] = {}
    for pipeline in pipelines:
        for job in pipeline.jobs:
            if job.uses.startswith("./"):
                callers.setdefault(job.uses[2:].split("@", 1)[0], []).extend(pipeline.triggers)
    out: list[TestRun] = []
    follower = _Follower(makefiles, read)
    for pipeline in pipelines:
        for job in pipeline.jobs:
            triggers = job.triggers or pipeline.triggers
            if any(t.event == "workflow_call" for t in triggers):
                triggers = (*triggers, *callers.get(pipeline.path, ()))
            for step in job.steps:
                for command in step.commands:
                    chain = follower.command(command, 0, set())
                    if chain is None:
                        continue
                    ignored = any(_IGNORED_FAILURE.search(c.text) for c in chain)
                    allowed = step.allow_failure or job.allow_failure or ignored
                    out.append(TestRun(pipeline, job, step, chain, allowed, tuple(triggers)))
                    break
    return out


def ci_script_pipeline(path: str, text: str, provider: str, why: str) -> Pipeline:
    """A script (or Jenkinsfile) as a pipeline whose trigger the repository does not state."""
    step = CiStep(PurePosixPath(path).name, 1, tuple(script_commands(path, text)))
    return Pipeline(provider, path, 1, (), (CiJob(path, 1, (step,)),), confirmed=False, why=why)
