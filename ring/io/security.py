"""Credentials of the replication port: mutual TLS when `<encrypted>`, the cluster-key token.

Every TLS and key detail of the shell is here, so the server, the peer transport and the status
client build their credentials one way. What admission does with them is ring.io.service's.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Protocol

import grpc

AUTH_METADATA = "x-ring-auth"


class TlsSettings(Protocol):
    """What credentials need of ring.config.ReplicationSettings."""

    @property
    def encrypted(self) -> bool: ...

    @property
    def tls_cert_file(self) -> str | None: ...

    @property
    def tls_key_file(self) -> str | None: ...

    @property
    def tls_ca_file(self) -> str | None: ...


def auth_token(key: str, sender: str) -> str:
    return hmac.new(key.encode(), sender.encode(), hashlib.sha256).hexdigest()


def call_metadata(key: str | None, sender: str) -> tuple[tuple[str, str], ...]:
    """The metadata every call of `sender` carries (empty without a cluster key)."""
    return ((AUTH_METADATA, auth_token(key, sender)),) if key else ()


def server_credentials(tls: TlsSettings) -> grpc.ServerCredentials | None:
    """This host's server side of mutual TLS (None: plaintext)."""
    if not tls.encrypted:
        return None
    assert tls.tls_cert_file and tls.tls_key_file and tls.tls_ca_file
    return grpc.ssl_server_credentials(
        [(read_file(tls.tls_key_file), read_file(tls.tls_cert_file))],
        root_certificates=read_file(tls.tls_ca_file), require_client_auth=True)


def channel_credentials(tls: TlsSettings) -> grpc.ChannelCredentials | None:
    """This host's client side of mutual TLS (None: plaintext)."""
    if not tls.encrypted:
        return None
    assert tls.tls_cert_file and tls.tls_key_file and tls.tls_ca_file
    return grpc.ssl_channel_credentials(read_file(tls.tls_ca_file), read_file(tls.tls_key_file),
                                        read_file(tls.tls_cert_file))


def read_file(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()
