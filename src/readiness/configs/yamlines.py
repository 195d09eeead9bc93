"""YAML that remembers where things are: mappings and sequences with their line numbers.

PyYAML's nodes carry ``start_mark``; the constructors here keep it on the built objects
so a check can cite ``file:line`` for any key or list item. Mappings become `YMap` (a
dict with ``line``, ``key_lines`` and ``value_lines``), sequences `YList` (a list with
``line`` and ``item_lines``); scalars stay plain Python values (their line is the one of
the key or item that holds them). The C parser is used when PyYAML was built with it.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Any

import yaml

__all__ = ["YList", "YMap", "YamlError", "as_list", "as_map", "load_all", "scalar_line"]

YamlError = yaml.YAMLError

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YMap(dict[Any, Any]):
    """A mapping with line numbers (1-based) for itself, its keys and its values."""

    __slots__ = ("key_lines", "line", "value_lines")

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[Any, int] = {}
        #: The first line of each value's content (the line after ``|`` for block text).
        self.value_lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        """The line of ``key`` (the mapping's own line when the key is absent)."""
        return self.key_lines.get(key, self.line)

    def map(self, key: Any) -> YMap:
        """``self[key]`` when it is a mapping, else an empty one (at this mapping's line)."""
        value = self.get(key)
        return value if isinstance(value, YMap) else YMap(self.line_of(key))

    def list(self, key: Any) -> YList:
        """``self[key]`` when it is a sequence, else an empty one."""
        value = self.get(key)
        return value if isinstance(value, YList) else YList(self.line_of(key))


class YList(list[Any]):
    """A sequence with line numbers (1-based) for itself and each item."""

    __slots__ = ("item_lines", "line")

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []

    def line_at(self, index: int) -> int:
        """The line of item ``index``."""
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line

    def maps(self) -> Iterator[YMap]:
        """The items that are mappings."""
        return (item for item in self if isinstance(item, YMap))


def _value_line(node: yaml.Node) -> int:
    # A block scalar's text starts on the line after its ``|`` / ``>`` indicator.
    block = isinstance(node, yaml.ScalarNode) and node.style in ("|", ">")
    return node.start_mark.line + (2 if block else 1)


def _construct_map(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Iterator[YMap]:
    data = YMap(node.start_mark.line + 1)
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                "unhashable key",
                key_node.start_mark,
            )
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_lines[key] = key_node.start_mark.line + 1
        data.value_lines[key] = _value_line(value_node)


def _construct_seq(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> Iterator[YList]:
    data = YList(node.start_mark.line + 1)
    yield data
    for child in node.value:
        data.append(loader.construct_object(child, deep=True))
        data.item_lines.append(_value_line(child))


class _LineLoader(_Base):  # type: ignore[misc,valid-type]
    """SafeLoader (C when available) building `YMap` / `YList`."""


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_LineLoader.add_constructor("tag:yaml.org,2002:omap", _construct_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def load_all(text: str) -> list[Any]:
    """Every document of ``text`` (raises `YamlError` on invalid YAML)."""
    return [doc for doc in yaml.load_all(text, Loader=_LineLoader) if doc is not None]


def as_map(value: Any) -> YMap:
    """``value`` when it is a mapping, else an empty `YMap`."""
    return value if isinstance(value, YMap) else YMap()


def as_list(value: Any) -> YList:
    """``value`` when it is a sequence, else an empty `YList`."""
    return value if isinstance(value, YList) else YList()


def scalar_line(container: YMap | YList, key: Any) -> int:
    """The line of a scalar held at ``key`` (a mapping key or a sequence index)."""
    if isinstance(container, YMap):
        return container.value_lines.get(key, container.line)
    return container.line_at(int(key))
