"""The codec: every core message survives encode -> bytes -> decode unchanged, and the wire
carries nothing the core does not know (the retired epoch is never set)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ring.core import messages as wire
from ring.core.status import NodeStatus
from ring.errors import ProtocolError
from ring.io import codec
from ring.io._proto import ring_pb2 as pb

names = st.text(alphabet="abcdefgh.:-0123456789", min_size=1, max_size=20)
u64 = st.integers(0, 2**64 - 1)
headers = st.builds(wire.Header, names, u64)
records = st.builds(
    wire.SessionRecord, st.text(min_size=1, max_size=43), names, u64,
    st.floats(allow_nan=False, allow_infinity=False), st.floats(0, 1e6), st.booleans(),
    st.binary(max_size=64))

MESSAGES = {
    wire.Ping: st.builds(wire.Ping, headers, u64),
    wire.PingReply: st.builds(wire.PingReply, headers, u64, st.booleans(), u64),
    wire.IndirectPing: st.builds(wire.IndirectPing, headers, names, u64),
    wire.IndirectPingReply: st.builds(wire.IndirectPingReply, headers, names, u64, st.booleans()),
    wire.Join: st.builds(wire.Join, headers),
    wire.JoinReply: st.builds(wire.JoinReply, headers, st.booleans(), st.text(max_size=30), u64),
    wire.Batch: st.builds(wire.Batch, headers, u64, u64, st.lists(records, max_size=4).map(tuple),
                          st.booleans(), st.booleans()),
    wire.BatchAck: st.builds(wire.BatchAck, headers, u64, u64, st.sampled_from(wire.AckStatus),
                             st.text(max_size=30), u64, st.lists(st.text(min_size=1, max_size=43), max_size=3).map(tuple)),
    wire.Claim: st.builds(wire.Claim, headers, st.text(min_size=1, max_size=43), u64, st.booleans()),
    # a record travels only with a grant (the decoder drops any other), a held version without one
    wire.ClaimReply: st.builds(wire.ClaimReply, headers, st.text(max_size=43), u64,
                               st.just(wire.ClaimStatus.GRANTED), st.none() | records, u64)
    | st.builds(wire.ClaimReply, headers, st.text(max_size=43), u64,
                st.sampled_from([s for s in wire.ClaimStatus if s is not wire.ClaimStatus.GRANTED]),
                st.none(), u64, u64, names),
    wire.Release: st.builds(wire.Release, headers, st.text(max_size=43), u64),
    wire.DropBackups: st.builds(wire.DropBackups, headers, u64),
    wire.Leave: st.builds(wire.Leave, headers),
    wire.Done: st.builds(wire.Done, headers),
}


def test_every_message_type_has_a_strategy() -> None:
    assert set(MESSAGES) == set(wire.REQUEST_TYPES) | {
        wire.PingReply, wire.IndirectPingReply, wire.JoinReply, wire.BatchAck, wire.ClaimReply, wire.Done}


def test_every_request_type_has_an_rpc() -> None:
    assert set(codec.RPCS) == set(wire.REQUEST_TYPES)
    methods = {m.name for m in pb.DESCRIPTOR.services_by_name["Ring"].methods}
    assert {name for name, _, _ in codec.RPCS.values()} | {"Status", "ClaimMany"} == methods  # ClaimMany: Claims


@pytest.mark.parametrize("kind", sorted(MESSAGES, key=lambda k: k.__name__), ids=lambda k: k.__name__)
@settings(max_examples=150)  # per message type; the types, not the count, carry the coverage
@given(data=st.data())
def test_a_message_survives_the_wire(kind: type, data: st.DataObject) -> None:
    message = data.draw(MESSAGES[kind])
    encoded = codec.encode(message, wall_time=12.5)
    raw = encoded.SerializeToString()
    parsed = type(encoded).FromString(raw)
    assert codec.decode(parsed) == message
    assert parsed.header.epoch == 0  # retired: never set, so never on the wire


def test_wall_time_travels_beside_the_message_on_joins_and_replies() -> None:
    h = wire.Header("a", 3)
    assert codec.wall_time_of(codec.encode(wire.Join(h), wall_time=99.5)) == 99.5
    assert codec.wall_time_of(codec.encode(wire.PingReply(h, 1), wall_time=7.0)) == 7.0
    assert codec.wall_time_of(codec.encode(wire.Claim(h, "s", 1))) == 0.0


@pytest.mark.parametrize("garbage, complaint", [
    (pb.Ping(nonce=1), "without a header"),
    (pb.Ping(header=pb.Header(sender="")), "valid sender"),
    (pb.Ping(header=pb.Header(sender="x" * 300)), "valid sender"),
    (pb.BatchAck(header=pb.Header(sender="a"), status=0), "unknown status"),
    (pb.ClaimReply(header=pb.Header(sender="a"), status=99), "unknown status"),
    (pb.BatchAck(header=pb.Header(sender="a"), status=1, refused=[""]), "invalid session id"),
    (pb.Claim(header=pb.Header(sender="a"), session_id=""), "valid session id"),
    (pb.Batch(header=pb.Header(sender="a"), records=[pb.SessionRecord(session_id="", owner="a")]), "invalid id"),
    (pb.Batch(header=pb.Header(sender="a"), records=[pb.SessionRecord(session_id="s", data=b"x" * 11)]),
     "exceeds max-session-size"),
])
def test_decoding_refuses_what_the_core_must_not_see(garbage: object, complaint: str) -> None:
    with pytest.raises(ProtocolError, match=complaint):
        codec.decode(garbage, max_size=10)


def test_status_reply_carries_the_node_status() -> None:
    st_ = NodeStatus(id="a", incarnation=5, epoch=2, alive=("a", "b"), successor="b", primaries=3,
                     backups={"d": 1}, orphans={"c": 2}, handed_over=0, resyncing=True, lease_valid=True,
                     unreplicated_writes=4, pending_writes=0, peers={"b": ("alive", 7)})
    reply = codec.status_to_pb(st_, "127.0.0.1:1099")
    assert (reply.id, reply.address, reply.successor, reply.primaries, dict(reply.orphans)) == (
        "a", "127.0.0.1:1099", "b", 3, {"c": 2})
    assert [(p.id, p.state, p.incarnation) for p in reply.peers] == [("b", "alive", 7)]


def test_a_record_beside_a_claim_status_other_than_granted_is_not_decoded() -> None:
    record = wire.SessionRecord("s1", "a", 4, 0.0, 1800.0, False, b"secret")
    sent = codec.encode(wire.ClaimReply(wire.Header("b", 1), "s1", 3, wire.ClaimStatus.GRANTED, record))
    sent.status = pb.CLAIM_NOT_AUTHORITY
    sent.held_version, sent.held_owner = 4, "a"
    got = codec.decode(type(sent).FromString(sent.SerializeToString()))
    assert isinstance(got, wire.ClaimReply) and got.record is None and (got.held_version, got.held_owner) == (4, "a")
