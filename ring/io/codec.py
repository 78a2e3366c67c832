"""The only translator between the core's messages and protobuf (protos/ring/v1/ring.proto).

`encode(core_message) -> pb` and `decode(pb) -> core_message`. Decoding validates what the core
relies on (a header with a sender, sizes within bounds, known enum values) and raises
ProtocolError otherwise, so a stranger's garbage never reaches the core. `RPCS` names the gRPC
method and reply type of every request type: the wire does not depend on class names.

Wall-clock readings for the clock check are not part of the core's messages: a Join or a reply
to one carries the sender's wall time in its protobuf only (`encode(..., wall_time=...)`,
`wall_time_of`), stamped and read by the shell.
"""

from __future__ import annotations

from typing import Any

from ring.core import messages as wire
from ring.core.status import NodeStatus
from ring.errors import ProtocolError
from ring.io._proto import ring_pb2 as pb

MAX_ID_LENGTH = 256

_ACK = {
    wire.AckStatus.OK: pb.ACK_OK, wire.AckStatus.FENCED: pb.ACK_FENCED,
    wire.AckStatus.STALE: pb.ACK_STALE, wire.AckStatus.REJECTED: pb.ACK_REJECTED,
    wire.AckStatus.NOT_NOW: pb.ACK_NOT_NOW,
}
_ACK_BACK = {v: k for k, v in _ACK.items()}
_CLAIM = {
    wire.ClaimStatus.GRANTED: pb.CLAIM_GRANTED, wire.ClaimStatus.NOT_FOUND: pb.CLAIM_NOT_FOUND,
    wire.ClaimStatus.NOT_AUTHORITY: pb.CLAIM_NOT_AUTHORITY, wire.ClaimStatus.BUSY: pb.CLAIM_BUSY,
    wire.ClaimStatus.FENCED: pb.CLAIM_FENCED,
}
_CLAIM_BACK = {v: k for k, v in _CLAIM.items()}

# request type -> (gRPC method of the ring.v1.Ring service, request pb type, reply pb type)
RPCS: dict[type, tuple[str, Any, Any]] = {
    wire.Batch: ("Replicate", pb.Batch, pb.BatchAck),
    wire.Ping: ("Ping", pb.Ping, pb.PingReply),
    wire.IndirectPing: ("IndirectPing", pb.IndirectPing, pb.IndirectPingReply),
    wire.Join: ("Join", pb.Join, pb.JoinReply),
    wire.Claim: ("Claim", pb.Claim, pb.ClaimReply),
    wire.Release: ("Release", pb.Release, pb.Done),
    wire.DropBackups: ("DropBackups", pb.DropBackups, pb.Done),
    wire.Leave: ("Leave", pb.Leave, pb.Done),
}


def _header(h: wire.Header) -> pb.Header:
    return pb.Header(sender=h.sender, incarnation=h.incarnation)


def _header_back(p: Any) -> wire.Header:
    if not p.HasField("header"):
        raise ProtocolError("message without a header")
    h = p.header
    if not h.sender or len(h.sender) > MAX_ID_LENGTH:
        raise ProtocolError("header without a valid sender")
    return wire.Header(h.sender, h.incarnation)


def record_to_pb(r: wire.SessionRecord) -> pb.SessionRecord:
    return pb.SessionRecord(
        session_id=r.session_id, owner=r.owner, version=r.version, last_access=r.last_access,
        max_inactive=r.max_inactive, deleted=r.deleted, data=r.data)


def record_from_pb(p: pb.SessionRecord, max_size: int) -> wire.SessionRecord:
    if not p.session_id or len(p.session_id) > MAX_ID_LENGTH or len(p.owner) > MAX_ID_LENGTH:
        raise ProtocolError("session record with an invalid id")
    if len(p.data) > max_size:
        raise ProtocolError(f"session record of {len(p.data)} bytes exceeds max-session-size")
    return wire.SessionRecord(p.session_id, p.owner, p.version, p.last_access, p.max_inactive,
                              p.deleted, p.data)


def encode(msg: wire.Message, *, wall_time: float = 0.0) -> Any:
    """The protobuf of `msg`; `wall_time` is stamped into Joins and replies that carry one."""
    h = _header(msg.header)
    if isinstance(msg, wire.Batch):
        return pb.Batch(header=h, stream=msg.stream, seq=msg.seq,
                        records=[record_to_pb(r) for r in msg.records],
                        resync=msg.resync, resync_done=msg.resync_done)
    if isinstance(msg, wire.BatchAck):
        return pb.BatchAck(header=h, stream=msg.stream, seq=msg.seq, status=_ACK[msg.status],
                           reason=msg.reason, known_incarnation=msg.known_incarnation,
                           refused=list(msg.refused))
    if isinstance(msg, wire.Ping):
        return pb.Ping(header=h, nonce=msg.nonce, wall_time=wall_time)
    if isinstance(msg, wire.PingReply):
        return pb.PingReply(header=h, nonce=msg.nonce, wall_time=wall_time,
                            you_are_dead=msg.you_are_dead, known_incarnation=msg.known_incarnation)
    if isinstance(msg, wire.IndirectPing):
        return pb.IndirectPing(header=h, target=msg.target, nonce=msg.nonce)
    if isinstance(msg, wire.IndirectPingReply):
        return pb.IndirectPingReply(header=h, target=msg.target, nonce=msg.nonce, reachable=msg.reachable)
    if isinstance(msg, wire.Join):
        return pb.Join(header=h, wall_time=wall_time)
    if isinstance(msg, wire.JoinReply):
        return pb.JoinReply(header=h, wall_time=wall_time, accepted=msg.accepted, reason=msg.reason,
                            known_incarnation=msg.known_incarnation)
    if isinstance(msg, wire.Claim):
        return pb.Claim(header=h, session_id=msg.session_id, claim_id=msg.claim_id, eager=msg.eager)
    if isinstance(msg, wire.ClaimReply):
        reply = pb.ClaimReply(header=h, session_id=msg.session_id, claim_id=msg.claim_id,
                              status=_CLAIM[msg.status], known_incarnation=msg.known_incarnation,
                              held_version=msg.held_version, held_owner=msg.held_owner)
        if msg.record is not None and msg.status is wire.ClaimStatus.GRANTED:
            reply.record.CopyFrom(record_to_pb(msg.record))
        return reply
    if isinstance(msg, wire.Release):
        return pb.Release(header=h, session_id=msg.session_id, version=msg.version)
    if isinstance(msg, wire.DropBackups):
        return pb.DropBackups(header=h, stream=msg.stream)
    if isinstance(msg, wire.Leave):
        return pb.Leave(header=h)
    if isinstance(msg, wire.Done):
        return pb.Done(header=h)
    raise TypeError(f"cannot encode {type(msg).__name__}")


def decode(p: Any, max_size: int = 8 << 20) -> wire.Message:
    h = _header_back(p)
    if isinstance(p, pb.Batch):
        return wire.Batch(h, p.stream, p.seq, tuple(record_from_pb(r, max_size) for r in p.records),
                          p.resync, p.resync_done)
    if isinstance(p, pb.BatchAck):
        if p.status not in _ACK_BACK:
            raise ProtocolError("batch ack with an unknown status")
        if any(not sid or len(sid) > MAX_ID_LENGTH for sid in p.refused):
            raise ProtocolError("batch ack refusing a record with an invalid session id")
        return wire.BatchAck(h, p.stream, p.seq, _ACK_BACK[p.status], p.reason, p.known_incarnation,
                             tuple(p.refused))
    if isinstance(p, pb.Ping):
        return wire.Ping(h, p.nonce)
    if isinstance(p, pb.PingReply):
        return wire.PingReply(h, p.nonce, p.you_are_dead, p.known_incarnation)
    if isinstance(p, pb.IndirectPing):
        return wire.IndirectPing(h, p.target, p.nonce)
    if isinstance(p, pb.IndirectPingReply):
        return wire.IndirectPingReply(h, p.target, p.nonce, p.reachable)
    if isinstance(p, pb.Join):
        return wire.Join(h)
    if isinstance(p, pb.JoinReply):
        return wire.JoinReply(h, p.accepted, p.reason, p.known_incarnation)
    if isinstance(p, pb.Claim):
        if not p.session_id or len(p.session_id) > MAX_ID_LENGTH:
            raise ProtocolError("claim without a valid session id")
        return wire.Claim(h, p.session_id, p.claim_id, p.eager)
    if isinstance(p, pb.ClaimReply):
        if p.status not in _CLAIM_BACK:
            raise ProtocolError("claim reply with an unknown status")
        status = _CLAIM_BACK[p.status]
        # session data travels only with a granted copy: a record beside any other status is ignored
        record = record_from_pb(p.record, max_size) if p.HasField("record") and status is wire.ClaimStatus.GRANTED else None
        return wire.ClaimReply(h, p.session_id, p.claim_id, status, record, p.known_incarnation,
                               p.held_version, p.held_owner[:MAX_ID_LENGTH])
    if isinstance(p, pb.Release):
        return wire.Release(h, p.session_id, p.version)
    if isinstance(p, pb.DropBackups):
        return wire.DropBackups(h, p.stream)
    if isinstance(p, pb.Leave):
        return wire.Leave(h)
    if isinstance(p, pb.Done):
        return wire.Done(h)
    raise ProtocolError(f"cannot decode {type(p).__name__}")


def wall_time_of(p: Any) -> float:
    """The sender's wall clock stamped into a Join, JoinReply, Ping or PingReply (0: none)."""
    return float(getattr(p, "wall_time", 0.0))


def status_to_pb(st: NodeStatus, address: str) -> pb.StatusReply:
    return pb.StatusReply(
        id=st.id, address=address, incarnation=st.incarnation, epoch=st.epoch,
        successor=st.successor or "", primaries=st.primaries, backups=st.backups, orphans=st.orphans,
        resyncing=st.resyncing, unreplicated_writes=st.unreplicated_writes, unredundant=st.unredundant,
        peers=[pb.PeerState(id=n, state=s, incarnation=i) for n, (s, i) in st.peers.items()])
