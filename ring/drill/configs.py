"""The server.xml a drill runs: a copy of the operator's, moved onto this machine.

A drill must not collide with a ring already running here (another drill, a developer's
cluster on the example's ports 17101-17104), so it never starts the file it was given. It reads
and validates that file, then writes a copy into its work directory that keeps every instance
(same ids, same order, same enabled flags) and every cluster-wide setting, but puts each instance
on a host this drill controls (127.0.0.1, or a network namespace's address) and a free port.
Instance ids are always written out explicitly, so an id that was derived from host:port in the
original stays the same although host and port changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from ring.config import ClusterConfig, ReplicationSettings, setting_defaults
from ring.drill.cluster import free_port
from ring.serverxml import REPLICATION_ELEMENTS, load_server_xml

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "data" / "default-server.xml"


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def settings_xml(settings: ReplicationSettings, overrides: Mapping[str, object] | None = None) -> list[str]:
    """The <session-replication> children for every setting that differs from its default.

    `overrides` maps element names (as in server.xml, e.g. "failure-timeout") to values.
    """
    defaults = setting_defaults()
    by_element = {e.name: e for e in REPLICATION_ELEMENTS}
    values: dict[str, object] = {}
    for element in REPLICATION_ELEMENTS:
        assert element.field is not None
        value = getattr(settings, element.field)
        if element.name == "port":
            continue  # every instance gets its own port below
        if value != defaults[element.field]:
            values[element.name] = value
    for name, value in (overrides or {}).items():
        if name not in by_element:
            raise ValueError(f"unknown <session-replication> element {name!r}")
        values[name] = value
    lines: list[str] = []
    for name, value in values.items():
        if value is None:
            continue
        items = value if isinstance(value, tuple | list) else [value]
        for item in items:
            lines.append(f"      <{name}>{escape(_text(item))}</{name}>")
    return lines


def render_server_xml(instances: Sequence[tuple[str, str, int, bool]], settings: ReplicationSettings,
                      overrides: Mapping[str, object] | None = None) -> str:
    """A server.xml for (id, host, port, enabled) instances in ring order."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           "<!-- written by ring drill: a local copy of the drilled cluster -->",
           "<server>", "  <cluster>"]
    for ident, host, port, enabled in instances:
        out.append("    <instance>")
        if not enabled:
            out.append("      <enabled>false</enabled>")
        out.append(f"      <host>{escape(host)}</host>")
        out.append("      <session-replication>")
        out.append(f"        <port>{port}</port>")
        out.append(f"        <instance-id>{escape(ident)}</instance-id>")
        out.append("      </session-replication>")
        out.append("    </instance>")
    body = settings_xml(settings, overrides)
    if body:
        out.append("    <session-replication>")
        out.extend(line for line in body)
        out.append("    </session-replication>")
    out += ["  </cluster>", "</server>", ""]
    return "\n".join(out)


def local_copy(source: str | Path, dest: str | Path, *, hosts: Mapping[str, str] | None = None,
               overrides: Mapping[str, object] | None = None) -> ClusterConfig:
    """Write the drill's copy of `source` to `dest` and return it, loaded and validated.

    Every instance moves to `hosts[id]` (default 127.0.0.1) on a free port of that host; disabled
    instances are kept (disabled) so the ring order is the operator's.
    """
    original = load_server_xml(str(source))
    rows = []
    taken: set[int] = set()
    for spec in original.instances:
        host = (hosts or {}).get(spec.id, "127.0.0.1")
        port = free_port("127.0.0.1")
        while port in taken:
            port = free_port("127.0.0.1")
        taken.add(port)
        rows.append((spec.id, host, port, spec.enabled))
    Path(dest).write_text(render_server_xml(rows, original.replication, overrides))
    return load_server_xml(str(dest))


def fast_settings(failure_timeout: float = 1.0, ping_interval: float = 0.25) -> dict[str, object]:
    """Overrides for short drills in tests: quicker detection, same relations as the defaults."""
    return {"failure-timeout": failure_timeout, "ping-interval": ping_interval}


def write_config(dest: str | Path, ids: Sequence[str], overrides: Mapping[str, object] | None = None) -> Path:
    """A fresh ring of `ids` on 127.0.0.1 (ports are placeholders: the drill rewrites them)."""
    rows = [(ident, "127.0.0.1", 17100 + i + 1, True) for i, ident in enumerate(ids)]
    Path(dest).write_text(render_server_xml(rows, dataclasses.replace(ReplicationSettings()), overrides))
    return Path(dest)
