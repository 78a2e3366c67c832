"""A local cluster of real `ring serve` processes, for drills, integration tests and benchmarks.

`LocalCluster(config_path, workdir)` starts every enabled instance of a server.xml as its own
process, hosting the demo app on a free loopback HTTP port, each with a log file and an event log
(JSON lines with monotonic timestamps). Faults are real: SIGKILL, SIGSTOP/SIGCONT, restart, all
sent through one helper that signals the instance's process group. Waiting is always polling with
a deadline. `close()` (or leaving the `with` block) stops every process it started, whatever
happened. `StatusWatcher` polls the instances' status (ring.io.statusclient) in the background.
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
from ring.core.topology import is_single_cycle
from ring.drill.hygiene import Repeating
from ring.errors import TransportError
from ring.io.statusclient import collect
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

    def _signal(self, name: str, sig: signal.Signals) -> float:
        """Signal the instance's whole process group (its own session): with a command prefix
        (faketime) the ring process is a child of the one Popen started, and must get it too.
        Keeps `paused` true to what was sent; returns the monotonic time of the signal."""
        inst = self.instances[name]
        assert inst.proc is not None, f"{name} was never started"
        sent = time.monotonic()
        try:
            os.killpg(inst.proc.pid, sig)
        except ProcessLookupError:
            pass  # the group is gone already: every process of it has ended
        if sig == signal.SIGSTOP:
            inst.paused = True
        elif sig in (signal.SIGCONT, signal.SIGKILL):
            inst.paused = False
        return sent

    def _wake(self, name: str) -> None:
        """SIGCONT a paused instance first: a stopped process would not act on SIGTERM."""
        if self.instances[name].paused:
            self._signal(name, signal.SIGCONT)

    def kill(self, name: str) -> float:
        """SIGKILL; returns the monotonic time of the kill."""
        killed = self._signal(name, signal.SIGKILL)
        proc = self.instances[name].proc
        assert proc is not None
        proc.wait(10)
        return killed

    def pause(self, name: str) -> float:
        """SIGSTOP; returns the monotonic time of the pause."""
        return self._signal(name, signal.SIGSTOP)

    def resume(self, name: str) -> float:
        """SIGCONT; returns the monotonic time of the resumption."""
        return self._signal(name, signal.SIGCONT)

    def terminate(self, name: str, timeout: float = 10.0) -> int | None:
        """SIGTERM (a clean stop); returns the exit code."""
        proc = self.instances[name].proc
        if proc is None:
            return None
        self._wake(name)
        self._signal(name, signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal(name, signal.SIGKILL)
            return proc.wait(5)

    def close(self) -> None:
        for name, inst in self.instances.items():
            if inst.running:
                self._wake(name)
                self._signal(name, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for name, inst in self.instances.items():
            if inst.proc is not None:
                try:
                    inst.proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self._signal(name, signal.SIGKILL)
                    inst.proc.wait(5)

    # ------------------------------------------------------------ observation

    def status(self, timeout: float = 1.0) -> list[dict[str, Any]]:
        """One row per instance (ring.io.statusclient): state, successor, what it holds."""
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
        return is_single_cycle({n: rows[n]["successor"] for n in running})


class StatusWatcher:
    """Polls the status of a cluster in the background: the newest rows, and the most unreplicated
    writes each process (instance and incarnation) reported.

    An instance that does not answer is a row, not an error; an unreadable TLS file is logged at
    debug and polled again; anything else is a bug and `stop()` raises it.
    """

    def __init__(self, cluster: LocalCluster, interval: float = 0.5) -> None:
        self.cluster = cluster
        self.rows: list[dict[str, Any]] = []
        self._unreplicated: dict[tuple[str, int], int] = {}
        self._loop = Repeating("drill-status", self.poll_once, interval, expected=(TransportError, OSError),
                               immediately=True)

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop(5.0)

    def poll_once(self) -> None:
        rows = self.cluster.status(0.3)
        self.rows = rows
        for r in rows:
            if r["state"] == "alive" and r.get("unreplicated_writes") is not None:
                key = (r["id"], r["incarnation"])
                self._unreplicated[key] = max(self._unreplicated.get(key, 0), int(r["unreplicated_writes"]))

    @property
    def unreplicated(self) -> int:
        return sum(self._unreplicated.values())
