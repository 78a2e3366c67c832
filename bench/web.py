"""Row 3: the demo app end to end over HTTP, by session store.

Every variant is the same WSGI stack (ring.demo:app under SessionMiddleware, waitress with the
same number of threads, in its own process); only where sessions go differs:

    ring        `ring serve --app ring.demo:app --http` as instance a, plus instance b (a process)
                as its backup: every response waits for b's acknowledgement
    redis       bench.webapp with RedisSessionBackend on the standalone redis-server (SET)
    redis-wait  the same with SET + WAIT 1 against the primary that has one replica
    memory      bench.webapp with ring.web.memory.MemoryBackend: a dict in the server process
                (no store outside the process, nothing replicated: the floor of the stack)

The load generator is this process: N users, each a thread with one keep-alive http.client
connection and its own cookies, doing POST /incr in a loop. Each user's first request (in the
warm-up) creates its session; every later answer must carry the next count (checked: a lost
increment is counted).
"""

from __future__ import annotations

import http.client
import json
import sys
from pathlib import Path
from typing import Any

from bench.measure import Op, run_threads
from bench.procs import Procs, wait_http, write_server_xml
from bench.saves import RedisRig
from ring.drill.cluster import free_port

HOST = "127.0.0.1"
VARIANTS = {
    "ring": "ring serve (replicated to a backup process, sync)",
    "redis": "Redis-backed sessions (SET, no replica wait)",
    "redis-wait": "Redis-backed sessions, SET + WAIT 1 (1 replica)",
    "memory": "in-process dict (ring.web.memory.MemoryBackend), no remote store",
}


class User:
    """One browser: a keep-alive connection, a cookie jar, and the count it expects."""

    def __init__(self, port: int, stats: dict[str, int]) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=30)
        self.cookies: dict[str, str] = {}
        self.count = 0
        self.stats = stats

    def incr(self, _i: int) -> None:
        headers = {"Content-Length": "0"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.conn.request("POST", "/incr", body=b"", headers=headers)
        response = self.conn.getresponse()
        body = response.read()
        if response.status != 200:
            self.stats["errors"] += 1
            return
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            cookie_value = rest.split(";", 1)[0]
            if "Max-Age=0" in rest:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = cookie_value
        self.count += 1
        if json.loads(body).get("count") != self.count:
            self.stats["lost"] += 1
            self.count = int(json.loads(body).get("count", 0))

    def close(self) -> None:
        self.conn.close()


class WebRig:
    """The four HTTP servers (and the ring backup), up for the whole run."""

    def __init__(self, procs: Procs, workdir: Path, redis: RedisRig, threads: int,
                 variants: tuple[str, ...] = tuple(VARIANTS)) -> None:
        self.threads = threads
        self.ports: dict[str, int] = {}
        self.pids: dict[str, list[int]] = {}
        waits = []
        for v in variants:
            port = self.ports[v] = free_port()
            if v == "ring":
                config = workdir / "http-ring.xml"
                write_server_xml(config, ["a", "b"])
                a = procs.ring_serve("http-ring-a", config, "a", http=f"{HOST}:{port}", threads=threads)
                b = procs.ring_serve("http-ring-b", config, "b")
                self.pids[v] = [a.pid, b.pid]
                waits.append((v, a, "http-ring-a"))
                continue
            argv = [sys.executable, "-m", "bench.webapp", "--backend", v, "--http", f"{HOST}:{port}",
                    "--threads", str(threads)]
            store: list[int] = []
            if v == "redis":
                argv += ["--redis-port", str(redis.plain.port)]
                store = [redis.plain.pid]
            elif v == "redis-wait":
                argv += ["--redis-port", str(redis.primary.port)]
                store = [redis.primary.pid, redis.replica.pid]
            proc = procs.spawn(f"http-{v}", argv)
            self.pids[v] = [proc.pid, *store]
            waits.append((v, proc, f"http-{v}"))
        for v, proc, name in waits:
            wait_http(HOST, self.ports[v], "/readyz", proc, name, procs.logdir, timeout=60)

    def row(self, variant: str, users: int, requests: int, warmup: int) -> dict[str, Any]:
        stats = {"errors": 0, "lost": 0}
        made: list[User] = []

        def make(w: int, n: int) -> Op:
            user = User(self.ports[variant], stats)
            made.append(user)
            return user.incr

        try:
            m = run_threads(users, requests, max(warmup, users), make, self.pids[variant]).metrics()
        finally:
            for u in made:
                u.close()
        return {**m, **stats, "users": users, "threads": self.threads}
