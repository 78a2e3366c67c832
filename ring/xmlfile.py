"""Reading a small, untrusted XML file (server.xml) into a tree of nodes that know their lines.

The file is refused before it is parsed when it is not a regular file (a FIFO or /dev/zero would
be read forever) or larger than MAX_BYTES. defusedxml's expat parser then builds the tree: not
XML, a DOCTYPE (the door to entity bombs), an entity, or an encoding expat cannot read (UTF-7,
Shift_JIS, a name nobody knows) is a ConfigError with the line, never a traceback. Text is kept in
pieces and joined once per element, so one huge text costs linear time.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser, ParseError

from ring.errors import ConfigError

MAX_BYTES = 1024 * 1024  # a server.xml of a thousand instances is under 200 KiB


@dataclass(slots=True, eq=False)
class Node:
    tag: str
    line: int
    attributes: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text: str = ""
    text_line: int | None = None  # line of the first non-blank text, for "text inside <cluster>"
    value: Any = None  # the converted value of a leaf, after the check (ring.serverxml)
    pieces: list[str] = field(default_factory=list)  # text while the element is open

    def all(self, tag: str) -> list[Node]:
        return [child for child in self.children if child.tag == tag]

    def first(self, tag: str) -> Node | None:
        return next((child for child in self.children if child.tag == tag), None)

    def find(self, tag: str) -> Node | None:
        """This node or its first descendant named `tag`, depth first."""
        if self.tag == tag:
            return self
        for child in self.children:
            found = child.find(tag)
            if found is not None:
                return found
        return None


class _TreeTarget:
    """Receives expat's events (via the ElementTree XMLParser) and builds Node with lines."""

    def __init__(self) -> None:
        self.expat: Any = None
        self.stack: list[Node] = []
        self.root: Node | None = None

    def start(self, tag: str, attributes: dict[str, str]) -> None:
        node = Node(tag, self.expat.CurrentLineNumber, dict(attributes))
        if self.stack:
            self.stack[-1].children.append(node)
        else:
            self.root = node
        self.stack.append(node)

    def end(self, tag: str) -> None:
        node = self.stack.pop()
        node.text, node.pieces = "".join(node.pieces), []

    def data(self, text: str) -> None:
        node = self.stack[-1]
        node.pieces.append(text)
        if node.text_line is None and not text.isspace():
            node.text_line = self.expat.CurrentLineNumber

    def close(self) -> Node | None:
        return self.root


def read_bytes(path: str) -> bytes:
    """The file's bytes: ConfigError if it cannot be read, is not a regular file or is too large."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO's open must not block
    except OSError as error:
        raise ConfigError(f"cannot read the configuration: {error.strerror}", path=path) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ConfigError("the configuration is not a regular file (a FIFO, a device or a directory?): "
                          "give the path of a server.xml", path=path)
    with os.fdopen(fd, "rb") as file:
        try:
            data = file.read(MAX_BYTES + 1)
        except OSError as error:
            raise ConfigError(f"cannot read the configuration: {error.strerror}", path=path) from None
    if len(data) > MAX_BYTES:
        raise ConfigError(f"the configuration is larger than {MAX_BYTES // 1024} KiB: is this a server.xml?",
                          path=path)
    return data


def read_tree(data: str | bytes, path: str) -> Node:
    """The tree of `data`, or ConfigError with the line of the first problem."""
    target = _TreeTarget()
    parser = DefusedXMLParser(target=target, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    target.expat = parser.parser
    parser.parser.buffer_text = False  # one data event per piece, so text lines are exact
    try:
        parser.feed(data)
        root = parser.close()
    except ParseError as error:
        reason = re.sub(r": line \d+, column \d+$", "", str(error))
        line, column = error.position
        raise ConfigError(
            f"not well-formed XML: {reason} (column {column + 1})", path=path, line=line
        ) from None
    except DefusedXmlException as error:
        raise ConfigError(
            f"<!DOCTYPE> and entity declarations are not allowed in server.xml ({type(error).__name__}): "
            "they are how XML bombs are built; remove them",
            path=path,
            line=target.expat.CurrentLineNumber,
        ) from None
    except (LookupError, ValueError) as error:  # an unknown or a multi-byte encoding in <?xml ...?>
        raise ConfigError(f"cannot read this encoding ({error}): save server.xml as UTF-8", path=path,
                          line=1) from None
    assert root is not None  # expat reports a document without an element as an error
    return root
