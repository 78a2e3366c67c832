"""gRPC server side: decode, admit, hand to the engine, encode. No decisions here.

Admission: every call except Status must come from an address of a cluster member, carry a
valid `x-ring-auth` token when a key is configured, and decode cleanly; otherwise it is refused
with a log line (never a session id) and the instance and its data are untouched. Size limits
are enforced by the server options (max receive message length).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc

from ring.core import messages as m
from ring.errors import ProtocolError
from ring.io import codec
from ring.io._proto import ring_pb2 as pb
from ring.io._proto import ring_pb2_grpc
from ring.io.transport import AUTH_METADATA, auth_token

if TYPE_CHECKING:
    from ring.io.runtime import Engine

log = logging.getLogger("ring.service")


def peer_ip(context: grpc.aio.ServicerContext) -> str:
    """'ipv4:127.0.0.1:5555' -> '127.0.0.1'; 'ipv6:[::1]:5555' -> '::1'."""
    peer = context.peer() or ""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6":
        return rest.rsplit(":", 1)[0].strip("[]")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    return peer


class RingService(ring_pb2_grpc.RingServicer):
    def __init__(self, engine: Engine, member_ips: frozenset[str], key: str | None,
                 max_record: int) -> None:
        self.engine = engine
        self.member_ips = member_ips
        self.key = key
        self.max_record = max_record
        self.refused = 0

    async def _refuse(self, context: grpc.aio.ServicerContext, code: grpc.StatusCode, why: str) -> None:
        self.refused += 1
        log.warning("refused a call from %s: %s", context.peer(), why)
        await context.abort(code, why)

    async def _admit(self, request: Any, context: grpc.aio.ServicerContext) -> m.Message:
        if peer_ip(context) not in self.member_ips:
            await self._refuse(context, grpc.StatusCode.PERMISSION_DENIED, "not a cluster member address")
        try:
            msg = codec.decode(request, self.max_record)
        except ProtocolError as exc:
            await self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT, f"malformed: {exc}")
            raise AssertionError("unreachable") from exc
        if self.key is not None:
            token = dict(context.invocation_metadata() or ()).get(AUTH_METADATA, "")
            if not hmac.compare_digest(str(token), auth_token(self.key, msg.header.sender)):
                await self._refuse(context, grpc.StatusCode.UNAUTHENTICATED, "bad or missing cluster key")
        return msg

    async def _unary(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        msg = await self._admit(request, context)
        reply = self.engine.handle(msg)
        if reply is None:
            await self._refuse(context, grpc.StatusCode.FAILED_PRECONDITION, "not accepted")
        assert reply is not None
        if isinstance(reply, m.JoinReply | m.PingReply):
            reply = type(reply)(**{**_fields(reply), "wall_time": time.time()})
        return codec.encode(reply)

    Ping = IndirectPing = Join = Claim = Release = DropBackups = _unary

    async def Replicate(self, request_iterator: AsyncIterator[pb.Batch],
                        context: grpc.aio.ServicerContext) -> AsyncIterator[pb.BatchAck]:
        async for request in request_iterator:
            msg = await self._admit(request, context)
            if not isinstance(msg, m.Batch):
                await self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT, "only batches on this stream")
            reply = self.engine.handle(msg)
            if reply is not None:
                yield codec.encode(reply)

    async def Status(self, request: pb.StatusRequest, context: grpc.aio.ServicerContext) -> pb.StatusReply:
        return self.engine.status_reply()


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}
