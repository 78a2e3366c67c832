"""The instance's local socket: web workers on this host reach the engine through it.

`LocalServer` serves ring.client.wire on a Unix socket, on the engine's own loop, and hands each
request to an AsyncSessionBackend (the engine's AsyncEngineBackend: no thread hop). Requests of
one connection are served concurrently and answered as they complete. The socket file gets the
configured mode (owner and group only by default: the group is the web server's); a stale file
left by a killed instance is replaced, a live one (another instance answering) refuses the start.
Frames larger than a session may be are refused and the connection closed. Session ids and data
are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
from typing import Any, cast

from ring.backend import AsyncSessionBackend, Locator, is_session_id
from ring.client import wire
from ring.errors import ConfigError, ProtocolError, RingError

log = logging.getLogger("ring.local")


class LocalServer:
    def __init__(self, backend: AsyncSessionBackend, path: str, mode: int = 0o660) -> None:
        self.backend = backend
        self.path = path
        self.mode = mode
        self.max_frame = backend.max_session_size + wire.MAX_FRAME_OVERHEAD
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[_Connection] = set()
        self._requests: set[asyncio.Task[None]] = set()  # outlive their connection: a write in flight
        # completes (its worker was told it is indeterminate); stop() cancels them

    async def start(self) -> None:
        _clear_stale(self.path)
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_unix_server(lambda: _Connection(self), self.path)
        except OSError as exc:
            raise ConfigError(f"cannot listen on the local socket {self.path}: {exc.strerror or exc}") from None
        os.chmod(self.path, self.mode)
        log.info("local socket %s (mode %o)", self.path, self.mode)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for conn in list(self._connections):
                conn.close()
            for task in self._requests:
                task.cancel()
            await asyncio.gather(*self._requests, return_exceptions=True)
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            self._server = None

    def _received(self, message: Any, conn: _Connection) -> None:
        request = asyncio.get_running_loop().create_task(self._serve(message, conn))
        self._requests.add(request)
        request.add_done_callback(self._requests.discard)

    async def _serve(self, message: Any, conn: _Connection) -> None:
        if not (isinstance(message, list) and len(message) == 3 and isinstance(message[0], int)
                and message[1] in wire.OPERATIONS and isinstance(message[2], list)):
            rid = message[0] if isinstance(message, list) and message and isinstance(message[0], int) else 0
            conn.write(wire.frame([rid, False, ["ProtocolError", "malformed request"]]))
            return
        rid, op, args = message
        try:
            value = await self._operation(op, args)
            out = wire.frame([rid, True, value])
        except RingError as exc:
            out = wire.frame([rid, False, wire.error_value(exc)])
        except (TypeError, ValueError) as exc:
            out = wire.frame([rid, False, ["ProtocolError", f"bad arguments to {op}: {exc}"]])
        except Exception:
            log.exception("local socket: %s failed", op)
            out = wire.frame([rid, False, ["ProtocolError", f"{op} failed inside the instance; see its log"]])
        conn.write(out)

    async def _operation(self, op: str, args: list[Any]) -> Any:
        b = self.backend
        if op == "hello":
            return [b.instance_id, b.max_session_size, b.replicate_on_read(), wire.PROTOCOL_VERSION]
        session_id = _session_id(args)
        if op == "load":
            _, primary, backup = args
            hint = Locator(str(primary), str(backup)) if primary else None
            return wire.loaded_value(await b.load(session_id, hint))
        if op == "save":
            _, base_version, data, touch_only, *more = args
            lifetime = more[0] if more else None
            if not isinstance(base_version, int) or base_version < 0 or not isinstance(data, bytes) or len(more) > 1:
                raise ValueError("base version must be a whole number and data bytes")
            if lifetime is not None and (isinstance(lifetime, bool) or not isinstance(lifetime, int | float)):
                raise ValueError("lifetime must be a number of seconds or None")
            return wire.saved_value(await b.save(session_id, base_version, data, touch_only=bool(touch_only),
                                                 lifetime=lifetime))
        if op == "invalidate":
            _, base_version = args
            await b.invalidate(session_id, int(base_version))
            return None
        if op == "exists":
            return await b.load(session_id, None) is not None
        if op == "touch":
            loaded = await b.load(session_id, None)
            if loaded is None:
                return False
            await b.save(session_id, loaded.version, loaded.data, touch_only=True)
            return True
        raise ValueError(f"unknown operation {op!r}")


class _Connection(asyncio.Protocol):
    """One worker's connection: frames in, each request served as a task, answers as they complete.

    A protocol rather than streams: no reader coroutine and no awaits per frame (measured with
    bench/local_hop.py's instant backend: about a tenth less CPU per request than streams).
    """

    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport; uvloop's is not a subclass of asyncio.Transport, so no isinstance check
        self.transport = cast(asyncio.Transport, transport)
        self.server._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._connections.discard(self)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        header = wire.HEADER.size
        while len(buffer) >= header:
            size = wire.HEADER.unpack_from(buffer)[0]
            if size > self.server.max_frame:
                log.warning("local socket: a %d-byte frame is over the limit; closing the connection", size)
                self.close()
                return
            if len(buffer) < header + size:
                return
            body = bytes(buffer[header:header + size])
            del buffer[:header + size]
            try:
                message = wire.decode(body)
            except ProtocolError as exc:
                log.warning("local socket: %s; closing the connection", exc)
                self.close()
                return
            self.server._received(message, self)

    def write(self, out: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(out)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _session_id(args: list[Any]) -> str:
    if not args or not isinstance(args[0], str) or not is_session_id(args[0]):
        raise ValueError("not a session id of this project")
    return args[0]


def _clear_stale(path: str) -> None:
    """Remove a socket file nobody answers on; refuse a live one or a file that is not a socket."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise ConfigError(f"<local-socket> {path} exists and is not a socket: remove it or choose another path")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(path)
    except OSError:
        os.unlink(path)  # left by an instance that was killed
        return
    finally:
        probe.close()
    raise ConfigError(f"<local-socket> {path} is in use by a running process: stop it or choose another path")
