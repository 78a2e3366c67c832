"""The only translator between the core's messages and protobuf (protos/ring/v1/ring.proto).

`encode(core_message) -> pb` and `decode(pb) -> core_message`. Decoding validates what the core
relies on (a header with a sender, sizes within bounds) and raises ProtocolError otherwise, so a
stranger's garbage never reaches the core.
"""

from __future__ import annotations

from typing import Any

from ring.core import messages as m
from ring.errors import ProtocolError
from ring.io._proto import ring_pb2 as pb

MAX_ID_LENGTH = 256

_ACK = {
    m.AckStatus.OK: pb.ACK_OK, m.AckStatus.FENCED: pb.ACK_FENCED,
    m.AckStatus.STALE: pb.ACK_STALE, m.AckStatus.REJECTED: pb.ACK_REJECTED,
}
_ACK_BACK = {v: k for k, v in _ACK.items()}
_CLAIM = {
    m.ClaimStatus.GRANTED: pb.CLAIM_GRANTED, m.ClaimStatus.NOT_FOUND: pb.CLAIM_NOT_FOUND,
    m.ClaimStatus.NOT_AUTHORITY: pb.CLAIM_NOT_AUTHORITY, m.ClaimStatus.BUSY: pb.CLAIM_BUSY,
    m.ClaimStatus.FENCED: pb.CLAIM_FENCED,
}
_CLAIM_BACK = {v: k for k, v in _CLAIM.items()}


def _header(h: m.Header) -> pb.Header:
    return pb.Header(sender=h.sender, incarnation=h.incarnation, epoch=h.epoch)


def _header_back(p: Any) -> m.Header:
    if not p.HasField("header"):
        raise ProtocolError("message without a header")
    h = p.header
    if not h.sender or len(h.sender) > MAX_ID_LENGTH:
        raise ProtocolError("header without a valid sender")
    return m.Header(h.sender, h.incarnation, h.epoch)


def record_to_pb(r: m.SessionRecord) -> pb.SessionRecord:
    return pb.SessionRecord(
        session_id=r.session_id, owner=r.owner, version=r.version, last_access=r.last_access,
        max_inactive=r.max_inactive, deleted=r.deleted, data=r.data)


def record_from_pb(p: pb.SessionRecord, max_size: int) -> m.SessionRecord:
    if not p.session_id or len(p.session_id) > MAX_ID_LENGTH or len(p.owner) > MAX_ID_LENGTH:
        raise ProtocolError("session record with an invalid id")
    if len(p.data) > max_size:
        raise ProtocolError(f"session record of {len(p.data)} bytes exceeds max-session-size")
    return m.SessionRecord(p.session_id, p.owner, p.version, p.last_access, p.max_inactive,
                           p.deleted, p.data)


def encode(msg: m.Message) -> Any:
    h = _header(msg.header)
    if isinstance(msg, m.Batch):
        return pb.Batch(header=h, stream=msg.stream, seq=msg.seq,
                        records=[record_to_pb(r) for r in msg.records],
                        resync=msg.resync, resync_done=msg.resync_done)
    if isinstance(msg, m.BatchAck):
        return pb.BatchAck(header=h, stream=msg.stream, seq=msg.seq, status=_ACK[msg.status],
                           reason=msg.reason, known_incarnation=msg.known_incarnation)
    if isinstance(msg, m.Ping):
        return pb.Ping(header=h, nonce=msg.nonce, wall_time=msg.wall_time)
    if isinstance(msg, m.PingReply):
        return pb.PingReply(header=h, nonce=msg.nonce, wall_time=msg.wall_time,
                            you_are_dead=msg.you_are_dead, known_incarnation=msg.known_incarnation)
    if isinstance(msg, m.IndirectPing):
        return pb.IndirectPing(header=h, target=msg.target, nonce=msg.nonce)
    if isinstance(msg, m.IndirectPingReply):
        return pb.IndirectPingReply(header=h, target=msg.target, nonce=msg.nonce, reachable=msg.reachable)
    if isinstance(msg, m.Join):
        return pb.Join(header=h, wall_time=msg.wall_time)
    if isinstance(msg, m.JoinReply):
        return pb.JoinReply(header=h, wall_time=msg.wall_time, accepted=msg.accepted, reason=msg.reason,
                            known_incarnation=msg.known_incarnation)
    if isinstance(msg, m.Claim):
        return pb.Claim(header=h, session_id=msg.session_id, claim_id=msg.claim_id)
    if isinstance(msg, m.ClaimReply):
        reply = pb.ClaimReply(header=h, session_id=msg.session_id, claim_id=msg.claim_id,
                              status=_CLAIM[msg.status], known_incarnation=msg.known_incarnation)
        if msg.record is not None:
            reply.record.CopyFrom(record_to_pb(msg.record))
        return reply
    if isinstance(msg, m.Release):
        return pb.Release(header=h, session_id=msg.session_id, version=msg.version)
    if isinstance(msg, m.DropBackups):
        return pb.DropBackups(header=h, stream=msg.stream)
    if isinstance(msg, m.Done):
        return pb.Done(header=h)
    raise TypeError(f"cannot encode {type(msg).__name__}")


def decode(p: Any, max_size: int = 8 << 20) -> m.Message:
    h = _header_back(p)
    if isinstance(p, pb.Batch):
        return m.Batch(h, p.stream, p.seq, tuple(record_from_pb(r, max_size) for r in p.records),
                       p.resync, p.resync_done)
    if isinstance(p, pb.BatchAck):
        if p.status not in _ACK_BACK:
            raise ProtocolError("batch ack with an unknown status")
        return m.BatchAck(h, p.stream, p.seq, _ACK_BACK[p.status], p.reason, p.known_incarnation)
    if isinstance(p, pb.Ping):
        return m.Ping(h, p.nonce, p.wall_time)
    if isinstance(p, pb.PingReply):
        return m.PingReply(h, p.nonce, p.wall_time, p.you_are_dead, p.known_incarnation)
    if isinstance(p, pb.IndirectPing):
        return m.IndirectPing(h, p.target, p.nonce)
    if isinstance(p, pb.IndirectPingReply):
        return m.IndirectPingReply(h, p.target, p.nonce, p.reachable)
    if isinstance(p, pb.Join):
        return m.Join(h, p.wall_time)
    if isinstance(p, pb.JoinReply):
        return m.JoinReply(h, p.wall_time, p.accepted, p.reason, p.known_incarnation)
    if isinstance(p, pb.Claim):
        if not p.session_id or len(p.session_id) > MAX_ID_LENGTH:
            raise ProtocolError("claim without a valid session id")
        return m.Claim(h, p.session_id, p.claim_id)
    if isinstance(p, pb.ClaimReply):
        if p.status not in _CLAIM_BACK:
            raise ProtocolError("claim reply with an unknown status")
        record = record_from_pb(p.record, max_size) if p.HasField("record") else None
        return m.ClaimReply(h, p.session_id, p.claim_id, _CLAIM_BACK[p.status], record, p.known_incarnation)
    if isinstance(p, pb.Release):
        return m.Release(h, p.session_id, p.version)
    if isinstance(p, pb.DropBackups):
        return m.DropBackups(h, p.stream)
    if isinstance(p, pb.Done):
        return m.Done(h)
    raise ProtocolError(f"cannot decode {type(p).__name__}")
