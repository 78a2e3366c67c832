"""An encrypted ring (mutual TLS) with real processes: it forms, replicates, and `ring status`
reaches it; a client without a certificate signed by the cluster's CA is refused."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import grpc
import pytest
from integration_helpers import (
    DEADLINE,
    Browser,
    assert_no_tracebacks,
    by_id,
    ring_status_json,
    wait_for,
    write_config,
)

from ring.drill.cluster import LocalCluster
from ring.io._proto import ring_pb2 as pb
from ring.io._proto import ring_pb2_grpc

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make certificates")]


def make_pki(directory: Path, names: tuple[str, ...]) -> None:
    """ca.pem, and NAME.pem/NAME.key for each name (CN and DNS name NAME, IP 127.0.0.1: a
    certificate names one member), signed by it (EC keys: fast)."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True, timeout=30)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=ring test CA")
    for name in names:
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        (directory / f"{name}.ext").write_text(f"subjectAltName=DNS:{name},IP:127.0.0.1,DNS:localhost\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")


def own_certificates(config: Path, ids: tuple[str, ...]) -> None:
    """Give each <instance> of `config` its own certificate, ID.pem and ID.key."""
    text = config.read_text()
    for i in ids:
        text = text.replace(f"<instance-id>{i}</instance-id>", f"<instance-id>{i}</instance-id>"
                            f"<tls-cert-file>{i}.pem</tls-cert-file><tls-key-file>{i}.key</tls-key-file>")
    config.write_text(text)


def test_encrypted_ring_forms_replicates_and_reports_status(tmp_path: Path) -> None:
    make_pki(tmp_path, ("a", "b", "operator"))
    config = write_config(tmp_path, ("a", "b"), encrypted="true", tls_cert_file="operator.pem",
                          tls_key_file="operator.key", tls_ca_file="ca.pem")
    own_certificates(config, ("a", "b"))
    with LocalCluster(config, tmp_path / "run") as c:
        c.start_all(DEADLINE)
        wait_for(c.ring_healed, "the encrypted ring a -> b to form")
        user = Browser()
        assert user.incr(c.instances["a"].url) == 1
        rows = by_id(ring_status_json(config))
        assert rows["a"]["state"] == rows["b"]["state"] == "alive"
        assert rows["b"]["backups"] == {"a": 1} and rows["a"]["unreplicated_writes"] == 0

        # Plain text, or TLS without a client certificate: no answer at all.
        address = c.config.instance("a").address
        with grpc.insecure_channel(address) as channel:
            with pytest.raises(grpc.RpcError):
                ring_pb2_grpc.RingStub(channel).Status(pb.StatusRequest(), timeout=2)
        server_only = grpc.ssl_channel_credentials((tmp_path / "ca.pem").read_bytes())
        with grpc.secure_channel(address, server_only) as channel:
            with pytest.raises(grpc.RpcError):
                ring_pb2_grpc.RingStub(channel).Status(pb.StatusRequest(), timeout=2)
        assert user.incr(c.instances["b"].url) == 2
    assert_no_tracebacks(c)
