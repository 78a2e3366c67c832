"""Row 7: the ASGI app over HTTP, ring against redis.asyncio (hiredis) on the same ASGI server.

The app is bench/asgi_app.py (Starlette, POST /incr under ring.asgi.SessionMiddleware); every
server is uvicorn with uvloop and httptools and no access log. Two pairs, each compared inside
itself:

    hosted         `ring serve --asgi bench.asgi_app:app` as instance a (the engine on uvicorn's
                   loop) plus instance b, a process, as its backup: each response waits for b's ack
    hosted-redis   `python -m bench.asgi_app --backend redis`: the same uvicorn set-up in one
                   process, GET + SET per request on a redis-server of its own, no replica
    workers        `uvicorn --workers W --factory bench.asgi_app:workers_app`, each worker's
                   middleware on the async local client to a `ring serve` daemon (a, with b as
                   its backup) over the daemon's Unix socket
    workers-redis  the same `uvicorn --workers W`, sessions through redis.asyncio

Load: wrk from Debian for every row (C connections on C threads, one session per connection made
beforehand, POST /incr for S seconds, after a 1 s warm-up of each server). Without wrk, the Python
load generator of row 3 (bench/web.py: C keep-alive users, --ops requests) for every row, and the
report says so. CPU is the servers' and stores' (/proc, workers included), per request.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.asgi_http import LUA, make_sessions, run_wrk
from bench.measure import Op, run_threads
from bench.procs import Procs, check_exited, listens_on, wait_http, with_children, write_server_xml
from bench.web import User
from ring.drill.cluster import free_port, poll

HOST = "127.0.0.1"
VARIANTS = {
    "hosted": "`ring serve --asgi` (engine on uvicorn's loop, replicated to a backup process)",
    "hosted-redis": "redis.asyncio (hiredis) sessions, the same uvicorn in one process",
    "workers": "uvicorn --workers {w}, async local client to a `ring serve` daemon (replicated)",
    "workers-redis": "uvicorn --workers {w}, redis.asyncio (hiredis) sessions",
}
BASELINE = {"hosted": "hosted-redis", "workers": "workers-redis"}  # the Redis row on the same server


def load_generator(choice: str) -> str:
    """'wrk' or 'python': auto picks wrk when it is installed."""
    if choice == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if choice == "wrk" and shutil.which("wrk") is None:
        raise RuntimeError("--asgi-load wrk: wrk not found (scripts/install-system-deps bench installs it)")
    return choice


class AsgiRig:
    """The four servers (with their ring instances and the Redis they use), up for the whole run."""

    def __init__(self, procs: Procs, workdir: Path, redis_port: int, redis_pid: int, *, workers: int,
                 connections: int, load: str) -> None:
        self.procs, self.connections, self.load = procs, connections, load
        self.sockets = Path(tempfile.mkdtemp(prefix="ringb"))  # short: a Unix socket path has ~100 bytes
        self.ports: dict[str, int] = {}
        self.pids: dict[str, list[int]] = {}
        self.scripts: dict[str, Path] = {}
        py = sys.executable

        taken: set[int] = set()

        def new_port() -> int:  # distinct from every port this rig picked: none is bound yet
            while (port := free_port()) in taken:
                pass
            taken.add(port)
            return port

        hosted = workdir / "asgi-hosted.xml"
        taken.update(write_server_xml(hosted, ["a", "b"]).values())
        port = self.ports["hosted"] = new_port()
        b = procs.spawn("asgi-hosted-b", [py, "-m", "ring", "serve", "--config", str(hosted), "--local-host", "b"])
        a = procs.spawn("asgi-hosted-a", [py, "-m", "ring", "serve", "--config", str(hosted), "--local-host", "a",
                                          "--asgi", "bench.asgi_app:app", "--http", f"{HOST}:{port}"])
        self.pids["hosted"] = [a.pid, b.pid]
        waits = [("hosted", a, "asgi-hosted-a", "/readyz")]

        port = self.ports["hosted-redis"] = new_port()
        app = procs.spawn("asgi-hosted-redis", [py, "-m", "bench.asgi_app", "--backend", "redis", "--http",
                                                f"{HOST}:{port}", "--redis-port", str(redis_port)])
        self.pids["hosted-redis"] = [app.pid, redis_pid]
        waits.append(("hosted-redis", app, "asgi-hosted-redis", "/livez"))

        daemons = workdir / "asgi-daemons.xml"
        taken.update(write_server_xml(daemons, ["a", "b"]).values())
        sock = str(self.sockets / "a.sock")
        da = procs.spawn("asgi-daemon-a", [py, "-m", "ring", "serve", "--config", str(daemons), "--local-host", "a",
                                           "--local-socket", sock])
        db = procs.spawn("asgi-daemon-b", [py, "-m", "ring", "serve", "--config", str(daemons), "--local-host", "b"])
        if not poll(lambda: Path(sock).exists() or da.poll() is not None, 30):
            raise RuntimeError(f"asgi-daemon-a opened no socket; see {procs.logdir / 'asgi-daemon-a.log'}")
        check_exited(da, "asgi-daemon-a", procs.logdir)
        self.masters: dict[str, int] = {}
        self._servers: list[subprocess.Popen[bytes]] = []
        for name, env in (("workers", {"RING_BENCH_SESSIONS": "local", "RING_SOCKET": sock}),
                          ("workers-redis", {"RING_BENCH_SESSIONS": "redis", "RING_BENCH_REDIS_PORT": str(redis_port)})):
            port = self.ports[name] = new_port()
            master = procs.spawn(f"asgi-{name}", [py, "-m", "uvicorn", "--workers", str(workers), "--host", HOST,
                                                  "--port", str(port), "--factory", "bench.asgi_app:workers_app",
                                                  "--loop", "auto", "--http", "auto", "--no-access-log",
                                                  "--no-server-header", "--log-level", "warning"], env=env)
            self.masters[name] = master.pid
            self._servers.append(master)
            waits.append((name, master, f"asgi-{name}", "/livez"))
        for name, proc, label, path in waits:
            wait_http(HOST, self.ports[name], path, proc, label, procs.logdir, timeout=60)
        for name, proc, label, _ in waits:  # the answer came from our server, not one that took its port
            if not listens_on(proc.pid, self.ports[name]):
                check_exited(proc, label, procs.logdir)
                raise RuntimeError(f"port {self.ports[name]} of {label} is another process's; run again")
        self.pids["workers"] = [da.pid, db.pid]
        self.pids["workers-redis"] = [redis_pid]

        if load == "wrk":
            for name, port in self.ports.items():
                cookies = make_sessions(port, connections)
                self.scripts[name] = workdir / f"asgi-{name}.lua"
                self.scripts[name].write_text(LUA % ", ".join(json.dumps(c) for c in cookies))
                run_wrk(port, self.scripts[name], connections, 1.0, self.cpu_pids(name))  # warm-up

    def cpu_pids(self, variant: str) -> list[int]:
        """The processes whose CPU a request of variant costs: servers (a master and its workers) and stores."""
        master = self.masters.get(variant)
        return [*(with_children(master) if master else ()), *self.pids[variant]]

    def row(self, variant: str, seconds: float, requests: int, warmup: int) -> dict[str, Any]:
        if self.load == "wrk":
            r = run_wrk(self.ports[variant], self.scripts[variant], self.connections, seconds,
                        self.cpu_pids(variant))
            return {"ops_s": r["rps"], "p50_us": r["p50_us"], "p99_us": r["p99_us"], "requests": r["requests"],
                    "cpu_server_us_op": r["cpu_us_per_req"] or 0, "errors": r["non_2xx"] + r["socket_errors"],
                    "connections": self.connections}
        stats = {"errors": 0, "lost": 0}
        made: list[User] = []

        def make(w: int, n: int) -> Op:
            user = User(self.ports[variant], stats)
            made.append(user)
            return user.incr

        try:
            m = run_threads(self.connections, requests, max(warmup, self.connections), make,
                            self.cpu_pids(variant)).metrics()
        finally:
            for u in made:
                u.close()
        return {**m, **stats, "requests": m["ops"], "connections": self.connections}

    def close(self) -> None:
        """Stop the uvicorn masters (they stop their workers), then any worker left in their process
        groups (each master leads its own); Procs stops the rest."""
        self.procs.stop(self._servers)
        for master in self._servers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(master.pid, signal.SIGKILL)
        shutil.rmtree(self.sockets, ignore_errors=True)
