"""RingClient: ring.backend.SessionBackend over the local socket, for threaded web workers.

Each thread of each process gets its own connection, opened at its first call: a connection
opened before a fork (gunicorn --preload) is never used by the child, because every connection
remembers the pid that opened it. When the instance restarts, the next call finds its connection
broken and opens a new one; a call that fails on a connection that had worked before is tried once
more on a fresh one (loads, touches and invalidations are idempotent; a save is conditional, so a
repeat of one that had been applied comes back SessionStale and the middleware's merge sees its
own write). Every wait is bounded: `connect_timeout` to connect, `timeout` for an answer.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from dataclasses import dataclass
from typing import Any

from ring.backend import LoadedSession, Locator, SaveResult
from ring.client import wire
from ring.errors import ProtocolError, SessionUnavailable, TransportError

DEFAULT_TIMEOUT = 15.0  # above the instance's request-timeout (10 s) plus its own margin
DEFAULT_CONNECT_TIMEOUT = 2.0  # a local socket answers at once or not at all


class _Broken(Exception):
    """The connection failed (reset, closed, refused): the call may be tried on a new one."""


@dataclass(frozen=True, slots=True)
class InstanceInfo:
    instance_id: str
    max_session_size: int
    replicate_on_read: bool


class Connection:
    """One blocking connection to the local socket (one thread of one process uses it)."""

    def __init__(self, path: str, connect_timeout: float, timeout: float) -> None:
        self.pid = os.getpid()
        self.timeout = timeout
        self.used = False
        self._next_id = 0
        self._buffer = bytearray()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(connect_timeout)
        try:
            sock.connect(path)
        except OSError as exc:
            sock.close()
            raise TransportError(
                f"cannot reach the ring instance on {path}: {exc.strerror or exc}; "
                "is `ring serve` running with this <local-socket>?"
            ) from None
        sock.settimeout(timeout)
        self.sock = sock

    def call(self, op: str, args: list[Any]) -> Any:
        self._next_id += 1
        rid = self._next_id
        try:
            self.sock.sendall(wire.frame([rid, op, args]))
            message = wire.decode(self._read_frame())
        except TimeoutError:
            raise SessionUnavailable(f"the ring instance did not answer within {self.timeout:g} s") from None
        except OSError as exc:
            raise _Broken(str(exc)) from None
        self.used = True
        return wire.answer(message, rid)[1]

    def _read_frame(self) -> bytes:
        """One answer's body; usually a single recv (header and body arrive together)."""
        buffer = self._buffer
        header = wire.HEADER.size
        while len(buffer) < header or len(buffer) < header + wire.HEADER.unpack_from(buffer)[0]:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise _Broken("the instance closed the connection")
            buffer += chunk
        end = header + wire.HEADER.unpack_from(buffer)[0]
        body = bytes(buffer[header:end])
        del buffer[:end]
        return body

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def fetch_info(path: str, connect_timeout: float, timeout: float) -> InstanceInfo:
    """hello on a short-lived connection (also used by the asyncio client for its attributes)."""
    conn = Connection(path, connect_timeout, timeout)
    try:
        value = conn.call("hello", [])
    except _Broken as exc:
        raise TransportError(f"the ring instance on {path} closed the connection: {exc}") from None
    finally:
        conn.close()
    return info_from(value)


def info_from(value: Any) -> InstanceInfo:
    """The hello answer's fields; ProtocolError when the instance speaks another version."""
    try:
        instance_id, max_size, on_read, version = value
    except (TypeError, ValueError):
        raise ProtocolError("malformed hello answer on the local socket") from None
    if version != wire.PROTOCOL_VERSION:
        raise ProtocolError(f"the instance speaks local protocol {version}, this client {wire.PROTOCOL_VERSION}: "
                            "upgrade ring so that both match")
    return InstanceInfo(instance_id, max_size, bool(on_read))


class _LocalInstance:
    """What both clients share: the socket, the timeouts, and the instance's attributes (asked
    once per process, at first use)."""

    def __init__(self, socket_path: str, *, timeout: float = DEFAULT_TIMEOUT,
                 connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> None:
        if not socket_path:
            raise ValueError("socket_path must name the instance's <local-socket>")
        if not timeout > 0 or not connect_timeout > 0:
            raise ValueError("timeouts must be positive numbers of seconds")
        self.socket_path = socket_path
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._info: InstanceInfo | None = None

    @property
    def info(self) -> InstanceInfo:
        if self._info is None:
            self._info = fetch_info(self.socket_path, self.connect_timeout, self.timeout)
        return self._info

    @property
    def instance_id(self) -> str:
        return self.info.instance_id

    @property
    def max_session_size(self) -> int:
        return self.info.max_session_size

    def replicate_on_read(self) -> bool:
        return self.info.replicate_on_read

    def new_session_id(self) -> str:
        return secrets.token_urlsafe(32)


class RingClient(_LocalInstance):
    """The local instance's sessions, for threads (ring.backend.SessionBackend)."""

    def __init__(self, socket_path: str, *, timeout: float = DEFAULT_TIMEOUT,
                 connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> None:
        super().__init__(socket_path, timeout=timeout, connect_timeout=connect_timeout)
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"RingClient({self.socket_path!r})"

    # --- the port ------------------------------------------------------------------------------

    def load(self, session_id: str, hint: Locator | None) -> LoadedSession | None:
        return wire.loaded(session_id, self._call("load", wire.load_args(session_id, hint)))

    def save(self, session_id: str, base_version: int, data: bytes, *, touch_only: bool = False, lifetime: float | None = None) -> SaveResult:
        return wire.saved(self._call("save", wire.save_args(session_id, base_version, data, touch_only, lifetime)))

    def invalidate(self, session_id: str, base_version: int) -> None:
        self._call("invalidate", [session_id, base_version])

    def exists(self, session_id: str) -> bool:
        return bool(self._call("exists", [session_id]))

    def touch(self, session_id: str) -> bool:
        """Renew the session's last access without changing it; False when there is none."""
        return bool(self._call("touch", [session_id]))

    def close(self) -> None:
        """Close this thread's connection (others close with their threads or at exit)."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None and conn.pid == os.getpid():
            conn.close()

    def _call(self, op: str, args: list[Any]) -> Any:
        for attempt in (1, 2):
            conn: Connection | None = getattr(self._local, "conn", None)
            if conn is None or conn.pid != os.getpid():  # first call, or inherited across a fork
                conn = self._local.conn = Connection(self.socket_path, self.connect_timeout, self.timeout)
            retry = conn.used and attempt == 1
            try:
                return conn.call(op, args)
            except _Broken as exc:
                self._drop(conn)
                if not retry:
                    raise TransportError(f"lost the connection to the ring instance on {self.socket_path}: "
                                         f"{exc}") from None
            except SessionUnavailable:
                self._drop(conn)  # a late answer must not be read as the next call's
                raise
        raise AssertionError("unreachable")

    def _drop(self, conn: Connection) -> None:
        conn.close()
        self._local.conn = None
        self._info = None  # the instance may have restarted with other settings
