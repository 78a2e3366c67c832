"""The processes a bench run starts, and what it reads about them.

`Procs` starts every child in its own session with its output in a log file, and `close()` stops
every child still running (SIGTERM, then SIGKILL): the run calls it in a `finally`. Redis servers
run without persistence (`--save "" --appendonly no`). Waiting is polling with a deadline.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ring.drill.cluster import free_port, poll

REPO = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Procs:
    """Every child process of the run, stopped by close()."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.children: dict[int, tuple[str, subprocess.Popen[bytes]]] = {}

    def spawn(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with open(self.logdir / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                    start_new_session=True,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
        self.children[proc.pid] = (name, proc)
        return proc

    def ring_serve(self, name: str, config: Path, instance: str, *, http: str | None = None,
                   threads: int = 8, event_log: Path | None = None) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "ring", "serve", "--config", str(config), "--local-host", instance]
        if http:
            argv += ["--app", "ring.demo:app", "--http", http, "--threads", str(threads)]
        if event_log:
            argv += ["--event-log", str(event_log)]
        return self.spawn(name, argv)

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL (a crash), and reap it."""
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        self.children.pop(proc.pid, None)

    def stop(self, procs: Sequence[subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
        """SIGTERM all of them, then wait; SIGKILL what did not stop in time."""
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
            self.children.pop(p.pid, None)

    def close(self) -> None:
        self.stop([p for _, p in self.children.values()])


def check_exited(proc: subprocess.Popen[bytes], name: str, logdir: Path) -> None:
    if proc.poll() is not None:
        raise RuntimeError(f"{name} exited with {proc.returncode}; see {logdir / (name + '.log')}")


# ------------------------------------------------------------------ redis


class RedisServer:
    """A redis-server child on a free loopback port, no persistence; optionally a replica."""

    def __init__(self, procs: Procs, name: str, *, replica_of: RedisServer | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found: run scripts/install-system-deps (Debian redis-server)")
        self.name = name
        self.port = free_port()
        workdir = procs.logdir / name
        workdir.mkdir(exist_ok=True)
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--dir", str(workdir), "--logfile", ""]
        if replica_of is not None:
            argv += ["--replicaof", "127.0.0.1", str(replica_of.port)]
        self.proc = procs.spawn(name, argv)
        self.replica_of = replica_of

    @property
    def pid(self) -> int:
        return self.proc.pid

    def client(self, **kwargs: object):  # type: ignore[no-untyped-def]
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, **kwargs)  # type: ignore[arg-type]

    def wait_ready(self, logdir: Path, timeout: float = 20.0) -> None:
        import redis

        client = self.client(socket_timeout=1.0)

        def up() -> bool:
            check_exited(self.proc, self.name, logdir)
            try:
                if self.replica_of is not None:
                    return client.info("replication").get("master_link_status") == "up"
                return bool(client.ping())
            except redis.RedisError:
                return False

        if not poll(up, timeout):
            raise RuntimeError(f"{self.name} did not come up; see {logdir / (self.name + '.log')}")
        client.close()

    def version(self) -> str:
        c = self.client()
        try:
            return str(c.info("server").get("redis_version", "?"))
        finally:
            c.close()


# ------------------------------------------------------------------ ring configs


def write_server_xml(path: Path, ids: Sequence[str]) -> dict[str, int]:
    """A server.xml for a ring of `ids` on 127.0.0.1 with free ports and default settings."""
    ports = {i: free_port() for i in ids}
    instances = "".join(
        f"""
    <instance>
      <host>127.0.0.1</host>
      <session-replication><port>{ports[i]}</port><instance-id>{i}</instance-id></session-replication>
    </instance>""" for i in ids)
    path.write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- written by `python -m bench`: every setting at its default -->
<server>
  <cluster>{instances}
  </cluster>
</server>
""")
    return ports


def instance_ids(n: int) -> list[str]:
    return [f"i{k:02d}" for k in range(n)]


def wait_http(host: str, port: int, path: str, proc: subprocess.Popen[bytes], name: str, logdir: Path,
              timeout: float = 30.0) -> None:
    def ok() -> bool:
        check_exited(proc, name, logdir)
        try:
            conn = http.client.HTTPConnection(host, port, timeout=1.0)
            conn.request("GET", path)
            status = conn.getresponse().status
            conn.close()
            return status == 200
        except OSError:
            return False

    if not poll(ok, timeout):
        raise RuntimeError(f"{name} did not answer {path} with 200; see {logdir / (name + '.log')}")


# ------------------------------------------------------------------ /proc


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def with_children(pid: int) -> list[int]:
    """pid and its descendants (a server's workers), from /proc."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def listening_inodes(port: int) -> set[str]:
    """The socket inodes listening on TCP port (IPv4 and IPv6), from /proc/net."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                found.add(fields[9])
    return found


def listens_on(pid: int, port: int) -> bool:
    """True when pid or one of its descendants holds the socket listening on port (not another
    process that took a port picked by free_port() before our server bound it)."""
    inodes = {f"socket:[{i}]" for i in listening_inodes(port)}
    for p in with_children(pid):
        try:
            fds = os.listdir(f"/proc/{p}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{p}/fd/{fd}") in inodes:
                    return True
            except OSError:
                continue
    return False


def cpu_of(pids: Sequence[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except OSError:
            pass
    return total
