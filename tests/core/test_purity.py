"""The core is pure: no module in ring/core imports I/O, clocks, threads or randomness (STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import ring.core

FORBIDDEN = frozenset({
    "asyncio", "grpc", "socket", "threading", "time", "random", "subprocess", "os", "select", "signal",
})
CORE = Path(ring.core.__file__).parent
MODULES = sorted(CORE.glob("*.py"))


def forbidden_imports(source: str, filename: str) -> list[str]:
    """Every `import X` / `from X import ...` whose top-level package is forbidden, with its line."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            if name.split(".")[0] in FORBIDDEN:
                found.append(f"{filename}:{node.lineno}: imports {name}")
    return found


def test_the_core_has_modules() -> None:
    assert {"node.py", "membership.py", "replication.py", "store.py"} <= {p.name for p in MODULES}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_core_module_imports_nothing_impure(path: Path) -> None:
    assert forbidden_imports(path.read_text(), path.name) == []


@pytest.mark.parametrize("snippet", [
    "import time", "import os.path", "from asyncio import sleep", "import grpc.aio as g",
    "def f():\n    import random", "from threading import Lock", "import socket, json",
])
def test_the_checker_catches_impure_imports(snippet: str) -> None:
    assert forbidden_imports(snippet, "x.py")


@pytest.mark.parametrize("snippet", ["import dataclasses", "from .time_utils import x", "import timeit"])
def test_the_checker_allows_pure_imports(snippet: str) -> None:
    assert forbidden_imports(snippet, "x.py") == []
