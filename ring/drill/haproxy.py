"""`ring drill --lb haproxy`: the real HAProxy in front of the instances.

The generated haproxy.cfg is the configuration reference/ecosystem.md 3.2 recommends for a ring:
an inserted stickiness cookie, redispatch when the pinned server is down or refuses, health checks
on /readyz, and (as the built-in balancer) in-flight requests cut when a server is marked down.
Errors HAProxy makes up itself when no server could take a request (503) carry X-Ring-Drill-LB,
so the users know nothing was sent.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

from ring.drill.balancer import COOKIE
from ring.drill.cluster import free_port, poll
from ring.drill.workload import LB_MARK
from ring.errors import DrillError


def find_haproxy() -> str:
    path = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if Path(p).exists()), None)
    if path is None:
        raise DrillError("--lb haproxy needs the haproxy binary on PATH (Debian: apt-get install haproxy, "
                         "or run scripts/install-system-deps); or use the built-in balancer: --lb builtin")
    return path


def render_config(backends: dict[str, tuple[str, int]], bind: tuple[str, int], *,
                  server_timeout: float = 15.0, check_path: str = "/readyz") -> str:
    servers = "\n".join(
        f"    server {name} {host}:{port} cookie {name}" for name, (host, port) in backends.items())
    return f"""# written by ring drill
global
    maxconn 512

defaults
    mode http
    retries 3
    option redispatch
    timeout connect 1s
    timeout client 30s
    timeout server {int(server_timeout)}s
    timeout http-request 10s
    timeout queue 5s
    timeout check 500ms

frontend drill
    bind {bind[0]}:{bind[1]}
    default_backend ring

backend ring
    balance roundrobin
    cookie {COOKIE} insert indirect nocache
    option httpchk GET {check_path}
    http-error status 503 content-type text/plain string "no server is available" hdr {LB_MARK} no-backend
    default-server check inter 500 fall 2 rise 2 on-marked-down shutdown-sessions
{servers}
"""


class HAProxy:
    """haproxy in the foreground as a child process, on a free loopback port."""

    def __init__(self, workdir: Path, backends: dict[str, tuple[str, int]], *, server_timeout: float = 15.0,
                 check_path: str = "/readyz") -> None:
        self.binary = find_haproxy()
        self.bind = ("127.0.0.1", free_port())
        self.config_path = workdir / "haproxy.cfg"
        self.log_path = workdir / "haproxy.log"
        self.config_path.write_text(render_config(backends, self.bind, server_timeout=server_timeout,
                                                  check_path=check_path))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self.bind

    def start(self, timeout: float = 10.0) -> None:
        check = subprocess.run([self.binary, "-c", "-q", "-f", str(self.config_path)],
                               capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise DrillError(f"haproxy rejected {self.config_path}: {check.stderr.strip() or check.stdout.strip()}")
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen([self.binary, "-db", "-f", str(self.config_path)], stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        if not poll(self._accepts, timeout):
            self.stop()
            raise DrillError(f"haproxy did not start listening on {self.bind[0]}:{self.bind[1]}; see {self.log_path}")

    def _accepts(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            return False
        try:
            with socket.create_connection(self.bind, timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def __enter__(self) -> HAProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
