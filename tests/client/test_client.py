"""ring.client against ring.host.local: the port over a Unix socket, errors, restarts, forks, timeouts.

The server runs on a loop thread of this process over a MemoryBackend (fast, deterministic); one
test at the end runs a real `ring serve` and kills it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ring.backend import AsyncSessionBackend, Locator, SessionBackend
from ring.client import AsyncRingClient, RingClient, local_client
from ring.drill.cluster import poll
from ring.errors import (
    ConfigError,
    SessionExists,
    SessionInvalidated,
    SessionStale,
    SessionTooLarge,
    SessionUnavailable,
    TransportError,
)
from ring.host.local import LocalServer
from ring.web.memory import MemoryBackend


class AsyncMemory:
    """MemoryBackend as an AsyncSessionBackend (what the engine's AsyncEngineBackend is)."""

    def __init__(self, backend: MemoryBackend) -> None:
        self.b = backend
        self.instance_id = backend.instance_id
        self.max_session_size = backend.max_session_size
        self.gate: asyncio.Event | None = None  # set: saves wait for it (a slow successor)
        self.lifetimes: list[float | None] = []  # what each save asked

    async def load(self, session_id: str, hint: Locator | None) -> Any:
        return self.b.load(session_id, hint)

    async def save(self, session_id: str, base_version: int, data: bytes, *, touch_only: bool = False,
                   lifetime: float | None = None) -> Any:
        self.lifetimes.append(lifetime)
        if self.gate is not None:
            await self.gate.wait()
        return self.b.save(session_id, base_version, data, touch_only=touch_only)

    async def invalidate(self, session_id: str, base_version: int) -> None:
        self.b.invalidate(session_id, base_version)

    def new_session_id(self) -> str:
        return self.b.new_session_id()

    def replicate_on_read(self) -> bool:
        return self.b.replicate_on_read()


class Host:
    """A LocalServer on its own loop thread."""

    def __init__(self, path: str, max_session_size: int = 4096) -> None:
        self.path = path
        self.backend = AsyncMemory(MemoryBackend("a", ["a", "b"], max_session_size=max_session_size))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: LocalServer | None = None
        self.start()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def start(self) -> None:
        self.server = LocalServer(self.backend, self.path, 0o600)
        self.run(self.server.start())

    def stop(self) -> None:
        if self.server is not None:
            self.run(self.server.stop())
            self.server = None

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ringc"))  # Unix socket paths must stay short
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def host(short_dir: Path) -> Iterator[Host]:
    h = Host(str(short_dir / "a.sock"))
    yield h
    h.close()


def test_both_clients_are_the_port(host: Host) -> None:
    assert isinstance(RingClient(host.path), SessionBackend)
    assert isinstance(AsyncRingClient(host.path), AsyncSessionBackend)


def test_creating_a_client_connects_nowhere(short_dir: Path) -> None:
    RingClient(str(short_dir / "none.sock"))
    AsyncRingClient(str(short_dir / "none.sock"))


def test_the_operations_round_trip(host: Host) -> None:
    c = RingClient(host.path)
    assert (c.instance_id, c.max_session_size, c.replicate_on_read()) == ("a", 4096, True)
    sid = c.new_session_id()
    assert c.load(sid, Locator("a", "b")) is None and not c.exists(sid) and not c.touch(sid)
    first = c.save(sid, 0, b'{"k":1}')
    assert first.locator == Locator("a", "b") and first.version == 1
    loaded = c.load(sid, None)
    assert loaded is not None and (loaded.version, loaded.data) == (1, b'{"k":1}')
    assert c.save(sid, 1, b'{"k":2}').version == 2
    assert c.exists(sid) and c.touch(sid)
    c.invalidate(sid, 2)
    assert c.load(sid, None) is None


def test_a_lifetime_reaches_the_instance_and_a_bad_one_is_refused(host: Host) -> None:
    c = RingClient(host.path)
    sid = c.new_session_id()
    c.save(sid, 0, b"{}", lifetime=3600.0)
    c.save(sid, 1, b'{"a":1}')  # none asked: the instance's default
    assert host.backend.lifetimes[-2:] == [3600.0, None]
    assert asyncio.run(AsyncRingClient(host.path).save(sid, 2, b'{"a":2}', lifetime=60)).version == 3
    assert host.backend.lifetimes[-1] == 60.0
    with pytest.raises(ValueError, match="lifetime"):
        c.save(sid, 3, b"{}", lifetime=0)


def test_errors_arrive_as_ring_errors(host: Host) -> None:
    c = RingClient(host.path)
    sid = c.new_session_id()
    c.save(sid, 0, b"{}")
    with pytest.raises(SessionExists):
        c.save(sid, 0, b"{}")
    with pytest.raises(SessionStale):
        c.save(sid, 7, b'{"x":1}')
    with pytest.raises(SessionTooLarge):
        c.save(sid, 1, b"x" * 5000)
    c.invalidate(sid, 1)
    with pytest.raises(SessionInvalidated):
        c.save(sid, 1, b'{"x":1}')
    c.save(c.new_session_id(), 0, b"{}")  # the connection survived every error


def test_bad_requests_are_refused_not_served(host: Host) -> None:
    c = RingClient(host.path)
    with pytest.raises(Exception, match="not a session id"):
        c.load("../../etc/passwd", None)


def test_no_instance_is_a_transport_error_naming_the_socket(short_dir: Path) -> None:
    c = RingClient(str(short_dir / "none.sock"), connect_timeout=0.5)
    with pytest.raises(TransportError, match="none.sock.*ring serve"):
        c.load(c.new_session_id(), None)


def test_the_client_reconnects_when_the_instance_restarts(host: Host) -> None:
    c = RingClient(host.path)
    sid = c.new_session_id()
    c.save(sid, 0, b'{"a":1}')
    host.stop()
    with pytest.raises(TransportError):
        c.load(sid, None)
    host.start()
    loaded = c.load(sid, None)  # the store outlived the restart (a ring would have the backup)
    assert loaded is not None and loaded.data == b'{"a":1}'
    host.stop()
    host.start()  # restarted between two calls: the stale connection is retried once, silently
    assert c.load(sid, None) is not None


def test_a_slow_instance_is_a_bounded_wait(host: Host) -> None:
    host.backend.gate = asyncio.Event()
    c = RingClient(host.path, timeout=0.3)
    sid = c.new_session_id()
    with pytest.raises(SessionUnavailable, match="did not answer within 0.3 s"):
        c.save(sid, 0, b"{}")
    host.loop.call_soon_threadsafe(host.backend.gate.set)
    # the late save lands on the instance; this client's next calls get their own answers
    assert poll(lambda: c.load(sid, None) is not None, 10)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_opens_its_own_connection(host: Host) -> None:
    c = local_client(host.path)
    sid = c.new_session_id()
    c.save(sid, 0, b'{"parent":1}')  # the parent's connection exists before the fork (--preload)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: same client object, must not share the parent's socket
        ok = b"0"
        try:
            loaded = c.load(sid, None)
            ok = b"1" if loaded is not None and c._local.conn.pid == os.getpid() else b"0"
        finally:
            os.write(write, ok)
            os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
    os.close(read)
    assert c.load(sid, None) is not None  # the parent's connection is intact


def test_the_async_client_pipelines_calls_on_one_connection(host: Host) -> None:
    async def scenario() -> None:
        c = AsyncRingClient(host.path)
        assert c.instance_id == "a"
        ids = [c.new_session_id() for _ in range(50)]
        results = await asyncio.gather(*(c.save(sid, 0, b'{"n":1}') for sid in ids))
        assert all(r.version == 1 for r in results)
        loaded = await asyncio.gather(*(c.load(sid, None) for sid in ids))
        assert all(x is not None and x.data == b'{"n":1}' for x in loaded)
        assert len(c._conns) == 1
        with pytest.raises(SessionStale):
            await c.save(ids[0], 5, b"{}")
        assert await c.exists(ids[0]) and await c.touch(ids[0])
        await c.invalidate(ids[0], 1)
        assert await c.load(ids[0], None) is None
        await c.aclose()

    asyncio.run(scenario())


def test_the_async_client_connects_on_demand_and_bounds_its_wait(host: Host) -> None:
    async def scenario() -> None:
        c = AsyncRingClient(host.path, timeout=0.3)
        assert not c._conns  # nothing opened when made
        info = await c.connect()
        assert (info.instance_id, len(c._conns)) == ("a", 1) and await c.connect() == info
        host.backend.gate = asyncio.Event()
        sid = c.new_session_id()
        with pytest.raises(SessionUnavailable, match="did not answer within 0.3 s"):
            await c.save(sid, 0, b"{}")
        host.loop.call_soon_threadsafe(host.backend.gate.set)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while await c.load(sid, None) is None:  # the late save lands; the next calls get their own answers
            assert loop.time() < deadline
            await asyncio.sleep(0.05)
        await c.aclose()

    asyncio.run(scenario())


def test_the_async_client_reconnects(host: Host) -> None:
    async def scenario() -> None:
        c = AsyncRingClient(host.path)
        sid = c.new_session_id()
        await c.save(sid, 0, b"{}")
        host.stop()
        with pytest.raises(TransportError):
            await c.load(sid, None)
        host.start()
        assert await c.load(sid, None) is not None
        await c.aclose()

    asyncio.run(scenario())


def test_a_live_socket_is_not_taken_over(host: Host) -> None:
    other = LocalServer(host.backend, host.path)
    with pytest.raises(ConfigError, match="in use"):
        host.run(other.start())


def test_a_stale_socket_file_is_replaced_and_gets_its_mode(host: Host) -> None:
    host.stop()
    import socket as socketlib
    leftover = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
    leftover.bind(host.path)  # a socket file nobody listens on: what a kill -9 leaves
    leftover.close()
    host.start()
    assert oct(os.stat(host.path).st_mode & 0o777) == "0o600"
    assert RingClient(host.path).instance_id == "a"


def test_any_wsgi_app_uses_the_client_through_ring_session_middleware(host: Host) -> None:
    from ring.web.wsgi import SessionMiddleware

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        session = environ["ring.session"]
        session["n"] = session.get("n", 0) + 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(session["n"]).encode()]

    wsgi = SessionMiddleware(app, RingClient(host.path), members=["a", "b"])
    cookie = ""
    bodies = []
    for _ in range(3):
        headers: list[tuple[str, str]] = []
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "HTTP_COOKIE": cookie}
        body = b"".join(wsgi(environ, lambda status, h, exc=None, out=headers: out.extend(h)))
        bodies.append(body)
        sent = [v.split(";", 1)[0] for k, v in headers if k == "Set-Cookie"]
        cookie = "; ".join(sent) or cookie
    assert bodies == [b"1", b"2", b"3"]


def test_a_large_session_crosses_in_several_reads(short_dir: Path) -> None:
    big = Host(str(short_dir / "big.sock"), max_session_size=4 << 20)
    try:
        c = RingClient(big.path)
        sid = c.new_session_id()
        data = os.urandom(3 << 20)
        c.save(sid, 0, data)
        loaded = c.load(sid, None)
        assert loaded is not None and loaded.data == data
    finally:
        big.close()
