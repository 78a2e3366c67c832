"""The replication stream's call in the shell (ring.io.transport): a batch the core sends again
(no ack within its ack timeout) goes on a new Replicate call. After a cut, a call can be dead
without either side knowing: its reset was lost on the blackholed link and its acks never come.
The drill's 2+2 partitions left orphans unadopted for tens of seconds after the heal, their
adoption writes queued behind such a call. Real gRPC on loopback."""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from test_claim_many import Plaintext, free_port

from ring.core import Input, Received
from ring.core import messages as wire
from ring.io._proto import ring_pb2 as pb
from ring.io.server import ReplicationServer
from ring.io.service import RingService
from ring.io.transport import CallTimeouts, GrpcTransport


class AckingCore:
    def __init__(self) -> None:
        self.handled: list[wire.Batch] = []

    def handle(self, message: wire.Message) -> wire.Reply | None:
        assert isinstance(message, wire.Batch)
        self.handled.append(message)
        return wire.BatchAck(wire.Header("b", 1), message.stream, message.seq, wire.AckStatus.OK, "")

    def together(self) -> AbstractContextManager[None]:
        return nullcontext()

    def status_reply(self) -> pb.StatusReply:
        return pb.StatusReply(id="b")


def batch(seq: int) -> wire.Batch:
    record = wire.SessionRecord("s1", "a", seq + 1, 0.0, 1800.0, False, b"x")
    return wire.Batch(wire.Header("a", 1), 7, seq, (record,), False, False)


async def poll(condition: Any, seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() >= end:
            return False
        await asyncio.sleep(0.01)  # the loop turns; bounded by the deadline
    return True


async def resend_after_a_deaf_call() -> tuple[list[Input], AckingCore, dict[str, int]]:
    core = AckingCore()
    service = RingService(core, frozenset({"127.0.0.1"}), None, 1 << 16, me="b", members=frozenset("abc"))
    calls = {"opened": 0, "swallowed": 0}
    real = service.replicate

    async def first_call_deaf(requests: Any, context: Any) -> Any:
        calls["opened"] += 1
        if calls["opened"] == 1:  # reads every batch, answers none: a dead call nobody noticed
            async for _ in requests:
                calls["swallowed"] += 1
            return
        async for reply in real(requests, context):
            yield reply

    service.replicate = first_call_deaf  # type: ignore[method-assign]
    address = f"127.0.0.1:{free_port()}"
    server = ReplicationServer(service, address, Plaintext(), 1 << 20)
    await server.start()
    delivered: list[Input] = []
    transport = GrpcTransport("a", {"a": "127.0.0.1:1", "b": address}, delivered.append, credentials=None,
                              signer=None, max_message=1 << 20, max_record=1 << 16,
                              timeouts=CallTimeouts(probe=1.0, other=5.0))
    try:
        transport.send("b", batch(0))
        assert await poll(lambda: calls["swallowed"] == 1), calls
        transport.send("b", batch(0))  # the core's resend: no ack within its ack timeout
        await poll(lambda: any(isinstance(d, Received) for d in delivered), 5.0)
    finally:
        await transport.close()
        await server.stop(grace=0)
    return delivered, core, calls


def test_a_batch_sent_again_goes_on_a_new_call() -> None:
    delivered, core, calls = asyncio.run(resend_after_a_deaf_call())
    acks = [d.message for d in delivered if isinstance(d, Received)]
    assert calls["opened"] == 2, calls
    assert [(a.stream, a.seq, a.status) for a in acks] == [(7, 0, wire.AckStatus.OK)], delivered
    assert [(b.stream, b.seq) for b in core.handled] == [(7, 0)]
    assert not [d for d in delivered if not isinstance(d, Received)], delivered  # no Unreachable for it
