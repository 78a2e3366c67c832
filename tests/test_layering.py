"""The layers of ring/, read from the code's imports (every import, function-local ones too).

    ring.core      imports nothing outside ring.core and the standard library (no I/O, no clock)
    ring.web       imports only ring.backend, ring.errors and itself: never the engine
    ring.io        never imports ring.web (nor the composition roots above it)
    ring.client    imports only ring.backend, ring.errors, itself, the standard library and msgspec
    ring.flask,    (the framework adapters) import the web side, the client, the port and the
    ring.django,   errors, never the engine (ring.core, ring.io, ring.host)
    ring.asgi
    ring.commands  is imported by ring.cli only
    no cycles      anywhere in ring/ (a package counts as its __init__)

Each rule is checked by a function that the last tests prove can fail on a bad graph.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import ring

ROOT = Path(ring.__file__).parent
GENERATED = "ring.io._proto"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str], me: str | None = None) -> set[str]:
    """The modules `path` imports: ring modules by name, others by their top-level package."""
    me = me or module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:  # `from ring.core import messages` imports a module
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in modules else base)
    return {_owner(name, modules) for name in found if not name.startswith(GENERATED)}


def _owner(name: str, modules: set[str]) -> str:
    """The module of ring that `name` lies in (ring.core.events.Send -> ring.core.events)."""
    while name not in modules and "." in name:
        name = name.rpartition(".")[0]
    return name


def import_graph() -> dict[str, set[str]]:
    paths = [p for p in ROOT.rglob("*.py") if "_proto" not in p.parts]
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports_of(p, modules) - {module_name(p)} for p in paths}


def core_violations(graph: dict[str, set[str]]) -> list[str]:
    stdlib = sys.stdlib_module_names
    return [f"{m} imports {i}" for m, deps in graph.items() if m.startswith("ring.core") for i in deps
            if not (i.startswith("ring.core") or i.split(".")[0] in stdlib or i == "__future__")]


def web_violations(graph: dict[str, set[str]]) -> list[str]:
    allowed = ("ring.web", "ring.backend", "ring.errors")
    return [f"{m} imports {i}" for m, deps in graph.items() if m.startswith("ring.web") for i in deps
            if i.startswith("ring") and not i.startswith(allowed)]


def io_violations(graph: dict[str, set[str]]) -> list[str]:
    above = ("ring.web", "ring.host", "ring.commands", "ring.drill", "ring.cli")
    return [f"{m} imports {i}" for m, deps in graph.items() if m.startswith("ring.io") for i in deps
            if i.startswith(above)]


def client_violations(graph: dict[str, set[str]]) -> list[str]:
    stdlib = sys.stdlib_module_names
    allowed = ("ring.client", "ring.backend", "ring.errors")
    return [f"{m} imports {i}" for m, deps in graph.items() if m.startswith("ring.client") for i in deps
            if not (i.startswith(allowed) or i.split(".")[0] in stdlib or i in ("__future__", "msgspec"))]


def adapter_violations(graph: dict[str, set[str]]) -> list[str]:
    engine = ("ring.core", "ring.io", "ring.host", "ring.commands", "ring.drill", "ring.cli")
    return [f"{m} imports {i}" for m, deps in graph.items() if m.startswith(("ring.flask", "ring.django", "ring.asgi"))
            for i in deps if any(i == e or i.startswith(e + ".") for e in engine)]


def command_violations(graph: dict[str, set[str]]) -> list[str]:
    return [f"{m} imports {i}" for m, deps in graph.items() for i in deps
            if i.startswith("ring.commands") and not (m == "ring.cli" or m.startswith("ring.commands"))]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), plus self-loops."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


GRAPH = import_graph()


def test_the_graph_is_read() -> None:
    assert "ring.core.node" in GRAPH and "ring.core.membership" in GRAPH["ring.core.node"]
    assert "ring.backend" in GRAPH["ring.web.wsgi"]


def test_the_core_imports_nothing_outside_the_core_and_the_standard_library() -> None:
    assert core_violations(GRAPH) == []


def test_the_web_side_never_imports_the_engine() -> None:
    assert web_violations(GRAPH) == []


def test_the_shell_never_imports_the_web_side() -> None:
    assert io_violations(GRAPH) == []


def test_the_client_imports_only_the_port_the_errors_and_its_protocol_library() -> None:
    assert "ring.client.sync" in GRAPH
    assert client_violations(GRAPH) == []


def test_the_framework_adapters_never_import_the_engine() -> None:
    assert adapter_violations(GRAPH) == []


def test_only_the_cli_imports_the_commands() -> None:
    assert command_violations(GRAPH) == []


def test_there_are_no_import_cycles() -> None:
    assert cycles(GRAPH) == []


# ---------------------------------------------------------------- the checks can fail

@pytest.mark.parametrize("check, bad", [
    (core_violations, {"ring.core.node": {"ring.io.runtime"}}),
    (core_violations, {"ring.core.node": {"grpc"}}),
    (web_violations, {"ring.web.wsgi": {"ring.io.facade"}}),
    (web_violations, {"ring.web.wsgi": {"ring.config"}}),
    (io_violations, {"ring.io.metrics": {"ring.web.session"}}),
    (command_violations, {"ring.drill.cluster": {"ring.commands.status"}}),
    (client_violations, {"ring.client.sync": {"ring.web.session"}}),
    (client_violations, {"ring.client.aio": {"grpc"}}),
    (adapter_violations, {"ring.flask": {"ring.io.facade"}}),
])
def test_each_rule_catches_a_forbidden_import(check: object, bad: dict[str, set[str]]) -> None:
    assert check(bad)  # type: ignore[operator]


def test_the_cycle_check_catches_a_cycle() -> None:
    assert cycles({"x": {"y"}, "y": {"z"}, "z": {"x"}, "w": {"x"}}) == [["x", "y", "z"]]
    assert cycles({"x": {"y"}, "y": set()}) == []


def test_function_local_imports_count(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    import ring.io.runtime\n    from ring.core import messages\n")
    modules = {"ring.io.runtime", "ring.core", "ring.core.messages", "ring.web.probe"}
    assert imports_of(source, modules, "ring.web.probe") == {"ring.io.runtime", "ring.core.messages"}
