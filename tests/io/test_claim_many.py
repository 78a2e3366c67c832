"""Claims to one peer in the same turn of the loop travel in one ClaimMany call (issue 10: the
eager promotion of 10,000 orphans made 20,000 unary calls). Real gRPC on loopback: a GrpcTransport
client and a RingService whose core answers claims; what the core sees and what is delivered back."""

from __future__ import annotations

import asyncio
import socket
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import grpc
import pytest

from ring.core import Input, Received, Unreachable
from ring.core import messages as wire
from ring.io._proto import ring_pb2 as pb
from ring.io._proto import ring_pb2_grpc
from ring.io.server import ReplicationServer
from ring.io.service import RingService
from ring.io.transport import CallTimeouts, GrpcTransport

RECORD = 4096


class Plaintext:
    encrypted = False
    tls_cert_file = tls_key_file = tls_ca_file = None


class GrantingCore:
    """Grants every claim with a record of RECORD bytes (the worst case for the reply's size)."""

    def __init__(self) -> None:
        self.handled: list[wire.Claim] = []

    def handle(self, message: wire.Message) -> wire.Reply | None:
        assert isinstance(message, wire.Claim)
        self.handled.append(message)
        record = wire.SessionRecord(message.session_id, "b", 1, 0.0, 1800.0, False, b"x" * RECORD)
        return wire.ClaimReply(wire.Header("b", 1), message.session_id, message.claim_id,
                               wire.ClaimStatus.GRANTED, record)

    def together(self) -> AbstractContextManager[None]:
        return nullcontext()

    def status_reply(self) -> pb.StatusReply:
        return pb.StatusReply(id="b")


class Delivered(list[Input]):
    """The transport's sink: every input it delivered, in order (one call's answers come as a list)."""

    def __call__(self, inputs: Input | list[Input]) -> None:
        self.extend(inputs) if isinstance(inputs, list) else self.append(inputs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def claims(n: int) -> list[wire.Claim]:
    return [wire.Claim(wire.Header("a", 1), f"s{i:04d}", i + 1, True) for i in range(n)]


async def exchange(n: int, *, max_message: int = 8 << 20, without_claim_many: bool = False
                   ) -> tuple[list[Input], GrantingCore, dict[str, int]]:
    core = GrantingCore()
    service = RingService(core, frozenset({"127.0.0.1"}), None, 1 << 16, me="b",
                          members=frozenset("abc"), max_message=max_message)
    calls = {"ClaimMany": 0, "Claim": 0}
    many, unary = service.claim_many, service.unary

    async def counted_many(requests: Any, context: Any) -> Any:
        calls["ClaimMany"] += 1
        if without_claim_many:  # an older peer: no such method
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")
        return await many(requests, context)

    def counted_unary(method: str) -> Any:
        serve = unary(method)

        async def wrapped(requests: Any, context: Any) -> Any:
            calls[method] = calls.get(method, 0) + 1
            return await serve(requests, context)
        return wrapped

    service.claim_many = counted_many  # type: ignore[method-assign]
    service.unary = counted_unary  # type: ignore[method-assign]
    address = f"127.0.0.1:{free_port()}"
    server = ReplicationServer(service, address, Plaintext(), max_message)
    await server.start()
    delivered = Delivered()
    transport = GrpcTransport("a", {"a": "127.0.0.1:1", "b": address}, delivered, credentials=None,
                              signer=None, max_message=8 << 20, max_record=1 << 16,
                              timeouts=CallTimeouts(probe=1.0, other=5.0))
    try:
        for claim in claims(n):  # one turn of the loop, as the core's effects are carried out
            transport.send("b", claim)
        for _ in range(500):
            if len(delivered) >= n:
                break
            await asyncio.sleep(0.01)  # the loop turns; bounded by the count above
        await transport.flush(5.0)
    finally:
        await transport.close()
        await server.stop(grace=0)
    return delivered, core, calls


def answers_in_order(delivered: list[Input], n: int) -> None:
    assert len(delivered) == n and all(isinstance(d, Received) for d in delivered), delivered[:3]
    got = sorted((d.in_reply_to.claim_id, d.message.claim_id, d.message.status) for d in delivered  # type: ignore[union-attr]
                 if isinstance(d, Received))
    assert got == [(i + 1, i + 1, wire.ClaimStatus.GRANTED) for i in range(n)]


def test_claims_of_one_turn_travel_in_one_call() -> None:
    delivered, core, calls = asyncio.run(exchange(300))
    answers_in_order(delivered, 300)
    assert len(core.handled) == 300
    assert calls["ClaimMany"] == 2 and calls["Claim"] == 0  # 256 + 44, not 300 calls


def test_a_holder_answers_what_fits_in_one_reply_and_gets_the_rest_again() -> None:
    # room for about three grants of RECORD bytes per reply: every claim still answered, each once
    delivered, core, calls = asyncio.run(exchange(20, max_message=(1 << 16) + 3 * (RECORD + 1024) + 100))
    answers_in_order(delivered, 20)
    assert sorted(c.claim_id for c in core.handled) == list(range(1, 21))  # none handled twice
    assert calls["ClaimMany"] >= 5


def test_a_peer_without_claim_many_gets_one_call_per_claim() -> None:
    delivered, core, calls = asyncio.run(exchange(12, without_claim_many=True))
    answers_in_order(delivered, 12)
    assert calls["ClaimMany"] == 1 and calls["Claim"] == 12


def test_a_claim_many_speaking_for_two_senders_is_refused() -> None:
    async def forged() -> tuple[grpc.StatusCode, int]:
        core = GrantingCore()
        service = RingService(core, frozenset({"127.0.0.1"}), None, 1 << 16, me="b", members=frozenset("abc"))
        address = f"127.0.0.1:{free_port()}"
        server = ReplicationServer(service, address, Plaintext(), 1 << 20)
        await server.start()
        try:
            async with grpc.aio.insecure_channel(address) as channel:
                stub = ring_pb2_grpc.RingStub(channel)
                mixed = pb.ClaimMany(claims=[
                    pb.Claim(header=pb.Header(sender="a", incarnation=1), session_id="s1", claim_id=1),
                    pb.Claim(header=pb.Header(sender="c", incarnation=1), session_id="s2", claim_id=2)])
                try:
                    await stub.ClaimMany(mixed, timeout=5)
                except grpc.aio.AioRpcError as exc:
                    return exc.code(), len(core.handled)
                return grpc.StatusCode.OK, len(core.handled)
        finally:
            await server.stop(grace=0)

    code, handled = asyncio.run(forged())
    assert code is grpc.StatusCode.PERMISSION_DENIED and handled == 0  # every claim admitted before any is handled


@pytest.mark.parametrize("count", [0, 1025])
def test_an_empty_or_oversized_claim_many_is_refused(count: int) -> None:
    async def call() -> grpc.StatusCode:
        service = RingService(GrantingCore(), frozenset({"127.0.0.1"}), None, 1 << 16, me="b",
                              members=frozenset("abc"))
        address = f"127.0.0.1:{free_port()}"
        server = ReplicationServer(service, address, Plaintext(), 1 << 20)
        await server.start()
        try:
            async with grpc.aio.insecure_channel(address) as channel:
                request = pb.ClaimMany(claims=[pb.Claim(header=pb.Header(sender="a", incarnation=1),
                                                        session_id="s", claim_id=k + 1) for k in range(count)])
                try:
                    await ring_pb2_grpc.RingStub(channel).ClaimMany(request, timeout=5)
                except grpc.aio.AioRpcError as exc:
                    return exc.code()
                return grpc.StatusCode.OK
        finally:
            await server.stop(grace=0)

    assert asyncio.run(call()) is grpc.StatusCode.INVALID_ARGUMENT


def test_unreachable_holder_fails_every_claim_of_the_call() -> None:
    async def run() -> list[Input]:
        delivered = Delivered()
        transport = GrpcTransport("a", {"a": "127.0.0.1:1", "b": f"127.0.0.1:{free_port()}"}, delivered,
                                  credentials=None, signer=None, max_message=1 << 20, max_record=1 << 16,
                                  timeouts=CallTimeouts(probe=0.5, other=0.5))
        try:
            for claim in claims(5):
                transport.send("b", claim)
            await asyncio.sleep(0)  # the turn ends: the call goes out
            await transport.flush(5.0)
        finally:
            await transport.close()
        return delivered

    delivered = asyncio.run(run())
    assert len(delivered) == 5 and all(isinstance(d, Unreachable) for d in delivered)
