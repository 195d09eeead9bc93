"""Documents as sections: each heading with the text under it.

A minimal structural reading of Markdown (ATX ``#`` and setext headings, fenced code)
and reStructuredText (underlined titles), enough to ask "is there a section about
rolling back, and does it give steps?" without matching a word anywhere in a file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from readiness.repo import Repo

__all__ = ["Section", "find_sections", "sections"]

_ATX = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_UNDERLINE = re.compile(r"^(=+|-+|~+|\^+|\*+)\s*$")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+\S")
_BULLET = re.compile(r"^\s*[-*+]\s+\S")
_FENCE = re.compile(r"^\s*(```|~~~)")
_COMMAND = re.compile(r"`[^`]*\s[^`]*`")  # inline code with a space: a command
_PLACEHOLDER = re.compile(r"\b(TODO|TBD|FIXME|coming soon)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Section:
    """A heading and its body (up to the next heading of the same or a higher level)."""

    path: str
    line: int
    level: int
    title: str
    end_line: int
    words: int
    #: Numbered items, list items, code blocks and inline commands in the body.
    steps: int
    placeholder: bool

    @property
    def procedural(self) -> bool:
        """Gives steps (a numbered list, a code block, commands), not only a mention."""
        return self.steps >= 1 and self.words >= 8 and not self.placeholder


def sections(path: str, lines: list[str]) -> list[Section]:
    """The sections of one document."""
    heads: list[tuple[int, int, str]] = []  # (line, level, title)
    fenced = False
    for index, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        match = _ATX.match(line)
        if match:
            heads.append((index + 1, len(match.group(1)), match.group(2).strip()))
            continue
        under = _UNDERLINE.match(line)
        previous = lines[index - 1] if index > 0 else ""
        if under and previous.strip() and len(line.strip()) >= 3 and not _BULLET.match(previous):
            level = {"=": 1, "-": 2}.get(line.strip()[0], 3)
            heads.append((index, level, previous.strip()))
    out: list[Section] = []
    for number, (start, level, title) in enumerate(heads):
        end = len(lines)
        for later_line, later_level, _ in heads[number + 1 :]:
            if later_level <= level:
                end = later_line - 1
                break
        body = lines[start:end]
        out.append(Section(path, start, level, title, end, *_measure(body)))
    return out


def _measure(body: list[str]) -> tuple[int, int, bool]:
    words = 0
    steps = 0
    fenced = False
    placeholder = False
    for line in body:
        if _FENCE.match(line):
            if not fenced:
                steps += 1
            fenced = not fenced
            continue
        words += len(line.split())
        if fenced:
            continue
        if _NUMBERED.match(line) or _COMMAND.search(line) or _BULLET.match(line):
            steps += 1
        if _PLACEHOLDER.search(line):
            placeholder = True
    return words, steps, placeholder and words < 40


def find_sections(repo: Repo, title: re.Pattern[str]) -> Iterator[Section]:
    """Sections of every document whose heading matches ``title``."""
    for path in repo.doc_files:
        text = repo.text(path)
        if text is None or not title.search(text):
            continue
        for section in sections(path, text.splitlines()):
            if title.search(section.title):
                yield section
