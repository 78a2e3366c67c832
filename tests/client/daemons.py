"""Real `ring serve` daemons with a local socket, for the client and adapter tests.

A module with its own name (not conftest.py), as tests/integration/integration_helpers.py. Each
ring gets its own short directory (a Unix socket path must stay under ~100 bytes) and free ports;
every process is killed and waited for whatever the test did. Waiting is polling with a deadline.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from ring.core.topology import is_single_cycle
from ring.drill.cluster import free_port, poll
from ring.io.statusclient import collect
from ring.serverxml import load_server_xml

DEADLINE = 20.0


def socket_answers(path: str) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(0.5)
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


class Browser:
    """One user: a cookie jar, one connection per call; JSON answers decoded when 200."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def call(self, port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        data = b"" if body is None else json.dumps(body).encode()
        headers = {"Content-Length": str(len(data))}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            answer = response.read()
            for header in response.msg.get_all("Set-Cookie") or []:
                name, _, value = header.split(";", 1)[0].partition("=")
                if "expires=thu, 01 jan 1970" in header.lower() or "max-age=0" in header.lower():
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = value
            return response.status, (json.loads(answer) if response.status == 200 else answer)
        finally:
            conn.close()


REPO = Path(__file__).resolve().parents[2]


class WebServer:
    """A web server of one host (gunicorn or uvicorn, a master and its workers) on a free port, in
    a process group of its own; up once GET `ready_path` answers `ready_status`."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path, ready_path: str,
                 ready_status: int = 200) -> None:
        self.port = free_port()
        self._ready = (ready_path, ready_status)
        with open(log, "ab") as out:
            self.proc = subprocess.Popen([a.replace("{port}", str(self.port)) for a in argv], cwd=REPO, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, **env})
        assert poll(self._up, DEADLINE), log.read_text()

    def _up(self) -> bool:
        try:
            return Browser().call(self.port, "GET", self._ready[0])[0] == self._ready[1]
        except OSError:
            return False

    def kill(self) -> None:
        """kill -9 the master and its workers (the process group this test started)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


class Ring:
    """A ring of `ids` on loopback, each instance serving a local socket `<dir>/<id>.sock`."""

    def __init__(self, ids: tuple[str, ...] = ("a",), **settings: str) -> None:
        self.ids = ids
        self.dir = Path(tempfile.mkdtemp(prefix="ring"))
        fast = {"ping-interval": "0.25", "failure-timeout": "1", "request-timeout": "5", **settings}
        instances = "".join(f"""
    <instance><host>127.0.0.1</host>
      <session-replication><port>{free_port()}</port><instance-id>{i}</instance-id></session-replication>
    </instance>""" for i in ids)
        elements = "".join(f"<{k}>{v}</{k}>" for k, v in fast.items())
        self.config = self.dir / "server.xml"
        self.config.write_text(f"""<?xml version="1.0"?>
<server><cluster>{instances}
  <session-replication>{elements}<local-socket>{{id}}.sock</local-socket></session-replication>
</cluster></server>
""")
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def socket(self, instance: str) -> str:
        return str(self.dir / f"{instance}.sock")

    def start(self, instance: str) -> None:
        log = open(self.dir / f"{instance}.log", "ab")
        self.procs[instance] = subprocess.Popen(
            [sys.executable, "-m", "ring", "serve", "--config", str(self.config), "--local-host", instance],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        log.close()
        assert poll(lambda: socket_answers(self.socket(instance)) or self.procs[instance].poll() is not None,
                    DEADLINE), f"instance {instance} did not open its socket"
        assert self.procs[instance].poll() is None, self.log(instance)

    def kill(self, instance: str) -> None:
        proc = self.procs.pop(instance)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def healed(self) -> bool:
        """Every running instance answers its status, alive and not resyncing, in one cycle."""
        rows = {r["id"]: r for r in collect(load_server_xml(str(self.config)), 0.5)}
        if any(rows[i]["state"] != "alive" or rows[i]["resyncing"] for i in self.procs):
            return False
        return is_single_cycle({i: rows[i]["successor"] for i in self.procs})

    def log(self, instance: str) -> str:
        path = self.dir / f"{instance}.log"
        return path.read_text() if path.exists() else ""

    def __enter__(self) -> Ring:
        try:
            for i in self.ids:
                self.start(i)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.procs.clear()
        shutil.rmtree(self.dir, ignore_errors=True)
