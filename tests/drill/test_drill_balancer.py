"""The built-in sticky balancer against tiny loopback backends (no ring): stickiness, the hidden
cookie, redispatch, health checks, and the outcome classes the users record."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ring.drill.balancer import COOKIE, StickyBalancer
from ring.drill.checker import FAILED, INCR, OK, READ
from ring.drill.cluster import free_port, poll
from ring.drill.workload import CookieJar, User, WorkloadSpec

pytestmark = pytest.mark.integration


class Backend:
    """Answers /incr like the demo app (one counter per backend) and /readyz with `ready`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ready = True
        self.count = 0
        self.cookies_seen: list[str] = []
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                if self.path == "/readyz":
                    self._send(200 if backend.ready else 503, b"ready\n")
                else:
                    self._send(200, json.dumps({"data": {"count": backend.count}, "instance": backend.name}).encode())

            def do_POST(self) -> None:  # noqa: N802
                backend.cookies_seen.append(self.headers.get("Cookie") or "")
                backend.count += 1
                self._send(200, json.dumps({"count": backend.count, "instance": backend.name}).encode())

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def backends() -> Iterator[dict[str, Backend]]:
    bs = {n: Backend(n) for n in ("a", "b", "c")}
    yield bs
    for b in bs.values():
        b.stop()


def user_of(lb: StickyBalancer) -> tuple[User, list[Any]]:
    ops: list[Any] = []
    host, port = lb.address
    return User(0, host, port, WorkloadSpec(timeout=5.0), seed=1, record=ops.append), ops


def test_sticky_redispatch_and_hidden_cookie(backends: dict[str, Backend]) -> None:
    lb = StickyBalancer({n: ("127.0.0.1", b.port) for n, b in backends.items()}, check_interval=0.1)
    with lb:
        user, _ = user_of(lb)
        first = user.operate(INCR)
        assert first.outcome == OK
        home = first.instance
        assert user.jar.cookies[COOKIE] == home
        for _ in range(5):
            op = user.operate(INCR)
            assert (op.outcome, op.instance) == (OK, home)  # pinned
        assert all(COOKIE not in seen for seen in backends[home].cookies_seen)  # indirect
        backends[home].stop()  # refused: redispatched at once, before any health check notices
        moved = user.operate(INCR)
        assert moved.outcome == OK and moved.instance != home
        assert user.jar.cookies[COOKIE] == moved.instance


def test_a_backend_that_is_not_ready_is_skipped(backends: dict[str, Backend]) -> None:
    lb = StickyBalancer({n: ("127.0.0.1", b.port) for n, b in backends.items()}, check_interval=0.1)
    with lb:
        user, _ = user_of(lb)
        home = user.operate(INCR).instance
        assert home is not None
        backends[home].ready = False
        assert poll(lambda: not lb.backends[home].up, 5.0)
        assert user.operate(READ).instance != home
        assert any(t["backend"] == home and not t["up"] for t in lb.transitions)


def test_no_backend_left_is_a_definite_failure(backends: dict[str, Backend]) -> None:
    dead = {"x": ("127.0.0.1", free_port()), "y": ("127.0.0.1", free_port())}
    with StickyBalancer(dead, check_interval=0.1) as lb:
        user, _ = user_of(lb)
        op = user.operate(INCR)
        assert op.outcome == FAILED and op.count is None  # nothing was sent to any instance


def test_cookie_jar() -> None:
    jar = CookieJar()
    jar.update(["RINGSESSION=abc; Path=/; HttpOnly", "CLUSTERSESSIONLOCATOR=YQ.Yg; Path=/"])
    assert jar.header() == "RINGSESSION=abc; CLUSTERSESSIONLOCATOR=YQ.Yg"
    jar.update(["RINGSESSION=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/"])
    assert jar.header() == "CLUSTERSESSIONLOCATOR=YQ.Yg"
