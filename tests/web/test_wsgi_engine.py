"""The WSGI middleware over real engines (ring.io.facade.EngineBackend), in one process.

Three engines on one asyncio loop in a background thread, wired by the in-memory transport
(tests/io/inprocess.py); each instance's middleware runs the demo app in the test's thread, as
waitress's worker threads would. A non-sticky client goes from instance to instance: the count
survives the primary's crash, and a save racing a logout answers 409, never resurrects it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from inprocess import InProcessRing  # noqa: E402
from test_wsgi import Client  # noqa: E402

from ring.demo import app as demo_app  # noqa: E402
from ring.io.facade import EngineBackend  # noqa: E402
from ring.web.wsgi import SessionMiddleware  # noqa: E402

NAMES = "abc"


class LoopThread:
    """An asyncio loop in a daemon thread; `run(coro)` waits for the coroutine's result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="engines", daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def ring() -> Iterator[tuple[LoopThread, InProcessRing]]:
    lt = LoopThread()

    async def build() -> InProcessRing:
        r = InProcessRing(NAMES)
        await r.start()
        return r

    r = lt.run(build())
    try:
        yield lt, r
    finally:
        lt.run(r.stop())
        lt.close()


def middleware(r: InProcessRing, name: str, app: Any = demo_app) -> SessionMiddleware:
    return SessionMiddleware(app, EngineBackend(r.engines[name]), members=NAMES, key="k")


def test_a_non_sticky_client_counts_across_instances_and_through_a_crash(ring: Any) -> None:
    lt, r = ring
    apps = {n: middleware(r, n) for n in NAMES}
    client = Client(apps["a"])
    for i, name in enumerate("abcab", start=1):
        client.app = apps[name]
        response = client.post("/incr")
        assert response.status_code == 200 and response.json()["count"] == i
    primary = lt.run(primary_of(r, client.cookies["RINGSESSION"]))
    lt.run(r.crash(primary))
    assert lt.run(r.until(r.formed, 10.0)), "the ring did not re-form after the crash"
    survivor = next(n for n in NAMES if n != primary)
    client.app = apps[survivor]
    response = client.post("/incr")
    assert response.status_code == 200 and response.json()["count"] == 6


async def primary_of(r: InProcessRing, session_id: str) -> str:
    """The instance holding the session's primary (read on the engines' loop)."""
    for name, engine in r.engines.items():
        held = engine.node.copies().get(session_id)
        if engine.running and held is not None and held.role.value == "primary":
            return name
    raise AssertionError("no primary")


@pytest.mark.parametrize("logout_at,status", [("a", 409), ("b", 409)])
def test_a_save_that_races_a_logout_fails_and_the_session_stays_dead(ring: Any, logout_at: str,
                                                                     status: int) -> None:
    """At the primary the save meets the tombstone: 409 (a framework maps it to its own error,
    Django's UpdateError). Through another instance the logout moved the session away first:
    the save is stale, the merge reloads the newest version, finds the tombstone: 409 too."""
    lt, r = ring
    apps = {n: middleware(r, n) for n in NAMES}
    user = Client(apps["a"])
    assert user.post("/incr").json()["count"] == 1
    cookies = dict(user.cookies)

    def racing_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        session = environ["ring.session"]
        session["count"] = 99  # this request changes the session ...
        other = Client(apps[logout_at])  # ... while another tab logs out through another instance
        other.cookies = dict(cookies)
        assert other.post("/logout").status_code == 200
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"saved": True}).encode()]

    slow = Client(middleware(r, "a", racing_app))
    slow.cookies = dict(cookies)
    response = slow.post("/incr")
    assert response.status_code == status, (response.status, response.body)
    after = Client(apps["c"])
    after.cookies = dict(cookies)
    body = after.get("/session").json()
    assert body["data"] == {}, "the logged-out session came back"
