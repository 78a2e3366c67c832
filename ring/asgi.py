"""ring for ASGI apps (Starlette, FastAPI): ``from ring.asgi import SessionMiddleware``.

A drop-in for ``starlette.middleware.sessions.SessionMiddleware`` whose sessions live in the ring
(see ring.web.asgi). Where they go is one argument:

    app.add_middleware(SessionMiddleware, secret_key=...)                  # hosted: `ring serve --asgi`
    app.add_middleware(SessionMiddleware, secret_key=..., local_socket="/run/ring/a.sock")
                                          # uvicorn --workers, gunicorn -k uvicorn_worker.UvicornWorker:
                                          # the `ring serve` daemon of this host, over its <local-socket>
    app.add_middleware(SessionMiddleware, backend=AsyncMemoryBackend())   # any AsyncSessionBackend

With local_socket, each worker process makes its client (ring.client.AsyncRingClient) at its
first request, so after any fork (gunicorn --preload too); the client reconnects by itself when the
daemon restarts, and until then requests answer 503 with Retry-After. The locator cookie names
only this host's instance unless ``members=`` lists the ring's. This module never imports the
engine (ring.io).
"""

from __future__ import annotations

from typing import Any

from ring.backend import AsyncSessionBackend
from ring.web import asgi as _web
from ring.web.asgi import HostContext, wraps_sessions
from ring.web.memory import AsyncMemoryBackend

__all__ = ["AsyncMemoryBackend", "HostContext", "SessionMiddleware", "wraps_sessions"]


class SessionMiddleware(_web.SessionMiddleware):
    """Starlette's SessionMiddleware over the ring: hosted, a given backend, or local_socket=PATH
    (this host's daemon; ``local_socket=""`` reads the path from $RING_SOCKET)."""

    def __init__(self, app: _web.ASGIApp, *args: Any, local_socket: str | None = None, **kwargs: Any) -> None:
        if local_socket is not None and kwargs.get("backend") is not None:
            raise ValueError("pass backend= or local_socket=, not both")
        super().__init__(app, *args, **kwargs)
        self._local_socket = local_socket
        if local_socket == "":
            from ring.client import default_socket

            self._local_socket = default_socket()  # ValueError now, not at the first request

    def _makes_backend(self) -> bool:
        return self._local_socket is not None

    async def _make_backend(self) -> AsyncSessionBackend:
        from ring.client import async_local_client

        assert self._local_socket is not None
        client = async_local_client(self._local_socket)
        await client.connect()  # its attributes without a blocking call; TransportError while it is down
        return client
