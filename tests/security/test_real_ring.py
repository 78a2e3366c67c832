"""Issue 11 with real `ring serve` processes on loopback: who a call comes from is what its
credentials say, a captured call cannot be replayed, and a stranger's idle streams and idle HTTP
connections do not stop a user's requests (adoptions included). Each test prints its attack table."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from security_helpers import DEADLINE, User, assert_no_tracebacks, make_pki, write_config

from ring.drill.cluster import LocalCluster, poll
from ring.io._proto import ring_pb2 as pb
from ring.io._proto import ring_pb2_grpc
from ring.io.security import AUTH_METADATA, CallSigner

pytestmark = pytest.mark.integration

KEY = "security-test-key-0123456789abcdef"


def rss_kib(cluster: LocalCluster, name: str) -> int:
    proc = cluster.instances[name].proc
    assert proc is not None
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def outcome(call: Callable[[], Any]) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


class Attacks:
    """The table of attacks tried: attempts, accepted, refused (by status code)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, int, int, str]] = []

    def tried(self, attack: str, codes: list[grpc.StatusCode]) -> int:
        accepted = codes.count(grpc.StatusCode.OK)
        refused = sorted({c.name for c in codes if c is not grpc.StatusCode.OK})
        self.rows.append((attack, len(codes), accepted, ",".join(refused)))
        return accepted

    def print(self) -> None:
        print()
        print(f"{'attack':64} {'tries':>5} {'accepted':>8}  refused as")
        for attack, tries, accepted, codes in self.rows:
            print(f"{attack:64} {tries:5} {accepted:8}  {codes}")


def ping(sender: str, nonce: int = 1, incarnation: int = 1) -> pb.Ping:
    return pb.Ping(header=pb.Header(sender=sender, incarnation=incarnation), nonce=nonce)


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[LocalCluster]:
    config = write_config(tmp_path, ("a", "b"), key=KEY, first_message_timeout="1")
    with LocalCluster(config, tmp_path / "run") as c:
        c.start_all(DEADLINE)
        assert poll(c.ring_healed, DEADLINE), "the ring a -> b did not form"
        yield c
    assert_no_tracebacks([inst.log_path for inst in c.instances.values()])


def test_a_keyed_ring_refuses_old_tokens_replays_and_forged_senders(keyed: LocalCluster) -> None:
    c, attacks = keyed, Attacks()
    a = c.config.instance("a").address
    user = User()
    counts = [user.incr(c.instances["a"].url) for _ in range(3)]
    before = rss_kib(c, "a")
    with grpc.insecure_channel(a) as channel:
        stub = ring_pb2_grpc.RingStub(channel)
        static = ((AUTH_METADATA, hmac.new(KEY.encode(), b"b", hashlib.sha256).hexdigest()),)
        codes = [outcome(lambda n=n: stub.Ping(ping("b", n), metadata=static, timeout=5)) for n in range(50)]
        assert attacks.tried("Ping as b with the old static token HMAC(key, b)", codes) == 0

        as_b = CallSigner(KEY, "b")
        observed = as_b.metadata("a", "Ping")
        first = outcome(lambda: stub.Ping(ping("b"), metadata=observed, timeout=5))
        assert first is grpc.StatusCode.OK  # a key holder may speak as b: once per token
        codes = [outcome(lambda: stub.Ping(ping("b", 2, incarnation=2**62), metadata=observed, timeout=5))
                 for _ in range(50)]
        assert attacks.tried("the same Ping token replayed (with a higher incarnation)", codes) == 0

        for_b = as_b.metadata("b", "Ping")  # a token for b, replayed to a
        codes = [outcome(lambda: stub.Ping(ping("b"), metadata=for_b, timeout=5)) for _ in range(10)]
        assert attacks.tried("a Ping token for b replayed to a", codes) == 0

        codes = [outcome(lambda: stub.DropBackups(pb.DropBackups(header=pb.Header(sender="b", incarnation=1),
                                                                  stream=1),
                                                  metadata=as_b.metadata("a", "Ping"), timeout=5))
                 for _ in range(20)]
        assert attacks.tried("DropBackups with a token signed for Ping", codes) == 0

        codes = [outcome(lambda n=n: stub.Ping(ping("a", n), metadata=as_b.metadata("a", "Ping"), timeout=5))
                 for n in range(20)]
        assert attacks.tried("Ping claiming sender a, signed by b", codes) == 0
        mallory = CallSigner(KEY, "mallory")
        codes = [outcome(lambda: stub.Claim(pb.Claim(header=pb.Header(sender="mallory", incarnation=1),
                                                     session_id="x" * 43, claim_id=1),
                                            metadata=mallory.metadata("a", "Claim"), timeout=5)) for _ in range(20)]
        assert attacks.tried("Claim from a key holder that is no member", codes) == 0
        codes = [outcome(lambda: stub.Status(pb.StatusRequest(), timeout=5)) for _ in range(10)]
        assert attacks.tried("Status without the key", codes) == 0
    after = rss_kib(c, "a")
    attacks.print()
    print(f"a's memory: {before} KiB before, {after} KiB after")
    assert user.incr(c.instances["b"].url) == counts[-1] + 1  # the ring is intact: b adopts the session
    log = c.instances["a"].log_path.read_text()
    refusal_lines = log.count("refused a call from")
    print(f"a logged {refusal_lines} refusal lines for {sum(row[1] for row in attacks.rows) - 1} refused calls")
    assert refusal_lines <= 12  # one per reason and interval


def test_idle_streams_and_connections_of_a_stranger_do_not_stop_requests(keyed: LocalCluster) -> None:
    c, attacks = keyed, Attacks()
    a = c.config.instance("a").address
    user = User()
    user.incr(c.instances["a"].url)
    before = rss_kib(c, "a")
    http_host, http_port = c.instances["a"].http_host, c.instances["a"].http_port
    sockets: list[socket.socket] = []

    async def attack() -> list[grpc.StatusCode]:
        channels = [grpc.aio.insecure_channel(a, options=[("grpc.use_local_subchannel_pool", 1)]) for _ in range(3)]
        try:
            # 300 streams opened and never written to (100 per connection, as many as one may open)
            streams = [ring_pb2_grpc.RingStub(ch).Replicate() for ch in channels for _ in range(100)]
            for _ in range(200):  # idle HTTP connections: half a request line, then nothing
                s = socket.create_connection((http_host, http_port), timeout=5)
                s.sendall(b"GET / HTTP/1.1\r\n")
                sockets.append(s)
            # While all of that is open, a user's requests and an adoption (b takes a's session) go through.
            count = await asyncio.to_thread(user.incr, c.instances["a"].url)
            assert await asyncio.to_thread(user.incr, c.instances["b"].url) == count + 1
            assert await asyncio.to_thread(user.incr, c.instances["a"].url) == count + 2

            async def code(call: Any) -> grpc.StatusCode:
                try:
                    await call.read()
                except grpc.aio.AioRpcError as exc:
                    return exc.code()
                return grpc.StatusCode.OK

            return list(await asyncio.gather(*(code(call) for call in streams)))
        finally:
            for ch in channels:
                await ch.close()
            for s in sockets:
                s.close()

    codes = asyncio.run(attack())
    assert attacks.tried("idle Replicate streams of a stranger (3 connections)", codes) == 0
    attacks.rows.append(("idle HTTP connections of a stranger, held during requests", 200, 0, "(not refused)"))
    attacks.print()
    print(f"a's memory: {before} KiB before, {rss_kib(c, 'a')} KiB after")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make certificates")
def test_under_mutual_tls_a_certificate_speaks_only_for_the_member_it_names(tmp_path: Path) -> None:
    make_pki(tmp_path, ("a", "b", "c", "mallory", "operator"))
    # b is also named b.ring.test: its peers check that name on its server certificate
    config = write_config(tmp_path, ("a", "b", "c"), own_certificates=True, encrypted="true",
                          certificate_names={"b": "b.ring.test"},
                          tls_cert_file="operator.pem", tls_key_file="operator.key", tls_ca_file="ca.pem")
    attacks = Attacks()
    with LocalCluster(config, tmp_path / "run") as c:
        c.start_all(DEADLINE)
        assert poll(c.ring_healed, DEADLINE), "the encrypted ring did not form"
        user = User()
        count = user.incr(c.instances["a"].url)
        ca = (tmp_path / "ca.pem").read_bytes()

        def stub_with(name: str, to: str) -> tuple[grpc.Channel, Any]:
            creds = grpc.ssl_channel_credentials(ca, (tmp_path / f"{name}.key").read_bytes(),
                                                 (tmp_path / f"{name}.pem").read_bytes())
            channel = grpc.secure_channel(c.config.instance(to).address, creds)
            return channel, ring_pb2_grpc.RingStub(channel)

        channel, as_b = stub_with("b", "a")
        with channel:
            codes = [outcome(lambda n=n: as_b.Ping(ping("c", n), timeout=5)) for n in range(20)]
            assert attacks.tried("b's certificate, Ping as c", codes) == 0
            codes = [outcome(lambda: as_b.DropBackups(pb.DropBackups(header=pb.Header(sender="c", incarnation=1),
                                                                     stream=1), timeout=5)) for _ in range(20)]
            assert attacks.tried("b's certificate, DropBackups as c", codes) == 0
            batch = pb.Batch(header=pb.Header(sender="c", incarnation=1), stream=1, seq=0, records=[
                pb.SessionRecord(session_id="x" * 43, owner="c", version=10**9, last_access=1.0,
                                 max_inactive=60.0, data=b'{"count":1001}')])
            codes = [outcome(lambda: list(as_b.Replicate(iter([batch]), timeout=5))) for _ in range(8)]
            assert attacks.tried("b's certificate, Batch as c", codes) == 0
            assert outcome(lambda: as_b.Ping(ping("b"), timeout=5)) is grpc.StatusCode.OK  # as itself: fine
        channel, as_mallory = stub_with("mallory", "a")
        with channel:
            codes = [outcome(lambda n=n: as_mallory.Ping(ping("b", n), timeout=5)) for n in range(20)]
            assert attacks.tried("a non-member certificate of the CA, Ping as b", codes) == 0
        channel, as_operator = stub_with("operator", "a")
        with channel:
            codes = [outcome(lambda n=n: as_operator.Ping(ping("b", n), timeout=5)) for n in range(8)]
            assert attacks.tried("the operator's certificate, Ping as b", codes) == 0
            assert as_operator.Status(pb.StatusRequest(), timeout=5).id  # status for the operator
        rows = {r["id"]: r for r in c.status()}
        assert all(r["state"] == "alive" for r in rows.values())
        assert user.incr(c.instances["b"].url) == count + 1
        logs = [inst.log_path for inst in c.instances.values()]
    attacks.print()
    assert_no_tracebacks(logs)
