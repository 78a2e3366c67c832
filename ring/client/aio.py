"""AsyncRingClient: ring.backend.AsyncSessionBackend over the local socket, for asyncio workers.

One connection per event loop and process, opened at the first call on that loop; calls of many
tasks are pipelined on it (answers carry the request id, a reader task hands each to its caller).
When the connection breaks, every waiting call fails, the next call opens a new connection, and a
call that failed on a connection that had worked before is tried once more on a fresh one (as
RingClient). The instance's attributes (instance_id, ...) are asked on each new connection; read
before any call, they are asked once over a short blocking connection.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from ring.backend import LoadedSession, Locator, SaveResult
from ring.client import wire
from ring.client.sync import DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, InstanceInfo, _LocalInstance, info_from
from ring.errors import ProtocolError, RingError, SessionUnavailable, TransportError


class _Broken(Exception):
    pass


class _TimedOut(Exception):
    pass


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(_TimedOut())


class AsyncConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.pid = os.getpid()
        self.used = False
        self.closed = False
        self._reader = reader
        self._writer = writer
        self._next_id = 0
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._task = asyncio.get_running_loop().create_task(self._read_answers())

    async def call(self, op: str, args: list[Any], timeout: float) -> Any:
        if self.closed:
            raise _Broken("the connection is closed")
        self._next_id += 1
        rid = self._next_id
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting[rid] = future
        expiry = loop.call_later(timeout, _expire, future)  # not wait_for: no second future per call
        try:
            self._writer.write(wire.frame([rid, op, args]))
            return await future
        except _TimedOut:
            raise SessionUnavailable(f"the ring instance did not answer within {timeout:g} s") from None
        finally:
            expiry.cancel()
            self._waiting.pop(rid, None)

    async def _read_answers(self) -> None:
        reason = "the instance closed the connection"
        try:
            while True:
                header = await self._reader.readexactly(wire.HEADER.size)
                message = wire.decode(await self._reader.readexactly(wire.HEADER.unpack(header)[0]))
                if not (isinstance(message, list) and len(message) == 3 and isinstance(message[0], int)):
                    raise ProtocolError("malformed answer on the local socket")
                future = self._waiting.get(message[0])
                if future is not None and not future.done():
                    self.used = True
                    try:
                        future.set_result(wire.answer(message)[1])
                    except RingError as exc:
                        future.set_exception(exc)
        except (OSError, asyncio.IncompleteReadError, ProtocolError) as exc:
            reason = str(exc) or reason
        finally:
            self.closed = True
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(_Broken(reason))
            self._writer.close()

    def close(self) -> None:
        self.closed = True
        self._task.cancel()
        self._writer.close()


class AsyncRingClient(_LocalInstance):
    """The local instance's sessions, for coroutines (ring.backend.AsyncSessionBackend)."""

    def __init__(self, socket_path: str, *, timeout: float = DEFAULT_TIMEOUT,
                 connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> None:
        super().__init__(socket_path, timeout=timeout, connect_timeout=connect_timeout)
        self._conns: dict[asyncio.AbstractEventLoop, AsyncConnection] = {}
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"AsyncRingClient({self.socket_path!r})"

    async def load(self, session_id: str, hint: Locator | None) -> LoadedSession | None:
        return wire.loaded(session_id, await self._call("load", wire.load_args(session_id, hint)))

    async def save(self, session_id: str, base_version: int, data: bytes, *,
                   touch_only: bool = False, lifetime: float | None = None) -> SaveResult:
        return wire.saved(await self._call("save", wire.save_args(session_id, base_version, data, touch_only, lifetime)))

    async def invalidate(self, session_id: str, base_version: int) -> None:
        await self._call("invalidate", [session_id, base_version])

    async def exists(self, session_id: str) -> bool:
        return bool(await self._call("exists", [session_id]))

    async def touch(self, session_id: str) -> bool:
        return bool(await self._call("touch", [session_id]))

    async def connect(self) -> InstanceInfo:
        """Open this loop's connection if it is not open, and return the instance's attributes
        (without the blocking connection their properties would open); TransportError when the
        instance does not answer."""
        await self._connection()
        assert self._info is not None  # asked on every new connection
        return self._info

    async def aclose(self) -> None:
        """Close this loop's connection."""
        conn = self._conns.pop(asyncio.get_running_loop(), None)
        if conn is not None:
            conn.close()

    async def _connection(self) -> AsyncConnection:
        if self._pid != os.getpid():  # inherited across a fork: none of these are ours
            self._conns, self._locks, self._info, self._pid = {}, {}, None, os.getpid()
        loop = asyncio.get_running_loop()
        for gone in [other for other in self._conns if other.is_closed()]:  # loops of finished runs
            del self._conns[gone]
            self._locks.pop(gone, None)
        conn = self._conns.get(loop)
        if conn is not None and not conn.closed:
            return conn
        lock = self._locks.setdefault(loop, asyncio.Lock())
        async with lock:
            conn = self._conns.get(loop)
            if conn is None or conn.closed:
                try:
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_unix_connection(self.socket_path), self.connect_timeout)
                except (OSError, TimeoutError) as exc:
                    raise TransportError(
                        f"cannot reach the ring instance on {self.socket_path}: "
                        f"{getattr(exc, 'strerror', None) or exc or 'timed out'}; "
                        "is `ring serve` running with this <local-socket>?") from None
                conn = AsyncConnection(reader, writer)
                try:  # the instance's attributes, without blocking the loop later
                    self._info = info_from(await conn.call("hello", [], self.timeout))
                except _Broken as exc:
                    conn.close()
                    raise TransportError(f"the ring instance on {self.socket_path} closed the connection: "
                                         f"{exc}") from None
                self._conns[loop] = conn
            return conn

    async def _call(self, op: str, args: list[Any]) -> Any:
        for attempt in (1, 2):
            conn = await self._connection()
            retry = conn.used and attempt == 1
            try:
                return await conn.call(op, args, self.timeout)
            except _Broken as exc:
                if not retry:
                    raise TransportError(f"lost the connection to the ring instance on {self.socket_path}: "
                                         f"{exc}") from None
        raise AssertionError("unreachable")
