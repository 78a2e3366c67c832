"""The hosted ASGI app: uvicorn on the instance's own loop, the engine saving with ``await``.

`ring serve --asgi MODULE:ATTR --http HOST:PORT` runs a Starlette, FastAPI or plain ASGI app on
uvicorn inside the ring process, on the very loop that drives the engine (uvloop when installed,
httptools for HTTP/1.1 when installed), so a request's load and save are awaited on the loop with
no thread hop. The app gets sessions from ring.asgi.SessionMiddleware over AsyncEngineBackend:

  - an app that already adds ring.asgi.SessionMiddleware (an app switched from Starlette's by the
    import, built without a backend) keeps its own cookie options; the engine, the locator
    cookie's name and key and the member set come from server.xml through ``scope["ring.host"]``;
  - any other app is wrapped in one with server.xml's cookie names (a browser-session cookie,
    Secure when <cookie-secure> says so), as the WSGI hosting does.

Beside the app: /livez, /readyz (503 once draining) and /metrics, as ring.host.http. Stopping
drains: /readyz turns 503, the listening socket closes, requests in flight finish (up to
DRAIN_SECONDS) and so do their saves, then the app's lifespan shutdown runs; the engine stops after.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

from ring.backend import AsyncSessionBackend
from ring.config import ClusterConfig
from ring.errors import ConfigError
from ring.host.loops import event_loop_factory  # noqa: F401  (bench and serve import it from here)
from ring.web.asgi import (
    SCOPE_HOST,
    ASGIApp,
    HostContext,
    Receive,
    Scope,
    Send,
    SessionMiddleware,
    wraps_sessions,
)

log = logging.getLogger("ring.web")

DRAIN_SECONDS = 10  # how long requests in flight may take to finish once stopping


def import_asgi_app(spec: str) -> ASGIApp:
    """The app named by spec (ConfigError when it cannot be loaded, or uvicorn is missing)."""
    if importlib.util.find_spec("uvicorn") is None:
        raise ConfigError("--asgi needs uvicorn: pip install 'ring-sessions[asgi]'")
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"--asgi must be MODULE:ATTR (for example myapp.main:app), got {spec!r}")
    try:
        app = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load the ASGI application {spec!r}: {exc}") from exc
    if not callable(app):
        raise ConfigError(f"{spec!r} is not an ASGI application (not callable)")
    return app  # type: ignore[no-any-return]


def hosted(app: ASGIApp, backend: AsyncSessionBackend, config: ClusterConfig) -> ASGIApp:
    """app with ring sessions over backend, configured from server.xml (see the module docstring)."""
    r = config.replication
    context = HostContext(backend=backend, members=frozenset(config.ring), locator_cookie=r.cookie_name,
                          key=r.key, secure=r.cookie_secure)
    if not wraps_sessions(app):
        app = SessionMiddleware(app, session_cookie=r.session_cookie_name, max_age=None,
                                https_only=r.cookie_secure)

    async def lend_the_engine(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            scope[SCOPE_HOST] = context
        await app(scope, receive, send)

    return lend_the_engine


def with_health(app: ASGIApp, ready: Callable[[], bool], metrics: Callable[[], bytes] | None = None) -> ASGIApp:
    async def health(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == "/livez":
            await _plain(send, 200, b"live\n")
        elif path == "/readyz":
            ok = ready()
            await _plain(send, 200 if ok else 503, b"ready\n" if ok else b"not ready\n")
        elif path == "/metrics" and metrics is not None:
            await _plain(send, 200, metrics(), b"text/plain; version=0.0.4; charset=utf-8")
        else:
            await app(scope, receive, send)

    return health


async def _plain(send: Send, status: int, body: bytes, content_type: bytes = b"text/plain") -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class AsgiServer:
    """uvicorn serving app on the running loop, from a socket bound here (errors are ConfigErrors)."""

    def __init__(self, app: ASGIApp, host: str, port: int, ready: Callable[[], bool],
                 metrics: Callable[[], bytes] | None = None) -> None:
        import uvicorn

        self.draining = False
        app = with_health(app, lambda: ready() and not self.draining, metrics)
        self.sock = _listen(host, port)
        self.config = uvicorn.Config(app, lifespan="auto", log_config=None, access_log=False, server_header=False,
                                     timeout_graceful_shutdown=DRAIN_SECONDS)
        self.server = _uvicorn_server()(self.config)
        self._task: asyncio.Task[None] | None = None
        self.failed = False

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    async def start(self) -> None:
        """Serve; returns once uvicorn listens (ConfigError if the app's lifespan startup failed)."""
        self._task = asyncio.get_running_loop().create_task(self._serve(), name="ring-asgi")
        while not self.server.started and not self._task.done():
            await asyncio.sleep(0.01)
        if not self.server.started:
            self.sock.close()
            raise ConfigError("the ASGI application did not start (its lifespan startup failed; see the log above)")

    async def _serve(self) -> None:
        try:
            await self.server.serve(sockets=[self.sock])
        except SystemExit:  # uvicorn exits on a failed lifespan startup: not this process's exit
            self.failed = True

    async def stop(self) -> None:
        """Drain: not ready, stop accepting, let requests in flight finish, run lifespan shutdown."""
        self.draining = True
        self.server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._task), DRAIN_SECONDS + 5.0)
        self.sock.close()


def _uvicorn_server() -> type[Any]:
    import uvicorn

    class Server(uvicorn.Server):  # type: ignore[misc]
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # `ring serve` owns SIGTERM/SIGINT and calls stop()

    return Server


def _listen(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(2048)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
    except OSError as exc:
        raise ConfigError(f"cannot listen for HTTP on {host}:{port}: {exc.strerror or exc}") from exc
    return sock
