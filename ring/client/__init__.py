"""Clients of the ring instance on this host, for web workers of other servers (gunicorn, uvicorn).

`RingClient` (threads) and `AsyncRingClient` (asyncio) implement the port of ring.backend over the
instance's Unix socket (`<local-socket>` in server.xml, served by `ring serve`). Creating one opens
nothing: each process connects at its first call, so a client built at import time, before
gunicorn forks its workers (also with --preload), is safe. `local_client(path)` and
`async_local_client(path)` return one shared client per socket path.

This package imports only ring.backend, ring.errors, the standard library and msgspec.
"""

from __future__ import annotations

import os
import threading

from ring.client.aio import AsyncRingClient
from ring.client.sync import InstanceInfo, RingClient

__all__ = ["AsyncRingClient", "InstanceInfo", "RingClient", "async_local_client", "default_socket",
           "local_client"]

SOCKET_ENV = "RING_SOCKET"  # where adapters look for the socket when their settings name none

_lock = threading.Lock()
_sync: dict[str, RingClient] = {}
_async: dict[str, AsyncRingClient] = {}


def default_socket() -> str:
    """The socket named by $RING_SOCKET; ValueError when it is not set."""
    path = os.environ.get(SOCKET_ENV, "")
    if not path:
        raise ValueError(f"no ring socket configured: set {SOCKET_ENV} or pass the instance's <local-socket> path")
    return path


def local_client(path: str | None = None) -> RingClient:
    """The shared RingClient of the socket at path (default: $RING_SOCKET)."""
    path = path or default_socket()
    with _lock:
        client = _sync.get(path)
        if client is None:
            client = _sync[path] = RingClient(path)
        return client


def async_local_client(path: str | None = None) -> AsyncRingClient:
    """The shared AsyncRingClient of the socket at path (default: $RING_SOCKET)."""
    path = path or default_socket()
    with _lock:
        client = _async.get(path)
        if client is None:
            client = _async[path] = AsyncRingClient(path)
        return client
