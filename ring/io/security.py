"""Credentials of the replication port: who a call comes from, and whether it can be believed.

Two modes, and a third that is no security at all:

- Mutual TLS (`<encrypted>`): the client certificate names the member. A certificate's names are
  its CN and its DNS and URI subject alternative names; a name that is an instance id, or that an
  `<instance>` claims with `<certificate-name>`, names that instance. A certificate that names no
  member, or more than one, is refused (`CertificateNames.member_of`).
- A shared key only (`<key>`): every call carries `x-ring-auth`, an HMAC (under a key derived from
  the cluster key, so it is never the one that signs locator cookies) over the sender, the
  receiver, the method, the signer's epoch (a random number per process), a counter and the wall
  clock in milliseconds. The receiver refuses a token that is malformed, not for it, for another
  method, outside the time window, older than its own start, or already seen: `ReplayGuard` keeps,
  per (sender, epoch), the highest counter and a bitmap of the 1024 below it. Every key holder can
  still sign as any member: the key keeps out those who do not hold it, nothing more.
- Neither: any process that reaches the port is a full peer. The server says so at every start.

Every TLS and key detail of the shell is here, so the server, the peer transport and the status
client build their credentials one way. What admission does with them is ring.io.service's.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import grpc

AUTH_METADATA = "x-ring-auth"
TOKEN_VERSION = "r1"
MAX_TOKEN_LENGTH = 512  # an instance id is at most 255 characters; the rest is under 100
COUNTER_WINDOW = 1024  # calls of one signer may arrive this far out of order (concurrent unary calls)
_SENDER = re.compile(r"[!-~]{1,255}")  # printable, no spaces: it is logged
MAX_EPOCHS_PER_SENDER = 16  # runs of one member remembered at once (restarts within the time window)


class TlsSettings(Protocol):
    """What credentials need of ring.config.ReplicationSettings (or of LocalTls)."""

    @property
    def encrypted(self) -> bool: ...

    @property
    def tls_cert_file(self) -> str | None: ...

    @property
    def tls_key_file(self) -> str | None: ...

    @property
    def tls_ca_file(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class LocalTls:
    """One instance's TLS files: its own certificate and key when its <instance> names them."""

    encrypted: bool
    tls_cert_file: str | None
    tls_key_file: str | None
    tls_ca_file: str | None

    @classmethod
    def of(cls, settings: TlsSettings, cert_file: str | None = None, key_file: str | None = None) -> LocalTls:
        return cls(settings.encrypted, cert_file or settings.tls_cert_file, key_file or settings.tls_key_file,
                   settings.tls_ca_file)


class Refused(Exception):
    """A call's credentials do not hold: the status code to answer and why (for the log)."""

    def __init__(self, code: grpc.StatusCode, why: str) -> None:
        super().__init__(why)
        self.code = code
        self.why = why


# -- shared key: signing and verifying one call -------------------------------------------------------


def _call_key(key: str) -> bytes:
    return hmac.new(key.encode(), b"ring replication call v1", hashlib.sha256).digest()


def _mac(call_key: bytes, sender: str, receiver: str, method: str, epoch: int, counter: int, ms: int) -> str:
    text = f"{sender}\n{receiver}\n{method}\n{epoch}\n{counter}\n{ms}".encode()
    return hmac.new(call_key, text, hashlib.sha256).hexdigest()


class CallSigner:
    """Signs the calls of one instance (`sender`): fresh metadata for each call."""

    def __init__(self, key: str, sender: str, *, clock: Any = time.time) -> None:
        self._key = _call_key(key)
        self.sender = sender
        self.epoch = secrets.randbits(63)
        self._counter = itertools.count(1)
        self._clock = clock

    def metadata(self, receiver: str, method: str) -> tuple[tuple[str, str], ...]:
        counter = next(self._counter)
        ms = int(self._clock() * 1000)
        mac = _mac(self._key, self.sender, receiver, method, self.epoch, counter, ms)
        return ((AUTH_METADATA, f"{TOKEN_VERSION}:{self.epoch}:{counter}:{ms}:{mac}:{self.sender}"),)


def call_signer(key: str | None, sender: str) -> CallSigner | None:
    """The signer of `sender`'s calls (None without a cluster key: calls carry no token)."""
    return CallSigner(key, sender) if key else None


@dataclass(frozen=True, slots=True)
class Token:
    sender: str
    epoch: int
    counter: int
    ms: int


class TokenVerifier:
    """Checks the `x-ring-auth` of calls to `me`; `window` seconds of clock either side are accepted."""

    def __init__(self, key: str, me: str, *, window: float = 60.0, clock: Any = time.time) -> None:
        self._key = _call_key(key)
        self.me = me
        self.window = window
        self._clock = clock
        self.started = clock()
        self.replays = ReplayGuard(window)

    def check(self, metadata: Iterable[tuple[str, Any]] | None, method: str, *, fresh: bool = True) -> str:
        """The sender the token of `metadata` proves, or Refused. `fresh`: also refuse a replay (and
        remember this call); the Status method, which changes nothing, is checked without."""
        token = self.parse(metadata, method)
        now_ms = int(self._clock() * 1000)
        if abs(token.ms - now_ms) > self.window * 1000:
            raise Refused(grpc.StatusCode.UNAUTHENTICATED,
                          f"call token of {token.sender} is {abs(token.ms - now_ms) / 1000:.0f} s off this "
                          "host's clock (clocks too far apart, or a replayed call)")
        if fresh and token.ms < (self.started - 2.0) * 1000:
            raise Refused(grpc.StatusCode.UNAUTHENTICATED, f"call token of {token.sender} signed before "
                          "this instance started (a replayed call)")
        if fresh and not self.replays.fresh(token, now_ms / 1000):
            raise Refused(grpc.StatusCode.UNAUTHENTICATED, f"replayed call token of {token.sender}")
        return token.sender

    def parse(self, metadata: Iterable[tuple[str, Any]] | None, method: str) -> Token:
        """The token if its MAC holds for a call of `method` to this instance (no freshness check)."""
        raw = next((value for name, value in (metadata or ()) if name == AUTH_METADATA), None)
        if raw is None:
            raise Refused(grpc.StatusCode.UNAUTHENTICATED, "no call token (x-ring-auth): bad or missing cluster key")
        if isinstance(raw, bytes):
            raw = raw.decode("ascii", "replace")
        if not isinstance(raw, str) or len(raw) > MAX_TOKEN_LENGTH or not raw.isascii():
            raise Refused(grpc.StatusCode.UNAUTHENTICATED, "malformed call token (not short ASCII)")
        parts = raw.split(":", 5)
        if len(parts) != 6 or parts[0] != TOKEN_VERSION or not all(p.isdigit() for p in parts[1:4]):
            raise Refused(grpc.StatusCode.UNAUTHENTICATED, "malformed call token")
        _, epoch, counter, ms, mac, sender = parts
        if not _SENDER.fullmatch(sender):
            raise Refused(grpc.StatusCode.UNAUTHENTICATED, "malformed call token (sender)")
        token = Token(sender, int(epoch), int(counter), int(ms))
        expected = _mac(self._key, sender, self.me, method, token.epoch, token.counter, token.ms)
        if not hmac.compare_digest(mac.encode(), expected.encode()):
            raise Refused(grpc.StatusCode.UNAUTHENTICATED,
                          "call token does not verify: bad cluster key, or signed for another instance or method")
        return token


@dataclass(slots=True)
class _Seen:
    high: int  # the highest counter seen
    below: int  # bit i set: counter high - 1 - i seen
    last_ms: int  # the newest signing time seen


class ReplayGuard:
    """Which (sender, epoch, counter) were seen. State of an epoch is dropped once its newest call is
    older than the time window: every call it could replay is then refused by the clock check."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._seen: dict[tuple[str, int], _Seen] = {}

    def fresh(self, token: Token, now: float) -> bool:
        key = (token.sender, token.epoch)
        seen = self._seen.get(key)
        if seen is None:
            self._forget_older_than(now - self.window)
            if sum(1 for sender, _ in self._seen if sender == token.sender) >= MAX_EPOCHS_PER_SENDER:
                return False
            self._seen[key] = _Seen(token.counter, 0, token.ms)
            return True
        seen.last_ms = max(seen.last_ms, token.ms)
        if token.counter > seen.high:
            shift = token.counter - seen.high
            seen.below = ((seen.below << shift) | (1 << (shift - 1))) & ((1 << COUNTER_WINDOW) - 1)
            seen.high = token.counter
            return True
        age = seen.high - token.counter  # 0: the highest itself
        if age == 0 or age > COUNTER_WINDOW or seen.below >> (age - 1) & 1:
            return False
        seen.below |= 1 << (age - 1)
        return True

    def _forget_older_than(self, oldest: float) -> None:
        for key in [k for k, seen in self._seen.items() if seen.last_ms < oldest * 1000]:
            del self._seen[key]


# -- mutual TLS: which member a certificate names -----------------------------------------------------


class CertificateNames:
    """Certificate name -> member id: every member's id names it, and so does its <certificate-name>."""

    def __init__(self, members: Iterable[str], aliases: Mapping[str, str] | None = None) -> None:
        self.names = {member: member for member in members}
        for name, member in (aliases or {}).items():
            self.names[name] = member

    def member_of(self, auth_context: Mapping[str, Iterable[bytes]]) -> str:
        """The member the peer's certificate names, or Refused."""
        found = set()
        for prop in ("x509_common_name", "peer_dns", "peer_uri"):
            for value in auth_context.get(prop, ()):
                name = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                if name in self.names:
                    found.add(self.names[name])
        if not found:
            raise Refused(grpc.StatusCode.PERMISSION_DENIED, "client certificate names no member of the ring "
                          "(its CN, DNS or URI names must be an instance id or a <certificate-name>)")
        if len(found) > 1:
            raise Refused(grpc.StatusCode.PERMISSION_DENIED,
                          f"client certificate names several members ({', '.join(sorted(found))})")
        return found.pop()


_DNS_NAME = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*")


def server_names(certificate_names: Mapping[str, str]) -> dict[str, str]:
    """Peer id -> the DNS name its server certificate must have, for the peers whose
    <certificate-name> is a DNS name (the others' certificates are checked against their host, as
    by any TLS client: a certificate naming a member by its id or a URI need not carry a DNS name)."""
    return {member: name for name, member in certificate_names.items()
            if name != member and _DNS_NAME.fullmatch(name)}


# -- grpc credentials ----------------------------------------------------------------------------------


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
