"""A small sticky load balancer in the drill's process, behaving like HAProxy with

    cookie RINGLB insert indirect nocache
    option redispatch / retries 3
    option httpchk GET /readyz
    default-server check inter 500 fall 2 rise 2 on-marked-down shutdown-sessions

A user is pinned to the instance that served it (the balancer's own RINGLB cookie, hidden from
the instances). When that instance is down (two failed health checks; a check fails on a refused
or timed-out connection or a 503 from /readyz) or refuses the connection, the request goes to the
next live instance in round-robin order and the user is pinned there. Requests already sent to an
instance that is marked down are cut (502), as HAProxy's shutdown-sessions does, so a user stuck
on a paused instance moves on instead of waiting for the server timeout. Answers the balancer
makes up itself (no live backend) carry X-Ring-Drill-LB, so the client knows nothing was sent.
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ring.drill.workload import LB_MARK

log = logging.getLogger("ring.drill.lb")

COOKIE = "RINGLB"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection",
               "te", "trailer", "upgrade"}


@dataclass(slots=True)
class Backend:
    name: str
    host: str
    port: int
    up: bool = True
    streak: int = 0  # consecutive checks disagreeing with `up`
    inflight: set[socket.socket] = field(default_factory=set)


class StickyBalancer:
    def __init__(self, backends: dict[str, tuple[str, int]], *, host: str = "127.0.0.1", port: int = 0,
                 check_interval: float = 0.5, fall: int = 2, rise: int = 2, connect_timeout: float = 1.0,
                 server_timeout: float = 15.0, retries: int = 3) -> None:
        self.backends = {n: Backend(n, h, p) for n, (h, p) in backends.items()}
        self.order = list(self.backends)
        self.check_interval = check_interval
        self.fall, self.rise = fall, rise
        self.connect_timeout = connect_timeout
        self.server_timeout = server_timeout
        self.retries = retries
        self.transitions: list[dict[str, Any]] = []  # {"backend", "up", "mono"}
        self._rr = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        balancer = self

        class Handler(_Handler):
            lb = balancer

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.server.request_queue_size = 256

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        t = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                             name="drill-lb", daemon=True)
        t.start()
        self._threads.append(t)
        for b in self.backends.values():
            t = threading.Thread(target=self._check_loop, args=(b,), name=f"drill-lb-check-{b.name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        for t in self._threads:
            t.join(2)

    def __enter__(self) -> StickyBalancer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ choosing

    def pick(self, pinned: str | None, exclude: set[str]) -> str | None:
        with self._lock:
            if pinned in self.backends and pinned not in exclude and self.backends[pinned].up:
                return pinned
            n = len(self.order)
            for step in range(n):
                name = self.order[(self._rr + step) % n]
                if name not in exclude and self.backends[name].up:
                    self._rr = (self._rr + step + 1) % n
                    return name
            return None

    # ------------------------------------------------------------ health

    def _check_loop(self, b: Backend) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            ok = self._check(b)
            cut: list[socket.socket] = []
            with self._lock:
                if ok == b.up:
                    b.streak = 0
                else:
                    b.streak += 1
                    if b.streak >= (self.rise if ok else self.fall):
                        b.up, b.streak = ok, 0
                        self.transitions.append({"backend": b.name, "up": ok, "mono": time.monotonic()})
                        if not ok:
                            cut = list(b.inflight)
            for sock in cut:  # on-marked-down shutdown-sessions
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._stop.wait(max(0.0, self.check_interval - (time.monotonic() - started)))

    def _check(self, b: Backend) -> bool:
        conn = http.client.HTTPConnection(b.host, b.port, timeout=self.check_interval)
        try:
            conn.request("GET", "/readyz", headers={"Connection": "close"})
            resp = conn.getresponse()
            resp.read()
            return 200 <= resp.status < 300
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()


class _Handler(BaseHTTPRequestHandler):
    lb: StickyBalancer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._forward("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._forward("POST")

    def _forward(self, method: str) -> None:
        lb = self.lb
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        pinned = None
        kept = []
        for piece in (self.headers.get("Cookie") or "").split(";"):
            cookie_name, sep, value = piece.strip().partition("=")
            if not sep:
                continue
            if cookie_name == COOKIE:
                pinned = value  # indirect: the instances never see the balancer's cookie
            else:
                kept.append(f"{cookie_name}={value}")
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP | {"cookie"}}
        headers["Connection"] = "close"
        headers["Content-Length"] = str(len(body))
        if kept:
            headers["Cookie"] = "; ".join(kept)

        tried: set[str] = set()
        for _attempt in range(lb.retries + 1):
            name = lb.pick(pinned, tried)
            if name is None:
                break
            b = lb.backends[name]
            conn = http.client.HTTPConnection(b.host, b.port, timeout=lb.connect_timeout)
            try:
                conn.connect()
            except OSError:
                tried.add(name)  # redispatch: nothing was sent, any other instance may serve it
                conn.close()
                continue
            assert conn.sock is not None
            conn.sock.settimeout(lb.server_timeout)
            with lb._lock:
                b.inflight.add(conn.sock)
            sock = conn.sock
            try:
                conn.request(method, self.path, body=body if method == "POST" else None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except TimeoutError:
                self._reply(504, b"backend timeout\n", lb_made=False)
                return
            except (OSError, http.client.HTTPException):
                self._reply(502, b"backend connection lost\n", lb_made=False)
                return
            finally:
                with lb._lock:
                    b.inflight.discard(sock)
                conn.close()
            self.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in _HOP_BY_HOP:
                    self.send_header(k, v)
            if name != pinned:
                self.send_header("Set-Cookie", f"{COOKIE}={name}; Path=/")
                self.send_header("Cache-Control", "private")  # nocache
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self._reply(503, b"no server is available to handle this request\n", lb_made=True)

    def _reply(self, status: int, body: bytes, *, lb_made: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        if lb_made:
            self.send_header(LB_MARK, "no-backend")
        self.end_headers()
        self.wfile.write(body)
