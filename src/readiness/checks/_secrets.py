"""Telling a leaked secret from a placeholder, and finding secrets outside Python.

A value is judged on its own (`judge`): a placeholder (``changeme``, ``your-api-key``,
``<token>``, ``${VAR}``, ``sk-test...``, ``xxxx``, repeated or sequential characters, an
environment variable's name, a path or a URL without credentials) is never a leak; a real
provider format (``sk-...``, ``AKIA...``, ``ghp_...``, ``xox.-...``, a PEM private key)
or a long random-looking string is ``real``; anything else secret-named is ``possible``
(a weak hard-coded credential, not proof of a leak). Values are only ever shown masked
(`mask`): the first four characters and the length.

Outside Python (whose literals come from the AST, `readiness.pyindex.SecretLiteral`),
`config_secrets` reads committed dotenv files, YAML (compose ``environment:``, Kubernetes
``env:`` and ``Secret`` objects, any secret-named key), JSON and TOML with real parsers,
and `provider_matches` finds provider-format keys in any text file.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import tomllib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import PurePosixPath
from typing import Any, Literal, TypeAlias

from readiness.configs.yamlines import YamlError, YList, YMap, load_all
from readiness.repo import Repo, is_doc, is_test_path

__all__ = [
    "SECRET_NAME",
    "ConfigSecret",
    "Verdict",
    "config_secrets",
    "is_lenient_path",
    "judge",
    "mask",
    "provider_matches",
]

Verdict: TypeAlias = Literal["real", "possible", "placeholder"]

#: Names that hold secrets (the same vocabulary as `readiness.pyindex`).
SECRET_NAME = re.compile(
    r"(api[_-]?key|secret|passw(or)?d|passwd|token|private[_-]?key|access[_-]?key|"
    r"auth[_-]?key|credential|client[_-]?secret|dsn)",
    re.IGNORECASE,
)
#: Names that look secret but hold something else (a token's lifetime, a key's name).
_NOT_A_SECRET_NAME = re.compile(
    r"(_|^)(ttl|expir\w*|timeout|len(gth)?|size|max|min|count|limit|file|path|dir|url|"
    r"uri|endpoint|header|name|id|type|kind|prefix|env|var|field|param|pattern|regex|"
    r"algorithm|alg|scope|scopes|policy|rotation|hash(ed)?|digest|version|enabled|"
    r"required|mode|format|template|_?seconds|_?days|tokens)$|^(max|min|num|n|total)_",
    re.IGNORECASE,
)
_PROVIDERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Anthropic API key", re.compile(r"\bsk-ant-[A-Za-z0-9]{2,8}\d{2}-[A-Za-z0-9_-]{20,}")),
    ("OpenAI API key", re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}")),
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b")),
    ("GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{50,})")),
    ("GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("Stripe live key", re.compile(r"\b(?:sk|rk)_live_[A-Za-z0-9]{20,}")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")),
    ("SendGrid API key", re.compile(r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b")),
    ("PyPI token", re.compile(r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}")),
    ("npm token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    (
        "private key",
        re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY"),
    ),
)
#: One pass over a file's text before the per-provider expressions.
_ANY_PROVIDER = re.compile(
    r"sk-|AKIA|ASIA|ABIA|ACCA|gh[pousr]_|github_pat_|glpat-|xox[abposr]-|_live_|AIza|hf_|"
    r"SG\.|pypi-|npm_|PRIVATE KEY"
)
_PLACEHOLDER = re.compile(
    r"change[-_ ]?me|changeit|replace|your[-_ ]?|<[^>]*>|\$\{|\{\{|%\(|\{[a-z_]+\}|"
    r"x{4,}|X{4,}|\*{3,}|\.\.\.|…|dummy|fake|example|sample|placeholder|redacted|"
    r"not[-_]?a[-_]?real|insert|\btodo\b|\btbd\b|test[-_]?(key|token|secret|pass)|"
    r"^sk[-_]test|[-_]here\b|mock|^foo|^bar\b|^none$|^null$|^undefined$|default|"
    r"^secret$|^password$|^token$|dev[-_]?only|insecure|do[-_]?not[-_]?use",
    re.IGNORECASE,
)
_ENV_NAME = re.compile(r"^\$[A-Z][A-Z0-9_]+$|^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$")
_URL_CREDENTIALS = re.compile(r"^[a-z][a-z0-9+.-]*://([^:/@\s]*):([^@/\s]+)@", re.IGNORECASE)
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_LENIENT_NAME = re.compile(r"\.(example|sample|template|dist|tmpl|tpl)(\.|$)|example", re.I)
_DOTENV = re.compile(r"^(\.env(\..+)?|.+\.env)$")
_DOTENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$")
_CONFIG_MAX_BYTES = 256_000


def mask(value: str) -> str:
    """``sk-p…(51 chars)``: never more of a secret than its first four characters."""
    head = value[:4] if len(value) >= 12 else ""
    return f"{head}…({len(value)} chars)"


def _entropy(value: str) -> float:
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def _classes(value: str) -> int:
    return sum(
        (
            any(c.islower() for c in value),
            any(c.isupper() for c in value),
            any(c.isdigit() for c in value),
            any(not c.isalnum() for c in value),
        )
    )


def _patterned(value: str) -> bool:
    """Repeated chunks (``abcabcabc``) or mostly ascending runs (``123456789``)."""
    body = value
    for size in range(1, len(body) // 2 + 1):
        if len(body) % size == 0 and body[:size] * (len(body) // size) == body:
            return True
    steps = sum(1 for a, b in pairwise(body) if ord(b) - ord(a) == 1)
    return steps >= 0.5 * (len(body) - 1)


def _random_looking(value: str) -> bool:
    """Generated, not typed: letters mixed with digits (or cases), and high entropy.

    Words joined by dashes (``my-super-secret-key``) have entropy too, but no digits and
    no case changes: a typed passphrase, not a generated key.
    """
    letters = sum(c.isalpha() for c in value)
    digits = sum(c.isdigit() for c in value)
    flips = sum(1 for a, b in pairwise(value) if a.isupper() != b.isupper())
    mixed = (letters and digits) or flips >= 6
    if not mixed:
        return False
    if len(value) >= 16:
        return _entropy(value) >= 3.5
    return len(value) >= 10 and _entropy(value) >= 3.2 and _classes(value) >= 3


def provider_of(value: str) -> str | None:
    """The provider whose key format ``value`` contains, if any."""
    if not _ANY_PROVIDER.search(value):
        return None
    for name, pattern in _PROVIDERS:
        if pattern.search(value):
            return name
    return None


def judge(value: str) -> tuple[Verdict, str]:
    """``real`` / ``possible`` / ``placeholder``, with the reason in a few words."""
    value = value.strip().strip("\"'")
    credentials = _URL_CREDENTIALS.match(value)
    if credentials:
        value = credentials.group(2)  # only the password of a URL is secret
    elif _URL.match(value) or value.startswith(("/", "./", "~/")):
        return "placeholder", "a URL or path, not a secret"
    if len(value) < 8:
        return "placeholder", "too short to be a credential"
    if _PLACEHOLDER.search(value) or _ENV_NAME.match(value):
        return "placeholder", "a placeholder or a variable reference"
    if " " in value.strip():
        return "placeholder", "prose, not a credential"
    provider = provider_of(value)
    # A provider key's random part follows its prefix (``sk-proj-``, ``ghp_``).
    body = re.sub(r"^[A-Za-z]{2,5}[-_](?:[a-z]+[-_])?", "", value) if provider else value
    if len(set(body)) <= 3 or _patterned(body):
        return "placeholder", "repeated or sequential characters"
    if provider is not None:
        return "real", f"{provider} format"
    if _random_looking(value):
        return "real", "a long random-looking value"
    if _entropy(value) < 2.5:
        return "placeholder", "low entropy"
    return "possible", "a hard-coded credential-like value"


def is_lenient_path(path: str) -> bool:
    """Tests, documents and example files: only a real-looking key there is a leak."""
    return is_test_path(path) or is_doc(path) or bool(_LENIENT_NAME.search(path))


def secret_name(name: str) -> bool:
    """A key or variable name that holds a secret (not its lifetime, file or header)."""
    tail = re.split(r"[.\[\]]", name)[-1] if name else ""
    return bool(tail and SECRET_NAME.search(tail) and not _NOT_A_SECRET_NAME.search(tail))


@dataclass(frozen=True, slots=True)
class ConfigSecret:
    """A secret-named value in a configuration file."""

    path: str
    line: int
    name: str
    value: str
    where: str  # "dotenv" | "compose/YAML" | "Kubernetes Secret" | "JSON" | "TOML"


def provider_matches(repo: Repo, paths: list[str]) -> Iterator[tuple[str, int, str, str]]:
    """``(path, line, provider, value)`` for provider-format keys in ``paths``."""
    for path in paths:
        text = repo.text(path)
        if text is None or not _ANY_PROVIDER.search(text):
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if not _ANY_PROVIDER.search(line):
                continue
            for name, pattern in _PROVIDERS:
                match = pattern.search(line)
                if match:
                    end = match.end()
                    if name == "private key":
                        end = line.find("-----", match.end()) + 5 or len(line)
                    yield path, number, name, line[match.start() : end]
                    break


def config_secrets(repo: Repo) -> Iterator[ConfigSecret]:
    """Secret-named values in committed dotenv, YAML, JSON and TOML files."""
    for path in repo.files:
        name = PurePosixPath(path).name
        suffix = PurePosixPath(path).suffix.lower()
        kind = (
            "dotenv"
            if _DOTENV.match(name)
            else {".yml": "YAML", ".yaml": "YAML", ".json": "JSON", ".toml": "TOML"}.get(suffix)
        )
        if kind is None:
            continue
        text = repo.text(path)
        if text is None or len(text) > _CONFIG_MAX_BYTES or not SECRET_NAME.search(text):
            continue
        if kind == "dotenv":
            yield from _dotenv(path, text)
        elif kind == "YAML":
            yield from _yaml(path, text)
        else:
            yield from _keyed(path, text, kind)


def _dotenv(path: str, text: str) -> Iterator[ConfigSecret]:
    for number, line in enumerate(text.splitlines(), start=1):
        match = _DOTENV_LINE.match(line)
        if not match or line.lstrip().startswith("#"):
            continue
        key, value = match.group(1), match.group(2).strip()
        if value[:1] in ("'", '"'):
            value = value[1:].split(value[0], 1)[0]
        else:
            value = value.split(" #", 1)[0].strip()
        if value and secret_name(key):
            yield ConfigSecret(path, number, key, value, "dotenv")


def _yaml(path: str, text: str) -> Iterator[ConfigSecret]:
    try:
        documents = load_all(text)
    except (YamlError, ValueError, RecursionError):
        return  # the configuration parser reports unparsable YAML once, as a note
    for document in documents:
        if isinstance(document, YMap) and str(document.get("kind")) == "Secret":
            yield from _kube_secret(path, document)
        else:
            yield from _walk_yaml(path, document)


def _kube_secret(path: str, document: YMap) -> Iterator[ConfigSecret]:
    for section, encoded in (("data", True), ("stringData", False)):
        values = document.map(section)
        for key, raw in values.items():
            if not isinstance(raw, str):
                continue
            value = raw
            if encoded:
                try:
                    value = base64.b64decode(raw, validate=True).decode("utf-8")
                except (binascii.Error, UnicodeDecodeError):
                    value = raw
            yield ConfigSecret(
                path, values.value_lines.get(key, values.line), str(key), value, "Kubernetes Secret"
            )


def _walk_yaml(path: str, node: Any) -> Iterator[ConfigSecret]:
    if isinstance(node, YMap):
        # Kubernetes ``env: [{name: API_KEY, value: ...}]``.
        env_name, env_value = node.get("name"), node.get("value")
        if isinstance(env_name, str) and isinstance(env_value, str) and secret_name(env_name):
            line = node.value_lines.get("value", node.line)
            yield ConfigSecret(path, line, env_name, env_value, "YAML")
        for key, value in node.items():
            if isinstance(value, str | int) and not isinstance(value, bool) and key != "value":
                if isinstance(key, str) and secret_name(key):
                    line = node.value_lines.get(key, node.line)
                    yield ConfigSecret(path, line, key, str(value), "YAML")
            else:
                yield from _walk_yaml(path, value)
    elif isinstance(node, YList):
        for index, item in enumerate(node):
            # compose ``environment: ["API_KEY=..."]``.
            if isinstance(item, str) and "=" in item:
                key, _, value = item.partition("=")
                if secret_name(key.strip()) and value:
                    yield ConfigSecret(path, node.line_at(index), key.strip(), value, "YAML")
            else:
                yield from _walk_yaml(path, item)


def _keyed(path: str, text: str, kind: str) -> Iterator[ConfigSecret]:
    try:
        data: Any = json.loads(text) if kind == "JSON" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError, RecursionError):
        return
    lines = text.splitlines()
    for key, value in _walk_plain(data):
        yield ConfigSecret(path, _line_of_key(lines, key), key, value, kind)


def _walk_plain(node: Any) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and isinstance(key, str) and secret_name(key):
                yield key, value
            else:
                yield from _walk_plain(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_plain(item)


def _line_of_key(lines: list[str], key: str) -> int:
    pattern = re.compile(rf"""(^|[\s"'{{,]){re.escape(key)}["']?\s*[:=]""")
    for number, line in enumerate(lines, start=1):
        if pattern.search(line):
            return number
    return 0
