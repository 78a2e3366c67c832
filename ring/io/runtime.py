"""The asyncio driver of one instance: it owns the node, the ticker, and the requests waiting on it.

Every input reaches the core through `feed` (from the transport, the replication server and the
ticker, all on the loop); `_carry_out` performs the returned effects in order: requests go to
the transport, a `Respond` becomes `feed`'s return value (the reply the server sends), request
outcomes complete their waiters, and everything else is a ring event for the event sink
(ring.io.eventlog). The driver decides nothing and knows neither gRPC nor HTTP: the transport is a
seam (ring.io.transport, or ring.io.memory in tests), the facades (ring.io.facade) turn port calls
into requests, and the composition root (ring.host) wires them.

Loop-thread only: `feed`, `request`, `start`, `stop`. Other threads reach the engine through
ring.io.facade, which hands their work to the loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from ring.core import (
    Effect,
    Input,
    LeaveRequested,
    Left,
    Loaded,
    LoadFailed,
    LoadRequested,
    Node,
    NodeStatus,
    Received,
    RequestOutcome,
    Respond,
    Send,
    Tick,
    WriteCommitted,
    WriteFailed,
    WriteRequested,
)
from ring.core import messages as wire
from ring.core.readview import ReadView
from ring.io.transport import Deliver, Transport

TICK_SECONDS = 0.05

OnDone = Callable[[RequestOutcome | None], object]  # None: the engine stopped first


class EventSink(Protocol):
    """Where ring events and request outcomes go (ring.io.eventlog.EventLog; a list in tests)."""

    def ring_event(self, effect: Effect) -> None: ...

    def outcome(self, effect: RequestOutcome, op: str, seconds: float) -> None:
        """`op`: load, save or invalidate; `seconds`: from the request to its outcome."""

    def batch_sent(self, records: int) -> None: ...

    def note(self, kind: str, **fields: object) -> None: ...


class Engine:
    """One ring instance in this process: a Node driven on an asyncio loop."""

    def __init__(self, node: Node, events: EventSink, *, transport: Callable[[Deliver], Transport],
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`transport(deliver)` builds the transport around this engine's input sink (`feed`)."""
        self.node = node
        self.me = node.me
        self.settings = node.settings
        self.events = events
        self.transport = transport(self.feed)
        self.clock = clock
        self.loop: asyncio.AbstractEventLoop | None = None
        self._waiting: dict[int, tuple[OnDone, str, float]] = {}  # request -> (done, op, started)
        self._next_request = 0
        self._ticker: asyncio.Task[None] | None = None
        self._left: asyncio.Future[None] | None = None
        self.stopping = False
        self._together = 0  # inside `together`: the core's steps leave their finish to its end

    @property
    def read_view(self) -> ReadView:
        """What other threads may read without a hop (published by the core after every step)."""
        return self.node.read_view

    # ------------------------------------------------------------ lifecycle

    def bind(self) -> None:
        """Attach to the running loop (before any input; the server may feed at once)."""
        self.loop = asyncio.get_running_loop()

    def start(self) -> None:
        """Start ticking: membership, replication and adoption come alive."""
        assert self.loop is not None, "bind() first"
        self._ticker = self.loop.create_task(self._tick_forever())
        self.events.note("started", incarnation=self.node.incarnation)

    async def _tick_forever(self) -> None:
        while True:
            self.feed(Tick())
            await asyncio.sleep(TICK_SECONDS)

    async def leave(self, timeout: float) -> bool:
        """A clean stop of the ring side (after the HTTP side drained): the core hands every
        session to the successor and tells the peers (LeaveRequested ... Left). True when that
        happened within `timeout`; False means the peers will detect the stop as a failure."""
        assert self.loop is not None, "bind() first"
        deadline = self.loop.time() + timeout
        self._left = self.loop.create_future()
        self.feed(LeaveRequested())
        try:
            await asyncio.wait_for(asyncio.shield(self._left), timeout)
        except TimeoutError:
            self.events.note("leave timed out", seconds=timeout)
            return False
        await self.transport.flush(max(0.0, deadline - self.loop.time()))  # the Leave messages
        return True

    async def stop(self) -> None:
        self.stopping = True
        if self._ticker is not None:
            self._ticker.cancel()
        await self.transport.close()
        waiting, self._waiting = self._waiting, {}
        for on_done, _op, _started in waiting.values():
            on_done(None)
        self.events.note("stopped")

    @property
    def running(self) -> bool:
        return self._ticker is not None and not self.stopping

    # ------------------------------------------------------------ the core

    def feed(self, event: Input | list[Input]) -> wire.Reply | None:
        """One input for the core; returns the reply when it was a peer's request. A list is
        inputs that arrived together (the answers of one call), fed `together`."""
        if isinstance(event, list):
            with self.together():
                for e in event:
                    self.feed(e)
            return None
        return self._carry_out(self.node.step(event, self.clock(), finish=not self._together))

    @contextmanager
    def together(self) -> Iterator[None]:
        """Inputs fed inside (with no await between them) are flushed and published once, at
        the end: one batch to the successor and one read view for a call's worth of inputs."""
        self._together += 1
        try:
            yield
        finally:
            self._together -= 1
            if not self._together:
                self._carry_out(self.node.finish(self.clock()))

    def handle(self, message: wire.Message) -> wire.Reply | None:
        """A peer's request (from the replication server): the core's reply."""
        return self.feed(Received(message=message))

    def request(self, make: Callable[[int], Input], on_done: OnDone) -> None:
        """Start a request of the HTTP side: `make(request_id)` is its input; `on_done(outcome)`
        is called on the loop when the core answers it (None if the engine stops first)."""
        self._next_request += 1
        request = make(self._next_request)
        op = "load" if isinstance(request, LoadRequested) else (
            "invalidate" if isinstance(request, WriteRequested) and request.deleted else "save")
        self._waiting[self._next_request] = (on_done, op, self.clock())
        self.feed(request)

    def _carry_out(self, effects: list[Effect]) -> wire.Reply | None:
        reply: wire.Reply | None = None
        for e in effects:
            if isinstance(e, Send):
                if isinstance(e.message, wire.Batch):
                    self.events.batch_sent(len(e.message.records))
                self.transport.send(e.to, e.message)
            elif isinstance(e, Respond):
                reply = e.message
            elif isinstance(e, Loaded | LoadFailed | WriteCommitted | WriteFailed):
                waiting = self._waiting.pop(e.request_id, None)
                if waiting is not None:
                    on_done, op, started = waiting
                    self.events.outcome(e, op, self.clock() - started)
                    on_done(e)
            else:
                if isinstance(e, Left) and self._left is not None and not self._left.done():
                    self._left.set_result(None)
                self.events.ring_event(e)
        return reply

    # ------------------------------------------------------------ state

    def status(self) -> NodeStatus:
        return self.node.inspect(self.clock())

    def ready(self) -> bool:
        """Ready for traffic: running, and able to serve its primaries (lease or alone)."""
        return self.running and self.node.lease_valid(self.clock())
