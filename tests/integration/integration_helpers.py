"""Helpers for the integration tests: real `ring serve` processes on loopback.

(A module with its own name, not conftest.py: `from conftest import` would depend on which of the
suite's conftest modules pytest imported last.)

Every test builds its own server.xml (free replication ports, fast failure detection) in its
tmp_path and runs its cluster as a context manager, so tests never collide with each other or with
a running drill, and every process is stopped whatever happens. Waiting is polling with a deadline.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ring.drill.cluster import LocalCluster, free_port, poll

# Fast failure detection for tests: a dead peer is declared within about a second.
FAST = {"ping-interval": "0.25", "failure-timeout": "1", "request-timeout": "5"}
DEADLINE = 20.0  # seconds any single condition may take before a test gives up


def write_config(directory: Path, ids: tuple[str, ...] = ("a", "b", "c", "d"), *,
                 name: str = "server.xml", host: str = "127.0.0.1", admin: bool = False,
                 **settings: str) -> Path:
    """A server.xml for a ring of `ids` on `host`, each on a free port (and a free admin port
    with `admin`); `settings` are <session-replication> elements (underscores become dashes), on
    top of FAST."""
    def admin_http() -> str:
        return f"<admin-http>{host}:{free_port()}</admin-http>" if admin else ""

    instances = "".join(
        f"""
    <instance>
      <host>{host}</host>
      <session-replication><port>{free_port()}</port><instance-id>{i}</instance-id>{admin_http()}</session-replication>
    </instance>""" for i in ids)
    merged = {**FAST, **{k.replace("_", "-"): v for k, v in settings.items()}}
    elements = "".join(f"\n      <{k}>{v}</{k}>" for k, v in merged.items())
    path = directory / name
    path.write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<server>
  <cluster>{instances}
    <session-replication>{elements}
    </session-replication>
  </cluster>
</server>
""")
    return path


class Browser:
    """One user: a cookie jar of its own, sending requests to whichever instance it is told."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def request(self, base_url: str, method: str, path: str, body: bytes | None = None,
                timeout: float = 15.0) -> tuple[int, bytes]:
        host_port = base_url.removeprefix("http://")
        conn = http.client.HTTPConnection(host_port, timeout=timeout)
        headers = {"Content-Length": str(len(body or b""))}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            conn.request(method, path, body=body or b"", headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            for header in resp.msg.get_all("Set-Cookie") or []:
                self._remember(header)
            return resp.status, data
        finally:
            conn.close()

    def _remember(self, header: str) -> None:
        first, *attributes = header.split(";")
        name, _, value = first.strip().partition("=")
        if any(a.strip().lower() == "max-age=0" for a in attributes):
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value

    def json(self, base_url: str, method: str, path: str, body: bytes | None = None) -> dict[str, Any]:
        status, data = self.request(base_url, method, path, body)
        assert status == 200, f"{method} {path} at {base_url}: {status} {data!r}"
        result: dict[str, Any] = json.loads(data)
        return result

    def incr(self, base_url: str) -> int:
        return int(self.json(base_url, "POST", "/incr")["count"])

    def count(self, base_url: str) -> int | None:
        data = self.json(base_url, "GET", "/session")["data"]
        return data.get("count")


def ring_status_json(config: str | Path) -> list[dict[str, Any]]:
    """`ring status --config FILE --json`, run as an operator would."""
    out = subprocess.run([sys.executable, "-m", "ring", "status", "--config", str(config), "--json"],
                         capture_output=True, text=True, timeout=30, check=True)
    rows: list[dict[str, Any]] = json.loads(out.stdout)["instances"]
    return rows


def wait_for(condition: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    assert poll(condition, timeout, 0.05), f"timed out after {timeout} s waiting for: {what}"


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in rows}


def assert_no_tracebacks(cluster: LocalCluster) -> None:
    """Whatever the test did to them, the instances logged no traceback (expected failures are
    one log line each)."""
    for inst in cluster.instances.values():
        if inst.log_path.exists():
            log = inst.log_path.read_text()
            assert "Traceback" not in log, f"traceback in {inst.log_path}:\n{log[log.index('Traceback') - 300:][:3000]}"
