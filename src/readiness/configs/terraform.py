"""Terraform, parsed with ``python-hcl2``: resources, data sources and modules with lines.

``python-hcl2`` gives no line numbers, so each block's line is found from its header
(``resource "type" "name" {``) in the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions

__all__ = ["TfBlock", "parse_terraform", "setting"]

_OPTIONS = SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True, with_meta=False
)
_HEADER = re.compile(r'^\s*(resource|data|module)\s+"([^"]+)"(?:\s+"([^"]+)")?\s*\{')


@dataclass(frozen=True, slots=True)
class TfBlock:
    """A ``resource``, ``data`` or ``module`` block."""

    path: str
    line: int
    block: str  # resource | data | module
    type: str  # the resource type; for a module, its source
    name: str
    body: dict[str, Any]


def setting(body: dict[str, Any], *keys: str) -> Any:
    """A nested attribute (blocks are lists of bodies; the first one is used)."""
    node: Any = body
    for key in keys:
        if isinstance(node, list):
            node = node[0] if node and isinstance(node[0], dict) else None
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node[0] if isinstance(node, list) and len(node) == 1 else node


def parse_terraform(path: str, text: str) -> list[TfBlock]:
    """The blocks of one ``.tf`` file (raises on invalid HCL)."""
    data = hcl2.loads(text, serialization_options=_OPTIONS)
    lines: dict[tuple[str, str, str], int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        match = _HEADER.match(raw)
        if match:
            block, first, second = match.groups()
            key = (block, first, second or "") if block != "module" else (block, first, "")
            lines.setdefault(key, number)
    out: list[TfBlock] = []
    for block in ("resource", "data"):
        for entry in data.get(block) or []:
            if not isinstance(entry, dict):
                continue
            for kind, named in entry.items():
                if not isinstance(named, dict):
                    continue
                for name, body in named.items():
                    body = body if isinstance(body, dict) else {}
                    at = lines.get((block, str(kind), str(name)), 0)
                    out.append(TfBlock(path, at, block, str(kind), str(name), body))
    for entry in data.get("module") or []:
        if not isinstance(entry, dict):
            continue
        for name, body in entry.items():
            body = body if isinstance(body, dict) else {}
            at = lines.get(("module", str(name), ""), 0)
            source = str(body.get("source", ""))
            out.append(TfBlock(path, at, "module", source, str(name), body))
    return out
