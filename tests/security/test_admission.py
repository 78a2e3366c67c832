"""Issue 11: admission on a real replication server in this process (loopback gRPC, a fake core
that counts what reaches it): strangers, forged senders, idle calls and hostile headers are refused
before the core sees anything, and a member's normal call still goes through."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest

from ring.core import messages as wire
from ring.io._proto import ring_pb2 as pb
from ring.io._proto import ring_pb2_grpc
from ring.io.members import MemberAddresses
from ring.io.security import CallSigner
from ring.io.server import ReplicationServer
from ring.io.service import AdmissionLimits, RingService

KEY = "admission-test-key-0123456789"
TIGHT = AdmissionLimits(max_calls_per_address=8, first_message_timeout=0.5)
MEMBERS = frozenset({"a", "b", "c"})


class Plaintext:
    encrypted = False
    tls_cert_file = tls_key_file = tls_ca_file = None


class CountingCore:
    def __init__(self) -> None:
        self.handled: list[wire.Message] = []

    def handle(self, message: wire.Message) -> wire.Reply | None:
        self.handled.append(message)
        if isinstance(message, wire.Ping):
            return wire.PingReply(wire.Header("c", 1), message.nonce)
        return None

    def status_reply(self) -> pb.StatusReply:
        return pb.StatusReply(id="c")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def server(key: str | None = KEY, member_ips: frozenset[str] | MemberAddresses = frozenset({"127.0.0.1"}),
                 limits: AdmissionLimits = TIGHT) -> AsyncIterator[tuple[RingService, str]]:
    service = RingService(CountingCore(), member_ips, key, 1 << 16, me="c", members=MEMBERS, limits=limits)
    address = f"127.0.0.1:{free_port()}"
    replication = ReplicationServer(service, address, Plaintext(), 1 << 20)
    await replication.start()
    try:
        yield service, address
    finally:
        await replication.stop(grace=0)


def ping(sender: str, nonce: int = 1) -> pb.Ping:
    return pb.Ping(header=pb.Header(sender=sender, incarnation=1), nonce=nonce)


async def code_of(call: Any) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def handled(service: RingService) -> list[wire.Message]:
    return service.core.handled  # type: ignore[attr-defined,no-any-return]


def test_a_key_holder_signing_as_one_member_cannot_speak_as_another() -> None:
    async def run() -> None:
        async with server() as (service, address), grpc.aio.insecure_channel(address) as channel:
            stub = ring_pb2_grpc.RingStub(channel)
            as_b = CallSigner(KEY, "b")
            codes = [await code_of(stub.Ping(ping("a", n), metadata=as_b.metadata("c", "Ping"), timeout=5))
                     for n in range(20)]
            assert set(codes) == {grpc.StatusCode.PERMISSION_DENIED} and handled(service) == []
            as_mallory = CallSigner(KEY, "mallory")  # a key holder that is no member
            assert await code_of(stub.Ping(ping("mallory"), metadata=as_mallory.metadata("c", "Ping"),
                                           timeout=5)) is grpc.StatusCode.PERMISSION_DENIED
            call = as_b.metadata("c", "Ping")
            assert await code_of(stub.Ping(ping("b"), metadata=call, timeout=5)) is grpc.StatusCode.OK
            assert await code_of(stub.Ping(ping("b"), metadata=call, timeout=5)) is grpc.StatusCode.UNAUTHENTICATED
            assert [m.header.sender for m in handled(service)] == ["b"]
            # on a stream, every batch keeps the signed sender
            batches = [pb.Batch(header=pb.Header(sender=s, incarnation=1), stream=1, seq=i)
                       for i, s in enumerate("bba")]
            stream = stub.Replicate(iter(batches), metadata=as_b.metadata("c", "Replicate"), timeout=5)
            with pytest.raises(grpc.aio.AioRpcError) as info:
                async for _ in stream:
                    pass
            assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
            assert [m.header.sender for m in handled(service)] == ["b", "b", "b"]

    asyncio.run(run())


def test_strangers_idle_calls_and_floods_are_refused_and_a_member_still_gets_in() -> None:
    async def run() -> None:
        async with server() as (service, address), grpc.aio.insecure_channel(address) as channel:
            stub = ring_pb2_grpc.RingStub(channel)
            strangers = [grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
                         for _ in range(3)]  # three connections of 100 streams
            idle = [ring_pb2_grpc.RingStub(c).Replicate() for c in strangers for _ in range(100)]  # never write
            codes = await asyncio.gather(*(code_of(call.read()) for call in idle))
            assert set(codes) == {grpc.StatusCode.UNAUTHENTICATED}, set(codes)
            for c in strangers:
                await c.close()
            # a key holder's idle streams: closed after the first-message deadline, the cap holds meanwhile
            signer = CallSigner(KEY, "b")
            held = [stub.Replicate(metadata=signer.metadata("c", "Replicate")) for _ in range(20)]
            codes = await asyncio.gather(*(code_of(call.read()) for call in held))
            assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 12, codes
            assert codes.count(grpc.StatusCode.DEADLINE_EXCEEDED) == 8, codes
            reply = await stub.Ping(ping("b"), metadata=signer.metadata("c", "Ping"), timeout=5)
            assert reply.nonce == 1 and len(handled(service)) == 1
            assert service.refused == 300 + 20

    asyncio.run(run())


def test_a_member_address_is_required_even_with_the_key() -> None:
    async def run() -> None:
        async with server(member_ips=frozenset({"10.9.9.9"})) as (service, address), \
                grpc.aio.insecure_channel(address) as channel:
            stub = ring_pb2_grpc.RingStub(channel)
            code = await code_of(stub.Ping(ping("b"), metadata=CallSigner(KEY, "b").metadata("c", "Ping"), timeout=5))
            assert code is grpc.StatusCode.PERMISSION_DENIED and handled(service) == []

    asyncio.run(run())


def test_status_answers_key_holders_only() -> None:
    async def run() -> None:
        async with server() as (_, address), grpc.aio.insecure_channel(address) as channel:
            stub = ring_pb2_grpc.RingStub(channel)
            assert await code_of(stub.Status(pb.StatusRequest(), timeout=5)) is grpc.StatusCode.UNAUTHENTICATED
            reply = await stub.Status(pb.StatusRequest(), metadata=CallSigner(KEY, "ops").metadata("c", "Status"))
            assert reply.id == "c"

    asyncio.run(run())


def test_an_insecure_port_warns_at_start(caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> None:
        service = RingService(CountingCore(), frozenset({"127.0.0.1"}), None, 1 << 16, me="c")
        replication = ReplicationServer(service, f"127.0.0.1:{free_port()}", Plaintext(), 1 << 20)
        await replication.start()
        replication.warn_if_insecure()
        await replication.stop(grace=0)
        keyed = RingService(CountingCore(), frozenset({"127.0.0.1"}), KEY, 1 << 16, me="c")
        replication = ReplicationServer(keyed, f"127.0.0.1:{free_port()}", Plaintext(), 1 << 20)
        await replication.start()
        replication.warn_if_insecure()
        await replication.stop(grace=0)

    with caplog.at_level(logging.WARNING, logger="ring.server"):
        asyncio.run(run())
    assert sum("INSECURE" in r.getMessage() for r in caplog.records) == 1  # the keyed one is quiet


# -- a header value that is not ASCII, sent by hand (grpc clients refuse to send one) -------------------


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def _literal(name: bytes, value: bytes) -> bytes:
    assert len(name) < 127 and len(value) < 127
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def _raw_grpc_call(address: str, path: bytes, headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    host, port = address.rsplit(":", 1)
    block = b"".join(_literal(n, v) for n, v in [
        (b":method", b"POST"), (b":scheme", b"http"), (b":path", path), (b":authority", address.encode()),
        (b"content-type", b"application/grpc"), (b"te", b"trailers"), *headers])
    message = b"\x00" + struct.pack(">I", len(body)) + body
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _frame(4, 0, 0, b"") + _frame(1, 4, 1, block)
                     + _frame(0, 1, 1, message))
        received = b""
        try:
            while len(received) < 1 << 16 and not any(
                    stream == 1 and (kind == 3 or flags & 1) for kind, flags, stream in _frames(received)):
                chunk = conn.recv(4096)
                if not chunk:
                    break
                received += chunk
        except TimeoutError:
            pass
    return received


def _frames(data: Iterator[bytes] | bytes) -> list[tuple[int, int, int]]:
    out, data = [], bytes(data)  # type: ignore[arg-type]
    while len(data) >= 9:
        length = int.from_bytes(data[:3], "big")
        out.append((data[3], data[4], int.from_bytes(data[5:9], "big") & 0x7FFFFFFF))
        data = data[9 + length:]
    return out


def test_a_non_ascii_auth_header_is_refused_without_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> None:
        async with server() as (service, address):
            body = ping("b").SerializeToString()
            for value in ("é".encode(), b"\xff\xfe\x80", "r1:1:1:1:é:b".encode()):
                received = await asyncio.to_thread(
                    _raw_grpc_call, address, b"/ring.v1.Ring/Ping", [(b"x-ring-auth", value)], body)
                assert any(stream == 1 for _, _, stream in _frames(received)), received[:200]
            assert handled(service) == []

    with caplog.at_level(logging.DEBUG):
        asyncio.run(run())
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


def test_a_member_at_an_address_not_resolved_at_start_is_admitted_after_resolving_again() -> None:
    """The member's host name moved to 127.0.0.1 after start (a rescheduled pod): its first call
    makes the host names resolve again, and it is admitted; a refused stranger is not."""
    records = {"b.ring": frozenset({"10.9.9.9"})}
    members = MemberAddresses(["b.ring"], resolve=lambda host: records[host], min_interval=0.0)

    async def run() -> None:
        async with server(member_ips=members) as (service, address), \
                grpc.aio.insecure_channel(address) as channel:
            stub = ring_pb2_grpc.RingStub(channel)
            signer = CallSigner(KEY, "b")
            code = await code_of(stub.Ping(ping("b"), metadata=signer.metadata("c", "Ping"), timeout=5))
            assert code is grpc.StatusCode.PERMISSION_DENIED and handled(service) == []
            records["b.ring"] = frozenset({"127.0.0.1"})
            reply = await stub.Ping(ping("b", 2), metadata=signer.metadata("c", "Ping"), timeout=5)
            assert reply.nonce == 2 and len(handled(service)) == 1
            assert members.resolutions == 3  # at start, and once per call from an unknown address

    asyncio.run(run())
