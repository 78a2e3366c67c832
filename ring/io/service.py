"""gRPC server side: admit, decode, hand to the core, encode. No decisions here.

Admission happens when a call opens, before it holds anything but its slot: every method is
served by a request-streaming handler (a unary client cannot tell), so the checks run before the
first message is read, in this order:

1. the peer's address is a member's (PERMISSION_DENIED); an address not known makes the member
   host names resolve again first, rate-limited (ring.io.members): a member may have moved;
2. its credentials name a member (ring.io.security): the client certificate with mutual TLS
   (PERMISSION_DENIED), a fresh call token with a key (UNAUTHENTICATED). Checks 1 and 2 wait for
   nothing but that one shared resolution: a call that fails them never holds a slot;
3. this address and sender (the member the credentials name; "" without credentials) have fewer
   than `max_calls_per_address` calls open (RESOURCE_EXHAUSTED): one peer cannot take the
   server's whole call limit;
4. the first message comes within `first_message_timeout` (DEADLINE_EXCEEDED), decodes
   (INVALID_ARGUMENT), and its header's sender is the member the credentials name, and a member
   at all (PERMISSION_DENIED). On a stream every later message must keep that sender.

A refused call is counted (`refused`, and per reason in `refusals`) and logged once per peer
address and reason per `log_interval`, with how many were refused since (`RefusalLog`): never a
session id, never a traceback. Size limits are the server options' (max receive message length).
Requests are parsed here, not by grpc (see `add_to_server`), so that bytes which are not
protobuf get INVALID_ARGUMENT instead of an error traceback per call.

The servicer talks to the engine through `Core` (handle a message, report status); replies to a
Join or a Ping carry this host's wall clock, stamped here, for the peers' clock checks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote

import grpc
from google.protobuf.message import DecodeError

from ring.core import messages as wire
from ring.errors import ProtocolError
from ring.io import codec
from ring.io._proto import ring_pb2 as pb
from ring.io.members import MemberAddresses
from ring.io.security import CertificateNames, Refused, TokenVerifier

log = logging.getLogger("ring.service")

MAX_CLAIMS_PER_CALL = 1024  # a ClaimMany's claims (GrpcTransport sends at most CLAIMS_PER_CALL)


class Core(Protocol):
    """What the servicer needs of the engine."""

    def handle(self, message: wire.Message) -> wire.Reply | None: ...

    def together(self) -> AbstractContextManager[None]:
        """Messages handled inside (no await between them) are finished once, at its end."""
        ...

    def status_reply(self) -> pb.StatusReply: ...


@dataclass(frozen=True, slots=True)
class AdmissionLimits:
    """How much one peer may hold before it is checked further (ring.config gives server.xml's)."""

    max_calls_per_address: int = 320  # per address and member (ring.config has the reason)
    first_message_timeout: float = 5.0  # a member sends its first message at once; a stranger waits
    log_interval: float = 10.0  # one refusal line per peer address and reason this often


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


class RefusalLog:
    """One warning per (peer address, kind of refusal) per interval, with the count refused meanwhile."""

    MAX_KEYS = 4096  # distinct (address, reason) pairs remembered; beyond, the table starts over

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._pending: dict[tuple[str, str], tuple[float, int]] = {}  # -> (last logged, refused since)

    def refused(self, address: str, kind: str, why: str) -> None:
        """One refusal of kind `kind` (a status code name) from `address`; `why` is logged as the
        example of the interval's refusals of that kind."""
        now = self._clock()
        key = (address, kind)
        last, count = self._pending.get(key, (-self.interval - 1.0, 0))
        count += 1
        if now - last >= self.interval:
            more = f" ({count} {kind} calls since the last report)" if count > 1 else ""
            log.warning("refused a call from %s: %s%s", address or "an unknown peer", why, more)
            last, count = now, 0
        if len(self._pending) >= self.MAX_KEYS and key not in self._pending:
            self._pending.clear()
        self._pending[key] = (last, count)


class _PeerGoneAtStop(logging.Filter):
    """While this instance stops, a stream's closing status to a peer that already exited (the
    whole ring stopping at once) fails inside grpc, which logs it with a traceback: expected, so
    it is dropped (anything else grpc logs still passes)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "ExecuteBatchError" not in record.getMessage() and "ExecuteBatchError" not in str(record.exc_info)


class RingService:
    def __init__(self, core: Core, member_ips: frozenset[str] | MemberAddresses, key: str | None,
                 max_record: int, *,
                 me: str = "", members: frozenset[str] | None = None,
                 certificates: CertificateNames | None = None,
                 limits: AdmissionLimits = AdmissionLimits(), max_message: int = 4 << 20) -> None:
        self.core = core
        self.max_message = max_message  # the server's limit on one reply (ClaimMany answers under it)
        self.member_ips = member_ips
        self.key = key
        self.max_record = max_record
        self.members = members  # None: any sender the core accepts (tests without a config)
        self.tokens = TokenVerifier(key, me) if key else None
        self.certificates = certificates  # None: no mutual TLS, or its identities are not checked
        self.limits = limits
        self.refused = 0
        self.refusals: Counter[str] = Counter()  # per reason, for the operator
        self.stopping = False
        self._log = RefusalLog(limits.log_interval)
        self._open: Counter[tuple[str, str]] = Counter()  # (address, sender) -> calls open now
        self._streams: set[asyncio.Task[Any]] = set()  # the Replicate calls in progress

    @property
    def insecure(self) -> bool:
        """Neither a key nor mutual TLS: any process that reaches the port is a full peer."""
        return self.tokens is None and self.certificates is None

    async def _refuse(self, context: grpc.aio.ServicerContext, code: grpc.StatusCode, why: str) -> None:
        self.refused += 1
        self.refusals[code.name] += 1
        self._log.refused(peer_ip(context), code.name, why)
        await context.abort(code, why)

    @contextmanager
    def _slot(self, address: str, sender: str) -> Iterator[bool]:
        """Hold one of the open calls of `sender` ("": not known before its first message) at
        `address`; False when it has all of them already."""
        key = (address, sender)
        if self._open[key] >= self.limits.max_calls_per_address:
            yield False
            return
        self._open[key] += 1
        try:
            yield True
        finally:
            self._open[key] -= 1
            if not self._open[key]:
                del self._open[key]

    async def _too_many(self, context: grpc.aio.ServicerContext) -> None:
        await self._refuse(context, grpc.StatusCode.RESOURCE_EXHAUSTED, "too many open calls from this "
                           f"address and sender (max {self.limits.max_calls_per_address})")

    def _credentials(self, context: grpc.aio.ServicerContext, method: str) -> str:
        """The member the call's credentials name ("" without any), or Refused."""
        named = ""
        if self.certificates is not None:
            named = self.certificates.member_of(context.auth_context() or {})
        if self.tokens is not None:
            signed = self.tokens.check(context.invocation_metadata(), method, fresh=method != "Status")
            if named and signed != named:
                raise Refused(grpc.StatusCode.PERMISSION_DENIED,
                              f"call token of {signed} on the certificate of {named}")
            named = signed
        return named

    async def _open_call(self, context: grpc.aio.ServicerContext, method: str) -> str:
        """Checks 1-2 of the module docstring: the authenticated sender, or the call is aborted."""
        if self.stopping:  # a call that arrives while the port closes (its peer may be gone already)
            await context.abort(grpc.StatusCode.UNAVAILABLE, "instance stopping")
        if not await self._member_address(peer_ip(context)):
            await self._refuse(context, grpc.StatusCode.PERMISSION_DENIED, "not a cluster member address")
        try:
            return self._credentials(context, method)
        except Refused as refused:
            await self._refuse(context, refused.code, refused.why)
            raise AssertionError("unreachable") from refused

    async def _member_address(self, ip: str) -> bool:
        """Check 1. A fixed set (tests) is only looked up; MemberAddresses may resolve again."""
        if isinstance(self.member_ips, MemberAddresses):
            return await self.member_ips.admits(ip)
        return ip in self.member_ips

    async def _first(self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
        try:
            return await asyncio.wait_for(anext(requests), self.limits.first_message_timeout)
        except (TimeoutError, StopAsyncIteration):
            await self._refuse(context, grpc.StatusCode.DEADLINE_EXCEEDED, "no message within "
                               f"{self.limits.first_message_timeout:g} s of opening the call")
            raise AssertionError("unreachable") from None

    async def _admit(self, request: Any, context: grpc.aio.ServicerContext, sender: str = "") -> wire.Message:
        """Check 4: shape and sender. `sender`: the member the credentials (or, without any, the
        stream's first message) named; "" admits any member."""
        if request is None:
            await self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT, "malformed: not a protobuf message")
        try:
            msg = codec.decode(request, self.max_record)
        except ProtocolError as exc:
            await self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT, f"malformed: {exc}")
            raise AssertionError("unreachable") from exc
        if sender and msg.header.sender != sender:
            await self._refuse(context, grpc.StatusCode.PERMISSION_DENIED,
                               f"message signed by {sender} claims to be from another instance")
        if self.members is not None and msg.header.sender not in self.members:
            await self._refuse(context, grpc.StatusCode.PERMISSION_DENIED, "sender is not a member of the ring")
        return msg

    def unary(self, method: str) -> Callable[[AsyncIterator[Any], grpc.aio.ServicerContext], Any]:
        async def serve(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
            sender = await self._open_call(context, method)
            with self._slot(peer_ip(context), sender) as admitted:
                if not admitted:
                    await self._too_many(context)
                msg = await self._admit(await self._first(requests, context), context, sender)
                reply = self.core.handle(msg)
                if reply is None:
                    await self._refuse(context, grpc.StatusCode.FAILED_PRECONDITION, "not accepted")
                assert reply is not None
                return codec.encode(reply, wall_time=time.time())

        return serve

    async def claim_many(self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> pb.ClaimManyReply:
        """Claims of one claimer, handled in order as unary Claims are; answered up to what fits
        in one reply, whatever record each grant carries (the claimer sends the rest again)."""
        sender = await self._open_call(context, "ClaimMany")
        with self._slot(peer_ip(context), sender) as admitted:
            if not admitted:
                await self._too_many(context)
            request = await self._first(requests, context)
            if request is None or not 0 < len(request.claims) <= MAX_CLAIMS_PER_CALL:
                await self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT,
                                   f"malformed: a ClaimMany holds 1 to {MAX_CLAIMS_PER_CALL} claims")
            out = pb.ClaimManyReply()
            used, room = 0, self.max_message - (1 << 16)
            messages = []
            for claim in request.claims:
                messages.append(msg := await self._admit(claim, context, sender))
                sender = msg.header.sender  # every claim of the call from one sender
            with self.core.together():  # no await inside: one batch and one read view for the call
                for msg in messages:
                    if out.replies and used + self.max_record + 1024 > room:
                        break  # the next grant might not fit: unanswered, so not handled
                    reply = self.core.handle(msg)
                    if reply is None:
                        break
                    encoded = codec.encode(reply)
                    used += encoded.ByteSize()
                    out.replies.append(encoded)
            if not out.replies:
                await self._refuse(context, grpc.StatusCode.FAILED_PRECONDITION, "not accepted")
            return out

    async def replicate(self, requests: AsyncIterator[pb.Batch],
                        context: grpc.aio.ServicerContext) -> AsyncIterator[pb.BatchAck]:
        task = asyncio.current_task()
        if task is not None:
            self._streams.add(task)
        try:
            sender = await self._open_call(context, "Replicate")
            with self._slot(peer_ip(context), sender) as admitted:
                if not admitted:
                    await self._too_many(context)
                request = await self._first(requests, context)
                while True:
                    msg = await self._admit(request, context, sender)
                    sender = msg.header.sender
                    if not isinstance(msg, wire.Batch):
                        await self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT, "only batches on this stream")
                    reply = self.core.handle(msg)
                    if reply is not None:
                        yield codec.encode(reply)
                    try:
                        request = await anext(requests)
                    except StopAsyncIteration:
                        return
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
        logging.getLogger("grpc._cython.cygrpc").addFilter(_PeerGoneAtStop())
        for task in list(self._streams):
            task.cancel()

    async def status(self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> pb.StatusReply:
        if self.tokens is not None:  # with mutual TLS, the handshake already wants the cluster's CA
            try:
                self.tokens.check(context.invocation_metadata(), "Status", fresh=False)
            except Refused as refused:
                await self._refuse(context, refused.code, refused.why)
        with self._slot(peer_ip(context), "status") as admitted:
            if not admitted:
                await self._too_many(context)
            await self._first(requests, context)
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
    """The ring.v1.Ring service on `server`: every method with a request-streaming handler, so that
    admission runs when a call opens (see above), with requests parsed leniently."""
    handlers = {}
    for method, request_type, reply_type in codec.RPCS.values():
        if method == "Replicate":
            handler = grpc.stream_stream_rpc_method_handler(
                service.replicate, request_deserializer=_parser(request_type),
                response_serializer=reply_type.SerializeToString)
        else:
            handler = grpc.stream_unary_rpc_method_handler(
                service.unary(method), request_deserializer=_parser(request_type),
                response_serializer=reply_type.SerializeToString)
        handlers[method] = handler
    handlers["ClaimMany"] = grpc.stream_unary_rpc_method_handler(
        service.claim_many, request_deserializer=_parser(pb.ClaimMany),
        response_serializer=pb.ClaimManyReply.SerializeToString)
    handlers["Status"] = grpc.stream_unary_rpc_method_handler(
        service.status, request_deserializer=_parser(pb.StatusRequest),
        response_serializer=pb.StatusReply.SerializeToString)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("ring.v1.Ring", handlers),))
    server.add_registered_method_handlers("ring.v1.Ring", handlers)
