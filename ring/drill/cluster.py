"""A local cluster of real `ring serve` processes, for drills, integration tests and benchmarks.

`LocalCluster(config_path, workdir)` starts every enabled instance of a server.xml as its own
process, hosting the demo app on a free loopback HTTP port, each with a log file and an event log
(JSON lines with monotonic timestamps). Faults are real: SIGKILL, SIGSTOP/SIGCONT, restart.
Waiting is always polling with a deadline. `close()` (or leaving the `with` block) stops every
process it started, whatever happened.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ring.config import ClusterConfig
from ring.serverxml import load_server_xml


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def poll(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """True as soon as `condition()` holds; False when `timeout` seconds passed without it."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


@dataclass
class Instance:
    id: str
    http_host: str
    http_port: int
    log_path: Path
    event_path: Path
    proc: subprocess.Popen[bytes] | None = None
    paused: bool = False
    starts: int = 0
    prefix: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.http_host}:{self.http_port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class LocalCluster:
    def __init__(self, config_path: str | Path, workdir: str | Path, *, app: str = "ring.demo:app",
                 python: str = sys.executable, env: dict[str, str] | None = None,
                 http_host: str = "127.0.0.1") -> None:
        self.config_path = str(config_path)
        self.config: ClusterConfig = load_server_xml(self.config_path)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.app = app
        self.python = python
        self.env = {**os.environ, **(env or {})}
        self.instances: dict[str, Instance] = {}
        for name in self.config.ring:
            host = self.config.instance(name).host if http_host == "instance" else http_host
            safe = name.replace(":", "_").replace("/", "_")
            self.instances[name] = Instance(
                name, host, free_port(host if host != "0.0.0.0" else "127.0.0.1"),
                self.workdir / f"{safe}.log", self.workdir / f"{safe}.events")

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def command(self, name: str) -> list[str]:
        inst = self.instances[name]
        return [*inst.prefix, self.python, "-m", "ring", "serve", "--config", self.config_path,
                "--local-host", name, "--app", self.app, "--http", f"{inst.http_host}:{inst.http_port}",
                "--event-log", str(inst.event_path)]

    def start(self, name: str, *, prefix: Sequence[str] = (), env: dict[str, str] | None = None) -> None:
        inst = self.instances[name]
        assert not inst.running, f"{name} is already running"
        inst.prefix = list(prefix)
        inst.starts += 1
        log = open(inst.log_path, "ab")  # noqa: SIM115 - handed to the child
        inst.proc = subprocess.Popen(self.command(name), stdout=log, stderr=subprocess.STDOUT,
                                     env={**self.env, **(env or {})}, start_new_session=True)
        log.close()
        inst.paused = False

    def start_all(self, timeout: float = 30.0) -> None:
        for name in self.instances:
            self.start(name)
        for name in self.instances:
            if not self.wait_ready(name, timeout):
                raise RuntimeError(f"instance {name} did not become ready; see {self.instances[name].log_path}")

    def wait_ready(self, name: str, timeout: float) -> bool:
        return poll(lambda: self.ready(name), timeout)

    def ready(self, name: str) -> bool:
        inst = self.instances[name]
        if not inst.running:
            return False
        try:
            with urllib.request.urlopen(inst.url + "/readyz", timeout=0.5) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    @staticmethod
    def _signal(inst: Instance, sig: int) -> None:
        """Signal the instance's whole process group (its own session): with a command prefix
        (faketime) the ring process is a child of the one Popen started, and must get it too."""
        assert inst.proc is not None
        try:
            os.killpg(inst.proc.pid, sig)
        except ProcessLookupError:
            pass

    def kill(self, name: str) -> float:
        """SIGKILL; returns the monotonic time of the kill."""
        inst = self.instances[name]
        assert inst.proc is not None
        t = time.monotonic()
        self._signal(inst, signal.SIGKILL)
        inst.proc.wait(10)
        inst.paused = False
        return t

    def pause(self, name: str) -> float:
        inst = self.instances[name]
        assert inst.proc is not None
        t = time.monotonic()
        self._signal(inst, signal.SIGSTOP)
        inst.paused = True
        return t

    def resume(self, name: str) -> float:
        inst = self.instances[name]
        assert inst.proc is not None
        t = time.monotonic()
        self._signal(inst, signal.SIGCONT)
        inst.paused = False
        return t

    def terminate(self, name: str, timeout: float = 10.0) -> int | None:
        """SIGTERM (a clean stop); returns the exit code."""
        inst = self.instances[name]
        if inst.proc is None:
            return None
        if inst.paused:
            self._signal(inst, signal.SIGCONT)
            inst.paused = False
        self._signal(inst, signal.SIGTERM)
        try:
            return inst.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal(inst, signal.SIGKILL)
            return inst.proc.wait(5)

    def close(self) -> None:
        for inst in self.instances.values():
            if inst.proc is not None and inst.proc.poll() is None:
                if inst.paused:
                    self._signal(inst, signal.SIGCONT)
                    inst.paused = False
                self._signal(inst, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for inst in self.instances.values():
            if inst.proc is not None:
                try:
                    inst.proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self._signal(inst, signal.SIGKILL)
                    inst.proc.wait(5)

    # ------------------------------------------------------------ observation

    def status(self, timeout: float = 1.0) -> list[dict[str, Any]]:
        from ring.commands.status import collect

        return collect(self.config, timeout)

    def events(self) -> list[dict[str, Any]]:
        """Every instance's ring events, merged in monotonic order."""
        out: list[dict[str, Any]] = []
        for inst in self.instances.values():
            if inst.event_path.exists():
                for line in inst.event_path.read_text().splitlines():
                    try:
                        out.append(json.loads(line))
                    except json.JSONDecodeError:
                        continue
        return sorted(out, key=lambda e: e.get("mono", 0.0))

    def ring_healed(self) -> bool:
        """Every running instance answers, they agree on one cycle, and nothing is resyncing."""
        rows = {r["id"]: r for r in self.status(0.5)}
        running = [n for n, i in self.instances.items() if i.running and not i.paused]
        if any(rows[n]["state"] != "alive" or rows[n]["resyncing"] for n in running):
            return False
        succ = {n: rows[n]["successor"] for n in running}
        from ring.core.topology import is_single_cycle

        return is_single_cycle(succ)
