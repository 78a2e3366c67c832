"""Issue 11: a bounded, seeded fuzzer for the paths that read hostile bytes. Each target must give
its own answer (a value, or the one error it documents), never another exception.

    RING_FUZZ_SEED        the seed (printed; default 11)
    RING_FUZZ_ITERATIONS  mutations per target (default 3000: a few seconds in all)
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable

import pytest
from google.protobuf.message import DecodeError

from ring.core import messages as wire
from ring.errors import ConfigError, ProtocolError
from ring.io import codec
from ring.io.security import CallSigner, Refused, TokenVerifier
from ring.serverxml import parse_server_xml
from ring.web import locator
from ring.web.session import decode as decode_session
from ring.web.wsgi import parse_cookie_header

SEED = int(os.environ.get("RING_FUZZ_SEED", "11"))
ITERATIONS = int(os.environ.get("RING_FUZZ_ITERATIONS", "3000"))
KEY = "fuzz-test-key-0123456789abcdef"

H = wire.Header("a", 7)
RECORD = wire.SessionRecord("s" * 43, "a", 3, 1.5, 60.0, False, b'{"count":1}')
SAMPLES: list[wire.Message] = [
    wire.Ping(H, 1), wire.PingReply(H, 1, True, 9), wire.IndirectPing(H, "b", 2),
    wire.IndirectPingReply(H, "b", 2, True), wire.Join(H), wire.JoinReply(H, False, "no", 4),
    wire.Batch(H, 1, 2, (RECORD, RECORD), True, False), wire.BatchAck(H, 1, 2, wire.AckStatus.FENCED, "x", 3),
    wire.Claim(H, "s" * 43, 5, True), wire.ClaimReply(H, "s" * 43, 5, wire.ClaimStatus.GRANTED, RECORD, 0),
    wire.Release(H, "s" * 43, 3), wire.DropBackups(H, 1), wire.Done(H),
]


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        at = rng.randrange(len(b) + 1)
        if op == 0 and b:
            b[min(at, len(b) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 2:
            del b[at:at + rng.randint(1, 8)]
        elif op == 3:
            b = b[:at]
        elif op == 4 and b:
            b[min(at, len(b) - 1)] = rng.choice([0x00, 0x7F, 0x80, 0xFF, 0x0A, 0x12, 0x1A, 0x22])
        else:
            b[at:at] = b[: rng.randint(0, 16)]  # repeat a prefix (a field again)
    return bytes(b)


def fuzz(name: str, seeds: list[bytes], target: Callable[[bytes], object],
         allowed: tuple[type[BaseException], ...]) -> None:
    rng = random.Random(f"{SEED}:{name}")
    print(f"fuzzing {name}: seed {SEED}, {ITERATIONS} inputs")
    for i in range(ITERATIONS):
        data = mutate(rng, rng.choice(seeds))
        try:
            target(data)
        except allowed:
            pass
        except Exception as exc:  # noqa: BLE001 - the point: anything else is a bug
            pytest.fail(f"{name}: {type(exc).__name__}: {exc} on input {i} {data!r:.300} (seed {SEED})")


def test_the_message_decode_path_answers_every_byte_string() -> None:
    by_type = {type(codec.encode(m)): [] for m in SAMPLES}  # type: ignore[var-annotated]
    for m in SAMPLES:
        by_type[type(codec.encode(m))].append(codec.encode(m).SerializeToString())
    for pb_type, seeds in by_type.items():
        def decode(data: bytes, pb_type: type = pb_type) -> object:
            return codec.decode(pb_type.FromString(data), max_size=64)

        fuzz(pb_type.__name__, seeds, decode, (DecodeError, ProtocolError))


def test_cookie_parsers_answer_every_header() -> None:
    members = frozenset({"a", "b", "127.0.0.1:7001"})
    good = locator.encode(locator.Locator("a", "b"), KEY)
    headers = [f"RINGSESSION={'x' * 43}; CLUSTERSESSIONLOCATOR={good}".encode(), b'a="b"; c=d;;=;e', good.encode()]

    def parse(data: bytes) -> object:
        text = data.decode("latin-1")
        cookies = parse_cookie_header(text)
        for value in [text, *cookies.values()]:
            for key in (KEY, None):
                found = locator.decode(value, key, members)
                assert found is None or found.primary in members
        return cookies

    fuzz("cookies and locators", headers, parse, ())


def test_session_data_decodes_or_is_refused() -> None:
    seeds = [b'{"count":1,"cart":[1,2,{"x":null}],"s":"\\u00e9"}', b"{" + b'"a":[' * 50 + b"]" * 50 + b"}",
             b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"]
    fuzz("session data", seeds, decode_session, (ValueError,))


def test_call_tokens_verify_or_are_refused() -> None:
    verifier = TokenVerifier(KEY, "b")
    signer = CallSigner(KEY, "a")
    seeds = [signer.metadata("b", "Ping")[0][1].encode() for _ in range(8)]

    def check(data: bytes) -> object:
        return verifier.check((("x-ring-auth", data.decode("latin-1")),), "Ping")

    fuzz("call tokens", seeds, check, (Refused,))


def test_server_xml_parses_or_names_the_problem() -> None:
    seeds = [b"""<?xml version="1.0" encoding="UTF-8"?>
<server><cluster>
  <instance><host>127.0.0.1</host><session-replication><port>7001</port><instance-id>a</instance-id>
  </session-replication></instance>
  <instance><host>127.0.0.1</host><session-replication><port>7002</port></session-replication></instance>
  <session-replication><key>0123456789abcdef0123</key><ping-interval>0.5</ping-interval>
  <max-calls-per-address>40</max-calls-per-address><http-channel-timeout>5</http-channel-timeout>
  </session-replication>
</cluster></server>"""]
    fuzz("server.xml", seeds, lambda data: parse_server_xml(data.decode("latin-1"), "server.xml"), (ConfigError,))
