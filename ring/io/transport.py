"""gRPC client side: one channel per peer, unary calls, and the replication stream.

This is the one place where grpc.RpcError (and OSError) is caught: a failed call becomes the
core input `Unreachable(peer, request)`; a reply becomes `Received(reply, in_reply_to=request)`.
Nothing here decides anything.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Callable
from typing import Any

import grpc

from ring.core import Received, Unreachable
from ring.core import messages as m
from ring.errors import ProtocolError
from ring.io import codec
from ring.io._proto import ring_pb2_grpc

log = logging.getLogger("ring.transport")

AUTH_METADATA = "x-ring-auth"


def auth_token(key: str, sender: str) -> str:
    return hmac.new(key.encode(), sender.encode(), hashlib.sha256).hexdigest()


def channel_credentials(replication: Any) -> grpc.ChannelCredentials | None:
    """This host's client side of mutual TLS when <encrypted> is true (ring.config.ReplicationSettings)."""
    if not replication.encrypted:
        return None
    return grpc.ssl_channel_credentials(_read(replication.tls_ca_file), _read(replication.tls_key_file),
                                        _read(replication.tls_cert_file))


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def channel_options(max_message: int) -> list[tuple[str, Any]]:
    return [
        ("grpc.max_send_message_length", max_message),
        ("grpc.max_receive_message_length", max_message),
        ("grpc.keepalive_time_ms", 10_000),
        ("grpc.enable_retries", 0),
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
    ]


class Peer:
    """The client side of one peer: a channel, a stub, the replication stream."""

    def __init__(self, name: str, address: str, deliver: Callable[[Any], None], *,
                 credentials: grpc.ChannelCredentials | None, metadata: tuple[tuple[str, str], ...],
                 max_message: int, max_record: int) -> None:
        self.name = name
        self.address = address
        self._deliver = deliver
        self._metadata = metadata
        self._max_record = max_record
        options = channel_options(max_message)
        if credentials is not None:
            self.channel = grpc.aio.secure_channel(address, credentials, options=options)
        else:
            self.channel = grpc.aio.insecure_channel(address, options=options)
        self.stub = ring_pb2_grpc.RingStub(self.channel)
        self._queue: asyncio.Queue[m.Batch] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------ unary

    def call(self, request: m.Request, timeout: float) -> None:
        task = asyncio.get_running_loop().create_task(self._call(request, timeout))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call(self, request: m.Request, timeout: float) -> None:
        method = getattr(self.stub, type(request).__name__)
        try:
            reply = await method(codec.encode(request), timeout=timeout, metadata=self._metadata)
            decoded = codec.decode(reply, self._max_record)
        except (grpc.RpcError, OSError, ProtocolError) as exc:
            log.debug("%s to %s failed: %s", type(request).__name__, self.name, _brief(exc))
            self._deliver(Unreachable(self.name, request))
            return
        self._deliver(Received(decoded, in_reply_to=request))

    # ------------------------------------------------------------ replication stream

    def stream(self, batch: m.Batch) -> None:
        self._queue.put_nowait(batch)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    async def _write_loop(self) -> None:
        call = None
        reader: asyncio.Task[None] | None = None
        last: m.Batch | None = None
        try:
            while True:
                batch = await self._queue.get()
                last = batch
                if call is None or (reader is not None and reader.done()):
                    call = self.stub.Replicate(metadata=self._metadata)
                    reader = asyncio.get_running_loop().create_task(self._read_loop(call, batch))
                try:
                    await call.write(codec.encode(batch))
                except (grpc.RpcError, OSError, asyncio.InvalidStateError) as exc:
                    log.debug("replication stream to %s broke: %s", self.name, _brief(exc))
                    call.cancel()
                    call = None
                    self._deliver(Unreachable(self.name, last))
        except asyncio.CancelledError:
            if call is not None:
                call.cancel()
            raise

    async def _read_loop(self, call: Any, first: m.Batch) -> None:
        try:
            async for ack in call:
                self._deliver(Received(codec.decode(ack, self._max_record)))
        except (grpc.RpcError, OSError, ProtocolError) as exc:
            log.debug("replication stream from %s ended: %s", self.name, _brief(exc))
            self._deliver(Unreachable(self.name, first))

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
        for task in list(self._tasks):
            task.cancel()
        await self.channel.close(grace=None)


def _brief(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return f"{type(exc).__name__}: {exc}"


async def join_probe(peer: Peer, join: m.Join, timeout: float) -> tuple[float, m.JoinReply, float] | None:
    """Send a Join and return (t_send, reply, t_recv) in wall-clock seconds, or None if unanswered."""
    import time

    t_send = time.time()
    try:
        reply = await peer.stub.Join(codec.encode(join), timeout=timeout, metadata=peer._metadata)
        decoded = codec.decode(reply)
    except (grpc.RpcError, OSError, ProtocolError):
        return None
    t_recv = time.time()
    assert isinstance(decoded, m.JoinReply)
    return t_send, decoded, t_recv
