"""The admin address of an instance (`<admin-http>`): what operators and their tools read.

    /metrics      Prometheus text format (ring.io.metrics)
    /livez        200 while the process answers
    /readyz       200 when the instance may serve its sessions now, else 503
    / or /status  the status page (ring.host.statuspage): the ring drawn, the problems, the table
    /status.json  what `ring status --json` prints: {"instances": [row, ...]}
    /panel        the page's changing part, as an HTML fragment (the page's script fetches it)

It listens apart from the application's port, on loopback unless told otherwise, so end users
never reach it through the balancer and it shadows none of the application's routes. A stdlib
ThreadingHTTPServer in a daemon thread: a handful of requests a minute, no dependency. The ring's
status is asked of every instance (over gRPC, as `ring status` does) at most once a second,
however many pages are open.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ring.config import ClusterConfig, format_address
from ring.errors import ConfigError
from ring.host.statuspage import page_html, panel_html
from ring.io.statusclient import collect, problems

log = logging.getLogger("ring.admin")

SNAPSHOT_TTL = 1.0  # seconds a status snapshot serves; a browser polls every 2 s
STATUS_TIMEOUT = 0.5  # seconds each instance gets to answer the page's status question
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Snapshots:
    """The ring's status rows, asked at most once per SNAPSHOT_TTL, shared by all requests."""

    def __init__(self, ask: Callable[[], list[dict[str, Any]]], clock: Callable[[], float] = time.monotonic):
        self._ask = ask
        self._clock = clock
        self._lock = threading.Lock()
        self._rows: list[dict[str, Any]] = []
        self._at = -1e18

    def rows(self) -> list[dict[str, Any]]:
        with self._lock:
            if self._clock() - self._at >= SNAPSHOT_TTL:
                self._rows = self._ask()
                self._at = self._clock()
            return self._rows


class AdminServer:
    """The admin endpoints of one instance, on their own address, in a background thread."""

    def __init__(self, host: str, port: int, *, config: ClusterConfig, me: str, ready: Callable[[], bool],
                 metrics: Callable[[], bytes]) -> None:
        self.me = me
        self.title = f"ring {' -> '.join(config.ring)} (seen from {me})"
        self.ready = ready
        self.metrics = metrics
        self.snapshots = Snapshots(lambda: collect(config, STATUS_TIMEOUT))
        try:
            self.httpd = ThreadingHTTPServer((host, port), _handler(self))
        except OSError as exc:
            raise ConfigError(f"cannot listen for the admin endpoints on {format_address(host, port)}: "
                              f"{exc.strerror or exc}; choose another <admin-http> or --admin-http") from exc
        self.httpd.daemon_threads = True
        self.address = format_address(host, self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                       name="ring-admin", daemon=True)

    def start(self) -> None:
        self.thread.start()
        log.info("admin endpoints on http://%s (/, /metrics, /livez, /readyz, /status.json)", self.address)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # ------------------------------------------------------------ the routes

    def answer(self, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for a GET of `path`."""
        path = path.split("?", 1)[0]
        if path == "/metrics":
            return 200, METRICS_TYPE, self.metrics()
        if path == "/livez":
            return 200, "text/plain", b"live\n"
        if path == "/readyz":
            ok = self.ready()
            return (200 if ok else 503), "text/plain", b"ready\n" if ok else b"not ready\n"
        if path in ("/", "/status"):
            rows = self.snapshots.rows()
            return 200, "text/html; charset=utf-8", page_html(self.title, rows, problems(rows)).encode()
        if path == "/status.json":
            return 200, "application/json", json.dumps({"instances": self.snapshots.rows()}, indent=2).encode()
        if path == "/panel":
            rows = self.snapshots.rows()
            return 200, "text/html; charset=utf-8", panel_html(rows, problems(rows)).encode()
        return 404, "text/plain", b"not found: try /, /metrics, /livez, /readyz or /status.json\n"


def _handler(admin: AdminServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "ring-admin"

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            status, content_type, body = admin.answer(self.path)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            log.debug("admin %s", format % args)

    return Handler
