"""Flask under `gunicorn -w 4`: sessions in ring (local socket) vs Flask-Session on Redis.

    python -m bench.flask_apps [--seconds 10] [--users 8]

Both rows run the same app (examples/flask_app; bench/flask_session_app.py is it with
Flask-Session) on the same gunicorn settings, driven by the same load: `users` threads in this
process, each a browser with its own session (login, then POST /incr in a loop, a new connection
per request as gunicorn's sync workers close them). ring: a 2-instance ring a -> b of `ring serve`
daemons, the workers on a's socket, every save acknowledged by b before the response. Redis: one
standalone redis-server (no replica: it acknowledges alone). Prints requests/s and p50/p99.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.procs import Procs, RedisServer, cpu_of, write_server_xml
from ring.drill.cluster import free_port, poll

REPO = Path(__file__).resolve().parents[1]


def request(port: int, method: str, path: str, cookies: dict[str, str]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    headers = {"Content-Length": "0"}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    try:
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        response.read()
        for header in response.msg.get_all("Set-Cookie") or []:
            name, _, value = header.split(";", 1)[0].partition("=")
            cookies[name] = value
        return response.status
    finally:
        conn.close()


def drive(port: int, users: int, seconds: float) -> tuple[float, list[float], int]:
    latencies: list[list[float]] = [[] for _ in range(users)]
    errors = [0] * users
    stop = time.monotonic() + seconds

    def user(n: int) -> None:
        cookies: dict[str, str] = {}
        request(port, "POST", f"/login?user=u{n}", cookies)
        while time.monotonic() < stop:
            t = time.perf_counter()
            status = request(port, "POST", "/incr", cookies)
            latencies[n].append((time.perf_counter() - t) * 1e6)
            errors[n] += status != 200

    threads = [threading.Thread(target=user, args=(n,)) for n in range(users)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    flat = sorted(x for each in latencies for x in each)
    return len(flat) / elapsed, flat, sum(errors)


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return [master, *(int(p) for p in children.read_text().split())] if children.exists() else [master]


def gunicorn(procs: Procs, name: str, app: str, env: dict[str, str]) -> tuple[int, int]:
    port = free_port()
    os.environ.update(env)
    proc = procs.spawn(name, [sys.executable, "-m", "gunicorn", "-w", "4", "--preload", "-b", f"127.0.0.1:{port}",
                              app])

    def up() -> bool:
        try:
            return request(port, "POST", "/incr", {}) == 200
        except OSError:
            return False

    if not poll(up, 30):
        raise RuntimeError(f"{name} did not start; see {procs.logdir / (name + '.log')}")
    return port, proc.pid


def measured(port: int, users: int, seconds: float, groups: dict[str, list[int]]) -> tuple[Any, str]:
    """drive() plus the CPU seconds each group of processes spent per 1000 requests."""
    before = {k: cpu_of(v) for k, v in groups.items()}
    rps, us, errors = drive(port, users, seconds)
    n = len(us) / 1000
    cpu = ", ".join(f"{k} {(cpu_of(v) - before[k]) / n:.2f}" for k, v in groups.items())
    return (rps, us, errors), f"CPU s per 1000 requests: {cpu}"


def row(name: str, rps: float, us: list[float], errors: int) -> tuple[float, float]:
    p50, p99 = statistics.median(us), us[int(len(us) * 0.99) - 1]
    print(f"  {name:<40} {rps:8.0f} req/s   p50 {p50 / 1000:7.2f} ms   p99 {p99 / 1000:7.2f} ms   errors {errors}")
    return rps, p50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=8)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ringfl"))
    procs = Procs(work / "logs")
    try:
        ring = work / "ring.xml"
        write_server_xml(ring, ["a", "b"])
        ring.write_text(ring.read_text().replace("</cluster>", "<session-replication><local-socket>"
                                                 f"{work}/{{id}}.sock</local-socket></session-replication></cluster>"))
        procs.ring_serve("ring-b", ring, "b")
        procs.ring_serve("ring-a", ring, "a")
        if not poll(lambda: os.path.exists(work / "a.sock") and os.path.exists(work / "b.sock"), 30):
            raise RuntimeError("the ring did not open its sockets")
        redis_server = RedisServer(procs, "redis")
        redis_server.wait_ready(procs.logdir)
        os.chdir(REPO)
        print(f"Flask + gunicorn -w 4, {args.users} users, {args.seconds:g} s each (POST /incr: read + write)")
        pids = {name: proc.pid for name, proc in procs.children.values()}
        ring_port, ring_master = gunicorn(procs, "gunicorn-ring", "examples.flask_app.app:app",
                                          {"RING_SOCKET": str(work / "a.sock")})
        drive(ring_port, args.users, 1.0)  # warm-up: workers connected, successor link up
        result, cpu = measured(ring_port, args.users, args.seconds, {
            "gunicorn": worker_pids(ring_master), "ring a": [pids["ring-a"]], "ring b": [pids["ring-b"]]})
        ring_row = row("ring (local socket, replicated to b)", *result)
        print(f"    {cpu}")
        redis_port, redis_master = gunicorn(procs, "gunicorn-redis", "bench.flask_session_app:app",
                                            {"BENCH_REDIS_PORT": str(redis_server.port)})
        drive(redis_port, args.users, 1.0)
        result, cpu = measured(redis_port, args.users, args.seconds, {
            "gunicorn": worker_pids(redis_master), "redis": [redis_server.pid]})
        redis_row = row(f"Flask-Session 0.8 + Redis {redis_server.version()}", *result)
        print(f"    {cpu}")
        print(f"  ring / Redis: requests/s {ring_row[0] / redis_row[0]:.2f}x (target >= 1.0), "
              f"p50 {ring_row[1] / redis_row[1]:.2f}x (target <= 1.2)")
    finally:
        procs.close()


if __name__ == "__main__":
    main()
