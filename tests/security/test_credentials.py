"""Issue 11: call tokens (a shared key) cannot be replayed, moved or forged; certificates name one
member; refusals are logged once per peer and interval. Plain functions, no sockets."""

from __future__ import annotations

import logging
import random

import grpc
import pytest

from ring.io.security import (
    AUTH_METADATA,
    COUNTER_WINDOW,
    MAX_EPOCHS_PER_SENDER,
    CallSigner,
    CertificateNames,
    Refused,
    ReplayGuard,
    Token,
    TokenVerifier,
)
from ring.io.service import RefusalLog

KEY = "unit-test-cluster-key-0123456789"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def refused(verifier: TokenVerifier, metadata: object, method: str = "Ping") -> str:
    with pytest.raises(Refused) as info:
        verifier.check(metadata, method)  # type: ignore[arg-type]
    assert info.value.code is grpc.StatusCode.UNAUTHENTICATED
    return info.value.why


def test_a_token_is_good_once_for_its_receiver_and_method() -> None:
    clock = Clock()
    signer = CallSigner(KEY, "a", clock=clock)
    at_b = TokenVerifier(KEY, "b", clock=clock)
    at_c = TokenVerifier(KEY, "c", clock=clock)
    call = signer.metadata("b", "Ping")
    assert at_b.check(call, "Ping") == "a"
    assert "replayed" in refused(at_b, call)  # the same call again
    assert "does not verify" in refused(at_c, signer.metadata("b", "Ping"))  # sent to b, replayed to c
    assert "does not verify" in refused(at_b, signer.metadata("b", "Ping"), "DropBackups")  # another method
    assert "does not verify" in refused(TokenVerifier("another-cluster-key-0123", "b", clock=clock),
                                        signer.metadata("b", "Ping"))


def test_the_sender_cannot_be_changed_in_a_token() -> None:
    clock = Clock()
    verifier = TokenVerifier(KEY, "b", clock=clock)
    ((name, value),) = CallSigner(KEY, "a", clock=clock).metadata("b", "Ping")
    assert "does not verify" in refused(verifier, ((name, value[:-1] + "c"),))  # "a" -> "c"
    assert "does not verify" in refused(verifier, ((name, value.replace(":1:", ":2:", 1)),))


def test_concurrent_calls_may_arrive_out_of_order_within_the_window() -> None:
    clock = Clock()
    signer = CallSigner(KEY, "a", clock=clock)
    verifier = TokenVerifier(KEY, "b", clock=clock)
    calls = [signer.metadata("b", "Claim") for _ in range(200)]
    order = list(range(200))
    random.Random(11).shuffle(order)
    print("seed 11")
    assert all(verifier.check(calls[i], "Claim") == "a" for i in order)
    assert all(refused(verifier, calls[i], "Claim") for i in order[:20])  # each only once
    late = signer.metadata("b", "Claim")
    for _ in range(COUNTER_WINDOW + 1):
        verifier.check(signer.metadata("b", "Claim"), "Claim")
    assert "replayed" in refused(verifier, late, "Claim")  # too far behind to tell: refused


def test_tokens_outside_the_time_window_or_from_before_the_start_are_refused() -> None:
    clock = Clock()
    signer = CallSigner(KEY, "a", clock=clock)
    old = signer.metadata("b", "Ping")
    clock.now += 10
    verifier = TokenVerifier(KEY, "b", clock=clock, window=60)
    assert "before this instance started" in refused(verifier, old)  # captured before a restart
    clock.now += 120
    assert "off this host's clock" in refused(verifier, old)
    ahead = CallSigner(KEY, "a", clock=Clock(clock.now + 600)).metadata("b", "Ping")
    assert "off this host's clock" in refused(verifier, ahead)


def test_malformed_tokens_are_refused_cleanly() -> None:
    verifier = TokenVerifier(KEY, "b", clock=Clock())
    static = "0" * 64  # the old HMAC(key, sender) token: refused, not a traceback
    for value in ("", static, "é" * 10, "r1:é:1:1:ab:a", b"\xff\xfe", "x" * 10_000, "r1:1:1:1:" + "é" * 64 + ":a",
                  "r1:-1:1:1:00:a", "r1:1:1:1:00:", "r1:1:1:1:00:a\nfake log line"):
        assert refused(verifier, ((AUTH_METADATA, value),))
    assert "no call token" in refused(verifier, ())
    assert "no call token" in refused(verifier, None)


def test_the_replay_guard_forgets_epochs_only_when_their_calls_are_too_old_to_replay() -> None:
    guard = ReplayGuard(window=60)
    assert guard.fresh(Token("a", 1, 1, 1_000), now=1.0)
    assert not guard.fresh(Token("a", 1, 1, 1_000), now=30.0)
    assert guard.fresh(Token("a", 2, 1, 100_000), now=100.0)  # epoch 1 (last call at 1 s) is forgotten now
    assert not guard.fresh(Token("a", 2, 1, 100_000), now=100.0)
    for epoch in range(3, 2 + MAX_EPOCHS_PER_SENDER):
        assert guard.fresh(Token("a", epoch, 1, 100_000), now=100.0)
    assert not guard.fresh(Token("a", 99, 1, 100_000), now=100.0)  # too many runs of "a" at once
    assert guard.fresh(Token("b", 99, 1, 100_000), now=100.0)


def test_a_certificate_names_exactly_one_member() -> None:
    names = CertificateNames(("a", "b", "c"), {"spiffe://ring/b": "b", "c.ring.example": "c"})
    assert names.member_of({"x509_common_name": [b"a"]}) == "a"
    assert names.member_of({"peer_uri": [b"spiffe://ring/b"], "x509_common_name": [b"whatever"]}) == "b"
    assert names.member_of({"peer_dns": [b"localhost", b"c.ring.example"]}) == "c"
    for context in ({}, {"x509_common_name": [b"mallory"]}, {"peer_dns": [b"localhost"]},
                    {"x509_common_name": [b"\xff\xfe"]}, {"peer_ip": [b"127.0.0.1"]}):
        with pytest.raises(Refused, match="names no member"):
            names.member_of(context)
    with pytest.raises(Refused, match="several members"):
        names.member_of({"peer_dns": [b"a", b"b"]})


def test_refusals_are_logged_once_per_peer_and_reason_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock(0.0)
    refusals = RefusalLog(10.0, clock)
    with caplog.at_level(logging.WARNING, logger="ring.service"):
        for i in range(500):
            refusals.refused("10.0.0.9", "UNAUTHENTICATED", f"bad key {i}")
        refusals.refused("10.0.0.8", "UNAUTHENTICATED", "bad key")
        clock.now = 10.5
        refusals.refused("10.0.0.9", "UNAUTHENTICATED", "bad key")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert lines[2].endswith("(500 UNAUTHENTICATED calls since the last report)")


def test_a_peer_with_a_dns_certificate_name_must_present_it_as_a_server() -> None:
    from ring.io.security import server_names

    names = {"a": "a", "b": "b", "c": "c", "b.ring.example": "b", "spiffe://ring/c": "c"}
    assert server_names(names) == {"b": "b.ring.example"}
