"""gRPC server side: admit, decode, hand to the core, encode. No decisions here.

Admission: every call except Status must come from an address of a cluster member, carry a
valid `x-ring-auth` token when a key is configured, and decode cleanly; otherwise it is refused
with a log line (never a session id) and the instance and its data are untouched. Size limits
are enforced by the server options (max receive message length). Requests are parsed here, not
by grpc (see `add_to_server`), so that bytes which are not protobuf get INVALID_ARGUMENT and one
warning line instead of an error traceback per call.

The servicer talks to the engine through `Core` (handle a message, report status); replies to a
Join or a Ping carry this host's wall clock, stamped here, for the peers' clock checks.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol
from urllib.parse import unquote

import grpc
from google.protobuf.message import DecodeError

from ring.core import messages as wire
from ring.errors import ProtocolError
from ring.io import codec
from ring.io._proto import ring_pb2 as pb
from ring.io.security import AUTH_METADATA, auth_token

log = logging.getLogger("ring.service")


class Core(Protocol):
    """What the servicer needs of the engine."""

    def handle(self, message: wire.Message) -> wire.Reply | None: ...

    def status_reply(self) -> pb.StatusReply: ...


def peer_ip(context: grpc.aio.ServicerContext) -> str:
    """'ipv4:127.0.0.1:5555' -> '127.0.0.1'; 'ipv6:%5B::1%5D:5555' -> '::1'.

    gRPC percent-encodes the brackets (and a zone's '%') of IPv6 peers: decode before comparing.
    """
    peer = context.peer() or ""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6":
        return unquote(rest).rsplit(":", 1)[0].strip("[]")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    return peer


class RingService:
    def __init__(self, core: Core, member_ips: frozenset[str], key: str | None, max_record: int) -> None:
        self.core = core
        self.member_ips = member_ips
        self.key = key
        self.max_record = max_record
        self.refused = 0
        self.stopping = False
        self._streams: set[asyncio.Task[Any]] = set()  # the Replicate calls in progress

    async def _refuse(self, context: grpc.aio.ServicerContext, code: grpc.StatusCode, why: str) -> None:
        self.refused += 1
        log.warning("refused a call from %s: %s", context.peer(), why)
        await context.abort(code, why)

    async def _admit(self, request: Any, context: grpc.aio.ServicerContext, *,
                     sender_checked: str = "") -> wire.Message:
        """Address, shape and key checks; `sender_checked`: a stream already admitted this sender
        (address and key are checked once per stream, the shape of every message)."""
        if not sender_checked and peer_ip(context) not in self.member_ips:
            await self._refuse(context, grpc.StatusCode.PERMISSION_DENIED, "not a cluster member address")
        if request is None:
            await self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT, "malformed: not a protobuf message")
        try:
            msg = codec.decode(request, self.max_record)
        except ProtocolError as exc:
            await self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT, f"malformed: {exc}")
            raise AssertionError("unreachable") from exc
        if sender_checked:
            if msg.header.sender != sender_checked:
                await self._refuse(context, grpc.StatusCode.PERMISSION_DENIED, "sender changed on a stream")
        elif self.key is not None:
            token = dict(context.invocation_metadata() or ()).get(AUTH_METADATA, "")
            if not hmac.compare_digest(str(token), auth_token(self.key, msg.header.sender)):
                await self._refuse(context, grpc.StatusCode.UNAUTHENTICATED, "bad or missing cluster key")
        return msg

    async def unary(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        msg = await self._admit(request, context)
        reply = self.core.handle(msg)
        if reply is None:
            await self._refuse(context, grpc.StatusCode.FAILED_PRECONDITION, "not accepted")
        assert reply is not None
        return codec.encode(reply, wall_time=time.time())

    async def replicate(self, request_iterator: AsyncIterator[pb.Batch],
                        context: grpc.aio.ServicerContext) -> AsyncIterator[pb.BatchAck]:
        task = asyncio.current_task()
        if task is not None:
            self._streams.add(task)
        try:
            sender = ""
            async for request in request_iterator:
                msg = await self._admit(request, context, sender_checked=sender)
                sender = msg.header.sender
                if not isinstance(msg, wire.Batch):
                    await self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT, "only batches on this stream")
                reply = self.core.handle(msg)
                if reply is not None:
                    yield codec.encode(reply)
        except asyncio.CancelledError:
            if not self.stopping:
                raise
            # End it as broken, not finished, so the predecessor re-points at once.
            context.set_code(grpc.StatusCode.UNAVAILABLE)
            context.set_details("instance stopping")
        finally:
            self._streams.discard(task)  # type: ignore[arg-type]

    def end_streams(self) -> None:
        """Before the server stops: end every inbound replication stream (they never end on their
        own, so grpc would cancel them after the grace period and log each as an error)."""
        self.stopping = True
        for task in list(self._streams):
            task.cancel()

    async def status(self, request: pb.StatusRequest, context: grpc.aio.ServicerContext) -> pb.StatusReply:
        return self.core.status_reply()


def _parser(request_type: Any) -> Callable[[bytes], Any]:
    """Parse a request, or None when the bytes are not one (admission refuses None)."""

    def parse(raw: bytes) -> Any:
        try:
            return request_type.FromString(raw)
        except DecodeError:
            return None

    return parse


def add_to_server(service: RingService, server: grpc.aio.Server) -> None:
    """The ring.v1.Ring service on `server`, with requests parsed leniently (see above)."""
    handlers = {}
    for method, request_type, reply_type in codec.RPCS.values():
        if method == "Replicate":
            handler = grpc.stream_stream_rpc_method_handler(
                service.replicate, request_deserializer=_parser(request_type),
                response_serializer=reply_type.SerializeToString)
        else:
            handler = grpc.unary_unary_rpc_method_handler(
                service.unary, request_deserializer=_parser(request_type),
                response_serializer=reply_type.SerializeToString)
        handlers[method] = handler
    handlers["Status"] = grpc.unary_unary_rpc_method_handler(
        service.status, request_deserializer=_parser(pb.StatusRequest),
        response_serializer=pb.StatusReply.SerializeToString)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("ring.v1.Ring", handlers),))
    server.add_registered_method_handlers("ring.v1.Ring", handlers)
