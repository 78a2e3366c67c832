"""`python -m bench.asgi_http [--seconds S] [--rounds N] [--connections C] [--out FILE]`: the ASGI row.

The same Starlette app (bench/asgi_app.py: POST /incr under ring.asgi.SessionMiddleware) on the
same uvicorn (uvloop, httptools, no access log), by where its sessions go:

    ring     `ring serve --asgi bench.asgi_app:app` as instance a, the engine on uvicorn's loop,
             plus instance b (a process) as its backup: each response waits for b's ack
    redis    `python -m bench.asgi_app --backend redis`: redis.asyncio (hiredis) on a redis-server
             of its own on a free loopback port: GET + SET per request, no replica
    memory   `python -m bench.asgi_app --backend memory`: a dict in the app process (the floor)

Load: wrk (Debian's), C connections on C threads, each with a session made beforehand (one per
connection), POST /incr for S seconds, after a 1 s warm-up; the variants take turns, N rounds, the
median round is reported. CPU is the servers' and stores' (/proc), per request. Every process is
ours and is stopped by pid at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.procs import Procs, RedisServer, cpu_of, wait_http, write_server_xml
from ring.drill.cluster import free_port

HOST = "127.0.0.1"
VARIANTS = ("ring", "redis", "memory")

LUA = """
local cookies = {%s}
local n = 0
function setup(thread)
  n = n + 1
  thread:set("cookie", cookies[(n - 1) %% #cookies + 1])
end
function init(args)
  wrk.method = "POST"
  wrk.headers["Cookie"] = cookie
  wrk.headers["Content-Length"] = "0"
end
"""


def start_variants(procs: Procs, workdir: Path) -> dict[str, tuple[int, list[int]]]:
    """variant -> (HTTP port, pids whose CPU counts)."""
    out: dict[str, tuple[int, list[int]]] = {}
    config = workdir / "server.xml"
    write_server_xml(config, ["a", "b"])
    port = free_port()
    b = procs.spawn("ring-b", [sys.executable, "-m", "ring", "serve", "--config", str(config), "--local-host", "b"])
    a = procs.spawn("ring-a", [sys.executable, "-m", "ring", "serve", "--config", str(config), "--local-host", "a",
                               "--asgi", "bench.asgi_app:app", "--http", f"{HOST}:{port}"])
    wait_http(HOST, port, "/readyz", a, "ring-a", procs.logdir)
    out["ring"] = (port, [a.pid, b.pid])

    redis = RedisServer(procs, "redis")
    redis.wait_ready(procs.logdir)
    for name in ("redis", "memory"):
        port = free_port()
        argv = [sys.executable, "-m", "bench.asgi_app", "--backend", name, "--http", f"{HOST}:{port}"]
        if name == "redis":
            argv += ["--redis-port", str(redis.port)]
        proc = procs.spawn(f"app-{name}", argv)
        wait_http(HOST, port, "/livez", proc, f"app-{name}", procs.logdir)
        out[name] = (port, [proc.pid] + ([redis.pid] if name == "redis" else []))
    return out


def make_sessions(port: int, n: int) -> list[str]:
    """n sessions, each made by one POST /incr: their Cookie header values."""
    cookies = []
    for _ in range(n):
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        conn.request("POST", "/incr", body=b"", headers={"Content-Length": "0"})
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status
        jar = [h.split(";", 1)[0] for h in response.headers.get_all("Set-Cookie") or []]
        conn.close()
        cookies.append("; ".join(jar))
    return cookies


def run_wrk(port: int, script: Path, connections: int, seconds: float, pids: list[int]) -> dict[str, Any]:
    argv = ["wrk", f"-t{connections}", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", str(script),
            f"http://{HOST}:{port}/incr"]
    cpu0 = cpu_of(pids)
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    cpu = cpu_of(pids) - cpu0
    result = parse_wrk(out)
    result["cpu_us_per_req"] = round(cpu / result["requests"] * 1e6) if result.get("requests") else None
    return result


def parse_wrk(out: str) -> dict[str, Any]:
    result: dict[str, Any] = {"non_2xx": 0, "socket_errors": 0}
    for line in out.splitlines():
        words = line.split()
        if line.startswith("Requests/sec:"):
            result["rps"] = float(words[1])
        elif words[:1] == ["50%"]:
            result["p50_us"] = _us(words[1])
        elif words[:1] == ["99%"]:
            result["p99_us"] = _us(words[1])
        elif "requests in" in line:
            result["requests"] = int(words[0])
        elif line.strip().startswith("Non-2xx"):
            result["non_2xx"] = int(words[-1])
        elif line.strip().startswith("Socket errors"):
            result["socket_errors"] = sum(int(w.strip(",")) for w in words[3::2])
    return result


def _us(value: str) -> float:
    for unit, scale in (("us", 1.0), ("ms", 1e3), ("s", 1e6)):
        if value.endswith(unit):
            return float(value[: -len(unit)]) * scale
    raise ValueError(value)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.asgi_http", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--out", help="write the results as JSON here too")
    args = p.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench.asgi_http needs wrk: apt-get install wrk", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="ring-bench-asgi-") as tmp:
        procs = Procs(Path(tmp) / "logs")
        try:
            servers = start_variants(procs, Path(tmp))
            scripts = {}
            for name, (port, _) in servers.items():
                cookies = make_sessions(port, args.connections)
                scripts[name] = Path(tmp) / f"{name}.lua"
                scripts[name].write_text(LUA % ", ".join(json.dumps(c) for c in cookies))
                run_wrk(port, scripts[name], args.connections, 1.0, servers[name][1])  # warm-up
            rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
            for r in range(args.rounds):
                for name, (port, pids) in servers.items():
                    row = run_wrk(port, scripts[name], args.connections, args.seconds, pids)
                    rounds[name].append(row)
                    print(f"round {r + 1} {name}: {row}", file=sys.stderr)
        finally:
            procs.close()
    results = {name: median_round(rows) for name, rows in rounds.items()}
    print(report(results, args))
    if args.out:
        Path(args.out).write_text(json.dumps({"rows": results, "rounds": rounds}, indent=2))
    return 0


def median_round(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_rps = sorted(rows, key=lambda row: row["rps"])
    middle = dict(by_rps[len(by_rps) // 2])
    middle["rps_spread"] = [row["rps"] for row in rows]
    middle["rps_stdev"] = round(statistics.pstdev(middle["rps_spread"]), 1)
    return middle


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    redis = results["redis"]
    lines = [f"ASGI row: bench/asgi_app.py POST /incr on uvicorn (uvloop, httptools), wrk {args.connections} "
             f"connections x {args.seconds:g} s, median of {args.rounds} rounds", "",
             "| variant | req/s (rounds) | p50 µs | p99 µs | req/s ÷ redis | p50 ÷ redis | CPU µs/req | errors |",
             "|---|--:|--:|--:|--:|--:|--:|--:|"]
    for name in VARIANTS:
        row = results[name]
        spread = "/".join(f"{v:.0f}" for v in row["rps_spread"])
        lines.append(f"| {name} | {row['rps']:.0f} ({spread}) | {row['p50_us']:.0f} | {row['p99_us']:.0f} "
                     f"| {row['rps'] / redis['rps']:.2f}x | {row['p50_us'] / redis['p50_us']:.2f}x "
                     f"| {row['cpu_us_per_req']} | {row['non_2xx'] + row['socket_errors']} |")
    ring = results["ring"]
    verdict = "PASS" if ring["rps"] >= 1.3 * redis["rps"] and ring["p50_us"] <= redis["p50_us"] else "FAIL"
    lines += ["", f"target: ring >= 1.3x redis req/s and p50 no worse: {ring['rps'] / redis['rps']:.2f}x, "
              f"p50 {ring['p50_us'] / redis['p50_us']:.2f}x: {verdict}"]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
