"""Documents read as structure: sections with what their bodies hold.

Markdown is parsed with markdown-it-py (a CommonMark parser; it comes with rich) when it is
installed; other documents, or Markdown without it, go through the line-based reader of
`readiness.docsections`. Each section knows its heading, its line span, how many words
of prose it has, how many steps (list items, code blocks, commands), whether it draws a
diagram (mermaid/plantuml/graphviz code, an image, box-drawing art) and which documents it
links to, so a check can ask "is there an architecture document with a diagram?" or "does
the runbook give steps for this alert?" rather than look for a word.
"""

from __future__ import annotations

import bisect
import re
import weakref
from dataclasses import dataclass
from typing import Any

from readiness.context import AuditContext
from readiness.docsections import sections as line_sections

__all__ = ["DocSection", "doc_sections", "documents"]

_DIAGRAM_FENCES = frozenset({"mermaid", "plantuml", "puml", "dot", "graphviz", "d2", "ditaa"})
_BOX_ART = re.compile(r"[┌└├─│┐┘]|\+-{3,}|-{2,}>|<-{2,}|={2,}>")
_COMMAND = re.compile(r"\s")
_PLACEHOLDER = re.compile(r"\b(TODO|TBD|FIXME|coming soon)\b", re.IGNORECASE)

try:  # markdown-it-py is optional: rich depends on it, the auditor does not
    from markdown_it import MarkdownIt

    _PARSER: Any = MarkdownIt("commonmark").enable("table")
except ImportError:  # pragma: no cover - exercised only where rich is absent
    _PARSER = None


@dataclass(frozen=True, slots=True)
class DocSection:
    """A heading and its body (up to the next heading of the same or a higher level)."""

    path: str
    line: int
    level: int
    title: str
    end_line: int
    words: int
    #: List items, code blocks and inline commands in the body.
    steps: int
    diagrams: int
    links: tuple[str, ...] = ()
    placeholder: bool = False
    #: Commands and code in the body: each code block's lines and inline code with a
    #: space (``pip install alice``), each cut to 200 characters.
    code: tuple[str, ...] = ()

    @property
    def procedural(self) -> bool:
        """Gives steps (a list, a code block, commands), not only a mention."""
        return self.steps >= 1 and self.words >= 8 and not self.placeholder


@dataclass(frozen=True, slots=True)
class _Fact:
    line: int
    words: int = 0
    steps: int = 0
    diagrams: int = 0
    link: str = ""
    placeholder: bool = False
    code: tuple[str, ...] = ()


_CACHE: weakref.WeakKeyDictionary[AuditContext, dict[str, list[DocSection]]] = (
    weakref.WeakKeyDictionary()
)


def documents(ctx: AuditContext) -> dict[str, list[DocSection]]:
    """Every document's sections (parsed once per audit)."""
    cached = _CACHE.get(ctx)
    if cached is None:
        cached = {}
        for path in ctx.repo.doc_files:
            text = ctx.repo.text(path)
            if text is not None:
                cached[path] = parse(path, text)
        _CACHE[ctx] = cached  # a race parses twice, harmlessly
    return cached


def doc_sections(ctx: AuditContext, title: re.Pattern[str]) -> list[DocSection]:
    """Sections of every document whose heading matches ``title``."""
    return [s for items in documents(ctx).values() for s in items if title.search(s.title)]


def parse(path: str, text: str) -> list[DocSection]:
    """The sections of one document (a whole-file section at level 0 comes first)."""
    lines = text.splitlines()
    if _PARSER is None or not path.lower().endswith((".md", ".markdown")):
        out = [
            DocSection(s.path, s.line, s.level, s.title, s.end_line, s.words, s.steps, 0)
            for s in line_sections(path, lines)
        ]
        words = sum(len(line.split()) for line in lines)
        return [DocSection(path, 1, 0, "", len(lines), words, 0, 0), *out]
    heads: list[tuple[int, int, str]] = []
    facts: list[_Fact] = []
    tokens = _PARSER.parse(text)
    for index, token in enumerate(tokens):
        start = token.map[0] + 1 if token.map else 0
        if token.type == "heading_open":
            title = tokens[index + 1].content if index + 1 < len(tokens) else ""
            heads.append((start, int(token.tag[1]), title.strip()))
        elif token.type in ("fence", "code_block"):
            info = token.info.strip().split(" ")[0].lower()
            art = info in _DIAGRAM_FENCES or bool(_BOX_ART.search(token.content))
            code = tuple(c[:200] for c in token.content.splitlines()[:40] if c.strip())
            facts.append(_Fact(start, steps=1, diagrams=int(art), code=code))
        elif token.type == "list_item_open":
            facts.append(_Fact(start, steps=1))
        elif token.type == "inline" and not (index and tokens[index - 1].type == "heading_open"):
            facts.extend(_inline(start, token))
    facts.sort(key=lambda f: f.line)
    positions = [f.line for f in facts]
    out = [_section(path, 1, 0, "", len(lines), facts, positions)]
    for number, (start, level, title) in enumerate(heads):
        end = len(lines)
        for later, later_level, _ in heads[number + 1 :]:
            if later_level <= level:
                end = later - 1
                break
        out.append(_section(path, start, level, title, end, facts, positions))
    return out


def _inline(line: int, token: Any) -> list[_Fact]:
    out = [
        _Fact(
            line,
            words=len(token.content.split()),
            placeholder=bool(_PLACEHOLDER.search(token.content)),
        )
    ]
    for child in token.children or ():
        if child.type == "image":
            out.append(_Fact(line, diagrams=1))
        elif child.type == "link_open":
            out.append(_Fact(line, link=str(child.attrs.get("href", ""))))
        elif child.type == "code_inline" and _COMMAND.search(child.content):
            out.append(_Fact(line, steps=1, code=(child.content[:200],)))
    return out


def _section(
    path: str,
    start: int,
    level: int,
    title: str,
    end: int,
    facts: list[_Fact],
    positions: list[int],
) -> DocSection:
    low = bisect.bisect_left(positions, start + (1 if level else 0))
    high = bisect.bisect_right(positions, end)
    body = facts[low:high]
    words = sum(f.words for f in body)
    return DocSection(
        path,
        start,
        level,
        title,
        end,
        words,
        sum(f.steps for f in body),
        sum(f.diagrams for f in body),
        tuple(f.link for f in body if f.link),
        any(f.placeholder for f in body) and words < 40,
        tuple(c for f in body for c in f.code),
    )
