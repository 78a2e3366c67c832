"""The in-memory twin of the gRPC transport: real engines of one process, wired to each other.

`MemoryNetwork` plays the network between engines running on one asyncio loop, as httpx's
MockTransport plays a server: `network.transport(name, deliver)` is a ring.io.transport.Transport,
and `network.attach(name, engine.handle)` makes an engine reachable. Delivery keeps gRPC's
shape: a request is answered on a later turn of the loop, a batch's acknowledgement comes back
without `in_reply_to` (as on the stream), every message is encoded to protobuf bytes and decoded
again on the way (so the codec is exercised as on the wire), and a failed call becomes the core
input `Unreachable`: at once when the peer is down (connection refused), after the call's
timeout when the link is cut (no answer). Faults: `cut`, `heal`, `detach` (a crash).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from ring.core import Received, Unreachable
from ring.core import messages as wire
from ring.io import codec
from ring.io.transport import CallTimeouts, ClockReading, Deliver

Handle = Callable[[wire.Message], "wire.Reply | None"]


def _over_the_wire(message: wire.Message) -> wire.Message:
    """The message as the peer sees it: encoded, serialized, parsed and decoded."""
    encoded = codec.encode(message)
    return codec.decode(type(encoded).FromString(encoded.SerializeToString()))


class MemoryNetwork:
    def __init__(self, timeouts: CallTimeouts | None = None) -> None:
        self.timeouts = timeouts or CallTimeouts(probe=1.0, other=2.0)
        self._handles: dict[str, Handle] = {}
        self._cut: set[tuple[str, str]] = set()
        self.delivered = 0

    def attach(self, name: str, handle: Handle) -> None:
        self._handles[name] = handle

    def detach(self, name: str) -> None:
        """The instance is gone (a crash): calls to it are refused."""
        self._handles.pop(name, None)

    def cut(self, a: str, b: str, *, both: bool = True) -> None:
        self._cut.add((a, b))
        if both:
            self._cut.add((b, a))

    def heal(self) -> None:
        self._cut.clear()

    def transport(self, me: str, deliver: Deliver) -> MemoryTransport:
        return MemoryTransport(self, me, deliver)

    def link_up(self, src: str, dst: str) -> bool:
        return (src, dst) not in self._cut

    def handle_of(self, name: str) -> Handle | None:
        return self._handles.get(name)


class MemoryTransport:
    def __init__(self, network: MemoryNetwork, me: str, deliver: Deliver) -> None:
        self.network = network
        self.me = me
        self._deliver = deliver
        self._closed = False

    def send(self, to: str, request: wire.Request) -> None:
        asyncio.get_running_loop().call_soon(self._carry, to, request)

    def _carry(self, to: str, request: wire.Request) -> None:
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        net = self.network
        handle = net.handle_of(to)
        if handle is None:
            self._deliver(Unreachable(peer=to, request=request))
            return
        if not net.link_up(self.me, to):
            loop.call_later(net.timeouts.for_request(request), self._unreachable, to, request)
            return
        reply = handle(_over_the_wire(request))
        net.delivered += 1
        if reply is None:
            return
        if not net.link_up(to, self.me):
            loop.call_later(net.timeouts.for_request(request), self._unreachable, to, request)
            return
        in_reply_to = None if isinstance(request, wire.Batch) else request
        loop.call_soon(self._answer, reply, in_reply_to)

    def _answer(self, reply: wire.Reply, in_reply_to: wire.Request | None) -> None:
        if not self._closed:
            self._deliver(Received(message=_over_the_wire(reply), in_reply_to=in_reply_to))

    def _unreachable(self, to: str, request: wire.Request) -> None:
        if not self._closed:
            self._deliver(Unreachable(peer=to, request=request))

    async def probe_clock(self, to: str, timeout: float) -> ClockReading | None:
        if self.network.handle_of(to) is None or not self.network.link_up(self.me, to):
            return None
        now = time.time()
        return ClockReading(sent=now, peer=now, received=now)

    async def flush(self, timeout: float) -> None:
        await asyncio.sleep(0)  # what was sent is carried on the loop's next turns

    async def close(self) -> None:
        self._closed = True
