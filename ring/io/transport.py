"""How an engine talks to its peers: the `Transport` seam and its gRPC implementation.

An engine hands every outgoing request to its transport (`send`) and never waits: the outcome
comes back through the `deliver` sink it was built with, as a core input, `Received(reply,
in_reply_to=request)` or `Unreachable(peer, request)`. This is the one place where a failed call
(grpc.RpcError, OSError, a reply that does not decode) becomes ring's own, h11-style: an input,
not an exception. Batches travel on one long-lived bidirectional stream per peer; everything else
is a unary call with a deadline per kind of request (`CallTimeouts`). Claims sent to one peer in
the same turn of the loop (the eager promotion of a dead owner's orphans starts hundreds at once)
travel together in one ClaimMany call, up to CLAIMS_PER_CALL; a peer that answers only the first
ones gets the rest again, and a peer without ClaimMany (an older version) gets one call each.

`probe_clock` asks a peer for its wall clock with a Join of incarnation 0 (a clock probe, which
the peer's core answers without recording anything), for the start-up checks of ring.host.

ring.io.memory is the in-memory twin, for running engines in one process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import grpc

from ring.core import Input, Received, Unreachable
from ring.core import messages as wire
from ring.core.settings import CoreSettings
from ring.errors import ProtocolError
from ring.io import codec
from ring.io._proto import ring_pb2 as pb
from ring.io._proto import ring_pb2_grpc
from ring.io.security import CallSigner

log = logging.getLogger("ring.transport")

Deliver = Callable[[Input | list[Input]], Any]  # a list: inputs that arrived together

CLAIMS_PER_CALL = 256  # claims in one ClaimMany call (ring.io.service accepts up to 1024)


@dataclass(frozen=True, slots=True)
class ClockReading:
    """A peer's wall clock, read between two readings of ours (seconds since the epoch)."""

    sent: float
    peer: float
    received: float


@dataclass(frozen=True, slots=True)
class CallTimeouts:
    """How long a unary call may take before it counts as unreachable."""

    probe: float  # pings and indirect pings: a late answer is no evidence anyway
    other: float  # claims, releases, drops: a failure timeout

    @classmethod
    def of(cls, settings: CoreSettings) -> CallTimeouts:
        return cls(probe=2 * settings.ping_interval, other=settings.failure_timeout)

    def for_request(self, request: wire.Request) -> float:
        return self.probe if isinstance(request, wire.Ping | wire.IndirectPing) else self.other


class Transport(Protocol):
    def send(self, to: str, request: wire.Request) -> None:
        """Send `request` to peer `to`; its outcome is delivered later as a core input."""
        ...

    async def probe_clock(self, to: str, timeout: float) -> ClockReading | None:
        """The peer's wall clock (None: no answer within `timeout`)."""
        ...

    async def flush(self, timeout: float) -> None:
        """Wait (at most `timeout`) until the requests sent so far were answered or failed."""
        ...

    async def close(self) -> None: ...


def channel_options(max_message: int) -> list[tuple[str, Any]]:
    return [
        ("grpc.max_send_message_length", max_message),
        ("grpc.max_receive_message_length", max_message),
        ("grpc.keepalive_time_ms", 10_000),
        ("grpc.enable_retries", 0),
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
        # Peers are dialled by host name and gRPC resolves it again when a connection fails; by
        # default not within 30 s of the last resolution, so a member back at a new address (a
        # rescheduled pod) would stay unreachable that long. Once a second is plenty for DNS.
        ("grpc.dns_min_time_between_resolutions_ms", 1000),
        # How long one connection attempt may take (gRPC's name: min_reconnect_backoff; default
        # 20 s). An attempt to an address nobody holds any more (the pod that moved) gets no
        # answer at all, and a stream waits for it: fail it soon, so the next one uses the new address.
        ("grpc.min_reconnect_backoff_ms", 2000),
    ]


class GrpcTransport:
    """One channel per peer; unary calls and the replication stream, over grpc.aio."""

    def __init__(self, me: str, addresses: dict[str, str], deliver: Deliver, *,
                 credentials: grpc.ChannelCredentials | None, signer: CallSigner | None,
                 max_message: int, max_record: int, timeouts: CallTimeouts,
                 server_names: dict[str, str] | None = None) -> None:
        """`server_names`: with TLS, peer -> the name its server certificate must have (default:
        the host of its address, as any TLS client checks)."""
        self.me = me
        self._deliver = deliver
        self._signer = signer
        self._max_record = max_record
        self._timeouts = timeouts
        names = server_names or {}
        self._peers = {
            name: _Peer(name, address, credentials, channel_options(max_message) + (
                [("grpc.ssl_target_name_override", names[name])] if credentials is not None and name in names
                else []))
            for name, address in addresses.items() if name != me
        }
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, to: str, request: wire.Request) -> None:
        peer = self._peers[to]
        if isinstance(request, wire.Batch):
            peer.queue.put_nowait(request)
            if peer.writer is None or peer.writer.done():
                peer.writer = asyncio.get_running_loop().create_task(self._write_loop(peer))
            return
        if isinstance(request, wire.Claim) and peer.claim_many:
            peer.claims.append(request)
            if len(peer.claims) == 1:  # the first of this turn: send them all at its end
                asyncio.get_running_loop().call_soon(self._send_claims, peer)
            return
        self._spawn(self._call(peer, request))

    def _spawn(self, call: Any) -> None:
        task = asyncio.get_running_loop().create_task(call)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _send_claims(self, peer: _Peer) -> None:
        claims, peer.claims = peer.claims, []
        if len(claims) == 1:
            self._spawn(self._call(peer, claims[0]))
            return
        for i in range(0, len(claims), CLAIMS_PER_CALL):
            self._spawn(self._call_many(peer, claims[i:i + CLAIMS_PER_CALL]))

    async def _call_many(self, peer: _Peer, claims: list[wire.Claim]) -> None:
        try:
            reply = await peer.stub.ClaimMany(pb.ClaimMany(claims=[codec.encode(c) for c in claims]),
                                              timeout=self._timeouts.other, metadata=self._metadata(peer, "ClaimMany"))
            answers = [codec.decode(r, self._max_record) for r in reply.replies]
            matched = zip(answers, claims, strict=False)
            if len(answers) > len(claims) or any(
                    not isinstance(a, wire.ClaimReply) or a.claim_id != c.claim_id for a, c in matched):
                raise ProtocolError("ClaimMany answers do not match its claims")
        except grpc.RpcError as exc:
            if isinstance(exc, grpc.aio.AioRpcError) and exc.code() is grpc.StatusCode.UNIMPLEMENTED:
                peer.claim_many = False  # an older peer: one call per claim from now on
                for claim in claims:
                    self._spawn(self._call(peer, claim))
                return
            answers, failure = [], _brief(exc)
        except (OSError, ProtocolError) as exc:
            answers, failure = [], _brief(exc)
        else:
            failure = "" if answers else "no claim answered"
        if answers:  # one call's answers, fed together (one batch, one read view)
            self._deliver([Received(message=answer, in_reply_to=claim) for claim, answer in zip(claims, answers, strict=False)])
        rest = claims[len(answers):]
        if rest and answers:  # the peer answered what fitted in one reply: the rest again
            self._spawn(self._call_many(peer, rest) if len(rest) > 1 else self._call(peer, rest[0]))
        elif rest:
            log.debug("ClaimMany of %d to %s failed: %s", len(rest), peer.name, failure)
            self._deliver([Unreachable(peer=peer.name, request=claim) for claim in rest])

    def _metadata(self, peer: _Peer, method: str) -> tuple[tuple[str, str], ...]:
        """Fresh credentials for one call (a token is good for one call to one peer only)."""
        return self._signer.metadata(peer.name, method) if self._signer is not None else ()

    async def _call(self, peer: _Peer, request: wire.Request) -> None:
        name = codec.RPCS[type(request)][0]
        method = getattr(peer.stub, name)
        try:
            reply = await method(codec.encode(request), timeout=self._timeouts.for_request(request),
                                 metadata=self._metadata(peer, name))
            decoded = codec.decode(reply, self._max_record)
        except (grpc.RpcError, OSError, ProtocolError) as exc:
            log.debug("%s to %s failed: %s", type(request).__name__, peer.name, _brief(exc))
            self._deliver(Unreachable(peer=peer.name, request=request))
            return
        self._deliver(Received(message=decoded, in_reply_to=request))

    async def _write_loop(self, peer: _Peer) -> None:
        """Batches to `peer`, in order, on one Replicate call while it works.

        The core sends a batch again only when no ack came within its ack timeout (a failure
        timeout; a live stream acks in milliseconds). Then the call is taken for dead and the batch
        goes on a new one: after a cut, a call can be dead without either side knowing (its reset
        was lost on the blackholed link; acks that never come), and every later batch, resends
        included, would wait on it until keepalive noticed, tens of seconds, with the adoptions and
        writes behind them. A write that does not complete within a failure timeout is the same.
        The receiver acks a batch it already applied again, so a duplicate costs nothing."""
        call = None
        reader: asyncio.Task[None] | None = None
        last: tuple[int, int] | None = None  # (stream, seq) of the last batch written on `call`
        try:
            while True:
                batch = await peer.queue.get()
                if call is not None and last is not None and (batch.stream, batch.seq) <= last:
                    log.debug("replication stream to %s: no ack in time, a new call", peer.name)
                    call.cancel()
                    call = None
                if call is None or (reader is not None and reader.done()):
                    call = peer.stub.Replicate(metadata=self._metadata(peer, "Replicate"))
                    peer.stream_call = call
                    reader = asyncio.get_running_loop().create_task(self._read_loop(peer, call, batch))
                    last = None
                try:
                    await asyncio.wait_for(call.write(codec.encode(batch)), timeout=self._timeouts.other)
                    last = (batch.stream, batch.seq)
                except (TimeoutError, grpc.RpcError, OSError, asyncio.InvalidStateError) as exc:
                    log.debug("replication stream to %s broke: %s", peer.name, _brief(exc))
                    call.cancel()
                    call = None
                    peer.stream_call = None
                    self._deliver(Unreachable(peer=peer.name, request=batch))
        except asyncio.CancelledError:
            if call is not None:
                call.cancel()
            raise

    async def _read_loop(self, peer: _Peer, call: Any, first: wire.Batch) -> None:
        try:
            async for ack in call:
                self._deliver(Received(message=codec.decode(ack, self._max_record)))
        except (grpc.RpcError, OSError, ProtocolError) as exc:
            if peer.stream_call is not call:
                return  # a call given up for a new one (or after a broken write, told already)
            log.debug("replication stream from %s ended: %s", peer.name, _brief(exc))
            self._deliver(Unreachable(peer=peer.name, request=first))

    async def probe_clock(self, to: str, timeout: float) -> ClockReading | None:
        peer = self._peers[to]
        sent = time.time()
        probe = codec.encode(wire.Join(wire.Header(self.me, 0)), wall_time=sent)
        try:
            reply = await peer.stub.Join(probe, timeout=timeout, metadata=self._metadata(peer, "Join"))
            codec.decode(reply)
        except (grpc.RpcError, OSError, ProtocolError):
            return None
        return ClockReading(sent=sent, peer=codec.wall_time_of(reply), received=time.time())

    async def flush(self, timeout: float) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def close(self) -> None:
        for peer in self._peers.values():
            if peer.writer is not None:
                peer.writer.cancel()
        for task in list(self._tasks):
            task.cancel()
        for peer in self._peers.values():
            await peer.channel.close(grace=None)


class _Peer:
    def __init__(self, name: str, address: str, credentials: grpc.ChannelCredentials | None,
                 options: list[tuple[str, Any]]) -> None:
        self.name = name
        self.address = address
        if credentials is not None:
            self.channel = grpc.aio.secure_channel(address, credentials, options=options)
        else:
            self.channel = grpc.aio.insecure_channel(address, options=options)
        self.stub = ring_pb2_grpc.RingStub(self.channel)
        self.queue: asyncio.Queue[wire.Batch] = asyncio.Queue()
        self.writer: asyncio.Task[None] | None = None
        self.claims: list[wire.Claim] = []  # sent this turn of the loop, not yet on the wire
        self.claim_many = True  # False once the peer answered ClaimMany with UNIMPLEMENTED
        self.stream_call: Any = None  # the Replicate call batches go on now (None: none open)


def _brief(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return f"{type(exc).__name__}: {exc}"
