"""Issue 11, mutual TLS in this process: a peer whose <certificate-name> is a DNS name must present
it as a server too, so a non-member of the cluster's CA at its address receives nothing."""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path

import pytest
from security_helpers import make_pki

from ring.core import Received, Unreachable
from ring.core import messages as wire
from ring.io._proto import ring_pb2 as pb
from ring.io.security import CertificateNames, LocalTls, channel_credentials
from ring.io.server import ReplicationServer
from ring.io.service import RingService
from ring.io.transport import CallTimeouts, GrpcTransport

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make certificates")


class PingCore:
    def handle(self, message: wire.Message) -> wire.Reply | None:
        assert isinstance(message, wire.Ping)
        return wire.PingReply(wire.Header("b", 1), message.nonce)

    def status_reply(self) -> pb.StatusReply:
        return pb.StatusReply()


def tls(directory: Path, name: str) -> LocalTls:
    return LocalTls(True, str(directory / f"{name}.pem"), str(directory / f"{name}.key"), str(directory / "ca.pem"))


def free_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def test_a_server_certificate_that_does_not_name_the_peer_gets_no_call(tmp_path: Path) -> None:
    make_pki(tmp_path, ("a", "b", "mallory"))

    async def ping_b_served_by(cert: str) -> object:
        service = RingService(PingCore(), frozenset({"127.0.0.1"}), None, 1 << 16, me="b",
                              members=frozenset({"a", "b"}), certificates=CertificateNames(("a", "b")))
        address = free_address()
        server = ReplicationServer(service, address, tls(tmp_path, cert), 1 << 20)
        await server.start()
        outcomes: asyncio.Queue[object] = asyncio.Queue()
        transport = GrpcTransport("a", {"a": free_address(), "b": address}, outcomes.put_nowait,
                                  credentials=channel_credentials(tls(tmp_path, "a")), signer=None,
                                  max_message=1 << 20, max_record=1 << 16, timeouts=CallTimeouts(2.0, 2.0),
                                  server_names={"b": "b.ring.test"})
        try:
            transport.send("b", wire.Ping(wire.Header("a", 1), 7))
            return await asyncio.wait_for(outcomes.get(), 10)
        finally:
            await transport.close()
            await server.stop(grace=0)

    assert isinstance(asyncio.run(ping_b_served_by("b")), Received)
    assert isinstance(asyncio.run(ping_b_served_by("mallory")), Unreachable)
