"""Just enough YAML to read deploy/kubernetes/ for its tests (PyYAML is not a dependency of ring).

Block mappings and sequences (a sequence item may open a mapping: `- name: x`), plain, quoted and
flow (JSON-compatible: `["a", "b"]`, `{}`) scalars, `|` literal blocks, whole-line comments and
`---` between documents. Anything else (anchors, tags, trailing comments, multi-line plain
scalars, tabs) raises ValueError instead of being read wrongly: the recipe stays in this subset.
"""

from __future__ import annotations

import json
import re
from typing import Any

_KEY = re.compile(r"^([A-Za-z0-9_.\-/]+):(?: (.*)|)$")
_INT = re.compile(r"^-?[0-9]+$")
_UNSUPPORTED = re.compile(r"(^[&*!%@`]| #)")


def load_all(text: str) -> list[Any]:
    """Every document of `text`, as dicts, lists and scalars."""
    if "\t" in text:
        raise ValueError("tabs are not YAML indentation")
    docs = []
    for chunk in re.split(r"(?m)^---[ ]*$", text):
        reader = _Reader(chunk.splitlines())
        reader.skip()
        if reader.i < len(reader.lines):
            docs.append(reader.node(reader.indent()))
            reader.skip()
            if reader.i < len(reader.lines):
                raise ValueError(f"unexpected line: {reader.lines[reader.i]!r}")
    return docs


def scalar(text: str) -> Any:
    if _UNSUPPORTED.search(text):
        raise ValueError(f"not in the YAML subset: {text!r}")
    if text[0] in "[{\"":
        return json.loads(text)
    if text[0] == "'":
        if not text.endswith("'") or len(text) < 2:
            raise ValueError(f"unterminated string: {text!r}")
        return text[1:-1].replace("''", "'")
    if text in ("true", "false"):
        return text == "true"
    if text in ("null", "~"):
        return None
    return int(text) if _INT.match(text) else text


class _Reader:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.i = 0

    def skip(self) -> None:
        while self.i < len(self.lines) and (not self.lines[self.i].strip()
                                            or self.lines[self.i].lstrip().startswith("#")):
            self.i += 1

    def indent(self) -> int:
        line = self.lines[self.i]
        return len(line) - len(line.lstrip(" "))

    def at(self, indent: int) -> str | None:
        """The next content line if it is at `indent` (stripped), else None."""
        self.skip()
        if self.i >= len(self.lines):
            return None
        if self.indent() > indent:
            raise ValueError(f"unexpected indentation: {self.lines[self.i]!r}")
        return self.lines[self.i].strip() if self.indent() == indent else None

    def node(self, indent: int) -> Any:
        first = self.at(indent)
        assert first is not None
        return self.sequence(indent) if first == "-" or first.startswith("- ") else self.mapping(indent)

    def mapping(self, indent: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while (line := self.at(indent)) is not None and not line.startswith("-"):
            match = _KEY.match(line)
            if match is None:
                raise ValueError(f"not a `key: value` line: {line!r}")
            key, rest = match.group(1), (match.group(2) or "").strip()
            if key in out:
                raise ValueError(f"duplicate key {key!r}")
            self.i += 1
            out[key] = self.value(rest, indent)
        return out

    def value(self, rest: str, indent: int) -> Any:
        if rest == "|":
            return self.block(indent)
        if rest:
            return scalar(rest)
        self.skip()
        if self.i < len(self.lines) and self.indent() > indent:
            return self.node(self.indent())
        if self.i < len(self.lines) and self.indent() == indent and self.lines[self.i].lstrip().startswith("-"):
            return self.sequence(indent)
        return None

    def sequence(self, indent: int) -> list[Any]:
        out: list[Any] = []
        while (line := self.at(indent)) is not None and (line == "-" or line.startswith("- ")):
            item = line[1:].strip()
            if not item:
                self.i += 1
                self.skip()
                out.append(self.node(self.indent()))
            elif _KEY.match(item):
                self.lines[self.i] = " " * (indent + 2) + item  # `- key: v` opens a mapping at indent + 2
                out.append(self.mapping(indent + 2))
            else:
                self.i += 1
                out.append(scalar(item))
        return out

    def block(self, indent: int) -> str:
        lines: list[str] = []
        inner: int | None = None
        while self.i < len(self.lines):
            raw = self.lines[self.i]
            if raw.strip() and len(raw) - len(raw.lstrip(" ")) <= indent:
                break
            if raw.strip() and inner is None:
                inner = len(raw) - len(raw.lstrip(" "))
            lines.append(raw[inner:] if raw.strip() and inner is not None else "")
            self.i += 1
        while lines and not lines[-1]:
            lines.pop()
        return "\n".join(lines) + "\n"
