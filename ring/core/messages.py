"""Peer messages: what instances say to each other.

Mirrors protos/ring/v1/ring.proto (ring.io.codec translates, and maps each request to its RPC).
Every message carries the sender's id and incarnation: the fences are the incarnation, the stream
number and sequence of a batch, and the session version. Requests (Ping, IndirectPing, Join,
Claim, Release, DropBackups, Batch) get exactly one reply each; the core produces that reply as a
`Respond` effect in the same step that received the request. Two are refused without one: a
message from a non-member, and a DropBackups from the receiver's own predecessor (the shell turns
a missing reply into an error, and the sender asks again). Wall-clock readings for the clock
check travel beside the messages, at the transport (the core never reads a wall clock).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One copy of a session. `last_access` is session time (wall-anchored seconds)."""

    session_id: str
    owner: str
    version: int
    last_access: float
    max_inactive: float
    deleted: bool = False
    data: bytes = b""

    @property
    def expires_at(self) -> float:
        return self.last_access + self.max_inactive

    @property
    def size(self) -> int:
        return len(self.data) + len(self.session_id) + len(self.owner) + 48


@dataclass(frozen=True, slots=True)
class Header:
    sender: str
    incarnation: int  # 0 only on a starting instance's clock probe (a Join nobody records)


class AckStatus(enum.Enum):
    OK = 1
    FENCED = 2  # the receiver declared the sender dead at this incarnation
    STALE = 3  # an older stream than the receiver's current one
    REJECTED = 4  # out of sequence: the sender must restart the stream
    NOT_NOW = 5  # the sender is not the receiver's predecessor (in its view): nothing applied, retry


class ClaimStatus(enum.Enum):
    GRANTED = 1  # the holder hands its copy over and stops serving it
    NOT_FOUND = 2
    NOT_AUTHORITY = 3  # a backup of a live owner: ask the owner
    BUSY = 4  # a write in flight, or granted to another claimer: retry
    FENCED = 5


@dataclass(frozen=True, slots=True)
class Ping:
    header: Header
    nonce: int


@dataclass(frozen=True, slots=True)
class PingReply:
    header: Header
    nonce: int
    you_are_dead: bool = False
    known_incarnation: int = 0  # with you_are_dead: rejoin above this


@dataclass(frozen=True, slots=True)
class IndirectPing:
    """Asks a third instance whether it still hears from `target` (SWIM's indirect probe)."""

    header: Header
    target: str
    nonce: int


@dataclass(frozen=True, slots=True)
class IndirectPingReply:
    header: Header
    target: str
    nonce: int
    reachable: bool


@dataclass(frozen=True, slots=True)
class Join:
    header: Header


@dataclass(frozen=True, slots=True)
class JoinReply:
    header: Header
    accepted: bool = True
    reason: str = ""
    known_incarnation: int = 0  # when not accepted: rejoin above this


@dataclass(frozen=True, slots=True)
class Batch:
    """One group-committed batch on the replication stream to the successor.

    The stream is identified by the sender's (incarnation, stream number); `seq` starts
    at 0 for each stream. `resync` marks batches carrying the full copy of the sender's primaries;
    `resync_done` marks the last of them.
    """

    header: Header
    stream: int
    seq: int
    records: tuple[SessionRecord, ...] = ()
    resync: bool = False
    resync_done: bool = False


@dataclass(frozen=True, slots=True)
class BatchAck:
    header: Header
    stream: int
    seq: int
    status: AckStatus
    reason: str = ""
    known_incarnation: int = 0  # with FENCED: rejoin above this
    # with OK: the sessions of records not stored, because the receiver keeps its own primary of
    # them (the two sides of a split each kept one, and the receiver's stands: store.stands)
    refused: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Claim:
    """Hand `session_id` over. `eager`: the claimer adopts an orphan it holds, for no request:
    a live primary then keeps the session and answers NOT_AUTHORITY with its copy."""

    header: Header
    session_id: str
    claim_id: int
    eager: bool = False


@dataclass(frozen=True, slots=True)
class ClaimReply:
    header: Header
    session_id: str
    claim_id: int
    status: ClaimStatus
    record: SessionRecord | None = None  # GRANTED only: the copy handed over
    known_incarnation: int = 0  # with FENCED: rejoin above this
    # NOT_AUTHORITY: the version and owner of the copy the holder keeps (its data stays there)
    held_version: int = 0
    held_owner: str = ""


@dataclass(frozen=True, slots=True)
class Release:
    """Drop your copy of `session_id` if it is no newer than `version`: it was adopted."""

    header: Header
    session_id: str
    version: int


@dataclass(frozen=True, slots=True)
class DropBackups:
    """The sender re-pointed its stream elsewhere: drop its backups older than stream `stream`."""

    header: Header
    stream: int


@dataclass(frozen=True, slots=True)
class Leave:
    """The sender stops cleanly: declare it dead now (its successor holds all it had)."""

    header: Header


@dataclass(frozen=True, slots=True)
class Done:
    header: Header


Request = Ping | IndirectPing | Join | Batch | Claim | Release | DropBackups | Leave
Reply = PingReply | IndirectPingReply | JoinReply | BatchAck | ClaimReply | Done
Message = Request | Reply

REQUEST_TYPES: tuple[type, ...] = (Ping, IndirectPing, Join, Batch, Claim, Release, DropBackups, Leave)

__all__ = [
    "AckStatus", "Batch", "BatchAck", "Claim", "ClaimReply", "ClaimStatus", "Done", "DropBackups",
    "Header", "IndirectPing", "IndirectPingReply", "Join", "JoinReply", "Leave", "Message", "Ping",
    "PingReply", "Release", "Reply", "Request", "REQUEST_TYPES", "SessionRecord",
]
