"""Issue 3, story 6: the replication port refuses strangers, garbage and oversized messages, and the
instance (and its sessions) are untouched. A keyed ring, so peer authentication is on."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from integration_helpers import DEADLINE, Browser, assert_no_tracebacks, by_id, wait_for, write_config

from ring.drill.cluster import LocalCluster
from ring.io._proto import ring_pb2 as pb
from ring.io._proto import ring_pb2_grpc
from ring.io.security import CallSigner
from ring.io.service import RingService, peer_ip

pytestmark = pytest.mark.integration

KEY = "integration-test-key-0123456789"
MAX_SESSION = 4096  # keeps the gRPC message limit (about 2 MiB) small enough to exceed cheaply


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[LocalCluster]:
    config = write_config(tmp_path, ("a", "b"), key=KEY, max_session_size=str(MAX_SESSION))
    with LocalCluster(config, tmp_path / "run") as c:
        c.start_all(DEADLINE)
        wait_for(c.ring_healed, "the ring a -> b to form")
        yield c
    assert_no_tracebacks(c)


def header(sender: str) -> pb.Header:
    return pb.Header(sender=sender, incarnation=1, epoch=0)


def auth(sender: str, key: str = KEY, method: str = "Ping", to: str = "a") -> tuple[tuple[str, str], ...]:
    """Fresh credentials of `sender` for one call of `method` to instance `to`."""
    return CallSigner(key, sender).metadata(to, method)


def code_of(call: Any) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def healthy(c: LocalCluster, users: list[tuple[Browser, int]]) -> None:
    """Both instances ready, the ring whole, every session at its count, and writes still replicate."""
    assert c.ready("a") and c.ready("b")
    rows = by_id(c.status())
    assert rows["a"]["successor"] == "b" and rows["b"]["successor"] == "a"
    for user, count in users:
        assert user.count(c.instances["a"].url) == count
    assert rows["a"]["unreplicated_writes"] == rows["b"]["unreplicated_writes"] == 0


def test_strangers_garbage_and_oversized_messages_are_refused(keyed: LocalCluster) -> None:
    c = keyed
    users = []
    for home in "ab":
        user = Browser()
        for _ in range(3):
            count = user.incr(c.instances[home].url)
        users.append((user, count))
    session_id = users[0][0].cookies["RINGSESSION"]
    address = c.config.instance("a").address
    with grpc.insecure_channel(address) as channel:
        stub = ring_pb2_grpc.RingStub(channel)

        # A member's name without the cluster key, or with a wrong one: UNAUTHENTICATED.
        ping_as_b = pb.Ping(header=header("b"), nonce=1)
        assert code_of(lambda: stub.Ping(ping_as_b, timeout=5)) is grpc.StatusCode.UNAUTHENTICATED
        assert code_of(lambda: stub.Ping(ping_as_b, timeout=5, metadata=auth("b", "x" * 32))) \
            is grpc.StatusCode.UNAUTHENTICATED
        # A sender that is not a member (even with a valid token for its name): refused, no effect.
        for request, method, name in (
                (pb.Ping(header=header("mallory"), nonce=1), stub.Ping, "Ping"),
                (pb.Claim(header=header("mallory"), session_id=session_id, claim_id=1), stub.Claim, "Claim"),
                (pb.Join(header=header("mallory"), wall_time=1.0), stub.Join, "Join")):
            got = code_of(lambda r=request, f=method, n=name: f(r, timeout=5, metadata=auth("mallory", method=n)))
            assert got is grpc.StatusCode.PERMISSION_DENIED, (type(request).__name__, got)
        batch = pb.Batch(header=header("mallory"), stream=1, seq=0, records=[pb.SessionRecord(
            session_id=session_id, owner="mallory", version=99, last_access=1.0, max_inactive=60.0,
            data=b'{"count":1000}')])
        replies = stub.Replicate(iter([batch]), timeout=2, metadata=auth("mallory", method="Replicate"))
        assert code_of(lambda: list(replies)) is grpc.StatusCode.PERMISSION_DENIED

        # Garbage bytes, and a well-formed message without a header: an error status (from a
        # stranger, refused before it is read; from a key holder, refused as malformed).
        raw_ping = channel.unary_unary("/ring.v1.Ring/Ping")  # no serializers: bytes as they are
        assert code_of(lambda: raw_ping(b"\xff\x00garbage\x13\x37" * 10, timeout=5)) \
            is grpc.StatusCode.UNAUTHENTICATED
        assert code_of(lambda: raw_ping(b"\xff\x00garbage\x13\x37" * 10, timeout=5, metadata=auth("b"))) \
            is grpc.StatusCode.INVALID_ARGUMENT
        assert code_of(lambda: stub.Ping(pb.Ping(nonce=1), timeout=5, metadata=auth("b"))) \
            is grpc.StatusCode.INVALID_ARGUMENT
        raw_stream = channel.stream_stream("/ring.v1.Ring/Replicate")
        assert code_of(lambda: list(raw_stream(iter([b"\xff" * 64]), timeout=5,
                                               metadata=auth("b", method="Replicate")))) \
            is grpc.StatusCode.INVALID_ARGUMENT

        # More than the maximum message size: RESOURCE_EXHAUSTED, before anything is decoded.
        huge = b"\x00" * (3 << 20)
        assert code_of(lambda: raw_ping(huge, timeout=10, metadata=auth("b"))) is grpc.StatusCode.RESOURCE_EXHAUSTED
        big_batch = pb.Batch(header=header("b"), stream=1, seq=0, records=[pb.SessionRecord(
            session_id=session_id, owner="b", version=99, last_access=1.0, max_inactive=60.0, data=huge)])
        replies = stub.Replicate(iter([big_batch]), timeout=10, metadata=auth("b", method="Replicate"))
        assert code_of(lambda: list(replies)) is grpc.StatusCode.RESOURCE_EXHAUSTED

    healthy(c, users)
    assert users[0][0].incr(c.instances["b"].url) == users[0][1] + 1  # adoption still works


# ---------------------------------------------------------------- admission, without processes


class FakeContext:
    """The parts of grpc.aio.ServicerContext that admission uses."""

    def __init__(self, peer: str, metadata: tuple[tuple[str, str], ...] = ()) -> None:
        self._peer = peer
        self._metadata = metadata
        self.aborted: tuple[grpc.StatusCode, str] | None = None

    def peer(self) -> str:
        return self._peer

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def auth_context(self) -> dict[str, list[bytes]]:
        return {}

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.aborted = (code, details)
        raise grpc.RpcError(details)  # grpc.aio raises (AbortError) here too


def admit(peer: str, request: Any, metadata: tuple[tuple[str, str], ...] = (),
          key: str | None = None) -> FakeContext:
    """Open a Ping call to instance "a" and admit its message, as the servicer does."""
    service = RingService(None, frozenset({"127.0.0.1", "::1"}), key, MAX_SESSION, me="a")  # type: ignore[arg-type]
    context = FakeContext(peer, metadata)

    async def call() -> None:
        sender = await service._open_call(context, "Ping")  # type: ignore[arg-type]
        await service._admit(request, context, sender)  # type: ignore[arg-type]

    try:
        asyncio.run(call())
    except grpc.RpcError:
        assert context.aborted is not None
    return context


@pytest.mark.parametrize("peer, ip", [
    ("ipv4:127.0.0.1:5555", "127.0.0.1"),
    ("ipv6:%5B::1%5D:5555", "::1"),  # what grpc 1.85 reports: brackets percent-encoded
    ("ipv6:[::1]:5555", "::1"),
    ("ipv6:%5Bfe80::1%25eth0%5D:80", "fe80::1%eth0"),
    ("unix:/tmp/sock", "unix:/tmp/sock"), ("", ""),
])
def test_peer_ip(peer: str, ip: str) -> None:
    assert peer_ip(FakeContext(peer)) == ip  # type: ignore[arg-type]


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this host")
def test_members_on_ipv6_are_admitted(tmp_path: Path) -> None:
    config = write_config(tmp_path, ("a", "b"), host="::1")
    with LocalCluster(config, tmp_path / "run") as c:
        c.start_all(DEADLINE)
        wait_for(c.ring_healed, "the ring a -> b to form over IPv6")
        user = Browser()
        assert user.incr(c.instances["a"].url) == 1
        rows = by_id(c.status())
        assert rows["b"]["backups"] == {"a": 1} and rows["a"]["unreplicated_writes"] == 0
    assert_no_tracebacks(c)


def test_admission_refuses_non_member_addresses_bad_keys_and_garbage() -> None:
    ping = pb.Ping(header=header("b"), nonce=1)
    assert admit("ipv4:127.0.0.1:4000", ping).aborted is None
    assert admit("ipv6:[::1]:4000", ping).aborted is None
    stranger = admit("ipv4:10.1.2.3:4000", ping, auth("b"), KEY).aborted
    assert stranger is not None and stranger[0] is grpc.StatusCode.PERMISSION_DENIED
    for metadata in ((), auth("b", "y" * 32), auth("b", to="c")):  # none, wrong key, for another instance
        refused = admit("ipv4:127.0.0.1:4000", ping, metadata, KEY).aborted
        assert refused is not None and refused[0] is grpc.StatusCode.UNAUTHENTICATED
    as_a = admit("ipv4:127.0.0.1:4000", ping, auth("a"), KEY).aborted  # a's token on a message of b
    assert as_a is not None and as_a[0] is grpc.StatusCode.PERMISSION_DENIED
    assert admit("ipv4:127.0.0.1:4000", ping, auth("b"), KEY).aborted is None
    malformed = admit("ipv4:127.0.0.1:4000", pb.Ping(nonce=1)).aborted
    assert malformed is not None and malformed[0] is grpc.StatusCode.INVALID_ARGUMENT
    oversized = pb.Batch(header=header("b"), records=[pb.SessionRecord(
        session_id="s", owner="b", data=b"x" * (MAX_SESSION + 1))])
    refused = admit("ipv4:127.0.0.1:4000", oversized).aborted
    assert refused is not None and refused[0] is grpc.StatusCode.INVALID_ARGUMENT
