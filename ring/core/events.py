"""Inputs the shell feeds the core, and effects the core returns, in the order to carry them out.

Inputs are facts (something happened); effects are commands (do this). The shell never decides:
it moves messages, runs the tick timer and completes HTTP requests when told to. Every event is
frozen, slotted and keyword-only, as h11's are.

A failed request carries a `FailureReason`, never free text, so the shell can map each reason to
its own answer (a 500, a 503, a 409) without parsing messages.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ring.core.messages import Message, Reply, Request, SessionRecord


class FailureReason(enum.Enum):
    """Why a load or a write failed. The value is the sentence logs and transcripts show."""

    TOO_LARGE = "session too large"
    INVALIDATED = "session was invalidated"  # a concurrent request logged it out first
    ID_TAKEN = "session id already held elsewhere"  # a create (base version 0) of a held id
    MOVED = "session moved to another instance"  # written here without being held here
    NOT_SERVABLE = "this instance cannot serve the session now"  # no lease before the deadline
    NO_COPY_REACHABLE = "no copy reachable before the deadline"
    FENCED = "this instance was declared dead; retry"
    TIMED_OUT = "not acknowledged before the deadline"  # indeterminate: it may still commit
    OVERLOADED = "too many writes waiting for the successor"  # refused at once, nothing written
    LEAVING = "this instance is stopping; retry elsewhere"  # a clean stop began: nothing written
    TOO_MANY_SESSIONS = "this instance holds its maximum number of sessions"  # a new one refused (503)

    @property
    def retryable(self) -> bool:
        """The client may retry the same request (the write is indeterminate, or nothing happened)."""
        return self not in (FailureReason.TOO_LARGE, FailureReason.INVALIDATED, FailureReason.ID_TAKEN)


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick:
    """Time passed. The shell ticks several times per ping interval."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Received:
    """A peer's message arrived (a request to answer or a reply to one of ours)."""

    message: Message
    in_reply_to: Request | None = None  # for a reply: the request it answers


@dataclass(frozen=True, slots=True, kw_only=True)
class Unreachable:
    """A request we sent to `peer` could not be delivered or got no reply (transport error)."""

    peer: str
    request: Request


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadRequested:
    """An HTTP request wants session `session_id`; `hint_*` come from the (untrusted) locator."""

    request_id: int
    session_id: str
    hint_primary: str = ""
    hint_backup: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteRequested:
    """End of an HTTP request: store this session (or its tombstone when `deleted`)."""

    request_id: int
    session_id: str
    base_version: int
    data: bytes = b""
    deleted: bool = False
    touch_only: bool = False
    # seconds of inactivity after which this session expires (its own session timeout); None: the
    # instance's <session-timeout> (a touch keeps the lifetime the session has)
    lifetime: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaveRequested:
    """Stop cleanly: the HTTP side drained. Refuse new requests, let the successor acknowledge
    everything, then tell every peer (the core answers `Left`; the shell then exits)."""


Input = Tick | Received | Unreachable | LoadRequested | WriteRequested | LeaveRequested

# ---------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True, kw_only=True)
class Send:
    to: str
    message: Request


@dataclass(frozen=True, slots=True, kw_only=True)
class Respond:
    """The reply to the request received in this step."""

    message: Reply


@dataclass(frozen=True, slots=True, kw_only=True)
class Loaded:
    """The session for a LoadRequested: `record` is None when the cluster holds no live copy."""

    request_id: int
    record: SessionRecord | None
    primary: str
    backup: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadFailed:
    request_id: int
    reason: FailureReason


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteCommitted:
    request_id: int
    version: int
    primary: str
    backup: str
    replicated: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteFailed:
    request_id: int
    reason: FailureReason


@dataclass(frozen=True, slots=True, kw_only=True)
class ViewChanged:
    epoch: int  # this instance's count of view changes (local: never sent)
    alive: tuple[str, ...]
    successor: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerDeclaredDead:
    peer: str
    incarnation: int  # the incarnation declared dead (0: never heard from it)
    orphans: int  # how many of its backups this instance now keeps as read-only orphans
    restarted: bool = False  # noticed through a message with a higher incarnation
    left: bool = False  # it said it leaves (a clean stop): no detection wait


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerJoined:
    peer: str
    incarnation: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Fenced:
    """We were declared dead: a new incarnation; what we handed over is dropped, the rest kept as
    orphans to reconcile."""

    old_incarnation: int
    new_incarnation: int
    dropped: int
    kept: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ResyncStarted:
    successor: str
    sessions: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ResyncFinished:
    successor: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Adopted:
    session_id: str
    from_peer: str
    version: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected:
    """A peer's message was refused (stale, fenced, out of sequence); logged by the shell."""

    peer: str
    what: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Left:
    """The clean stop is complete: the successor holds every session at its latest version and
    every peer was told. The process may exit; whatever it is asked from now on, it ignores."""

    peers_told: tuple[str, ...]


Effect = (
    Left | Send | Respond | Loaded | LoadFailed | WriteCommitted | WriteFailed | ViewChanged
    | PeerDeclaredDead | PeerJoined | Fenced | ResyncStarted | ResyncFinished | Adopted | Rejected
)
RequestOutcome = Loaded | LoadFailed | WriteCommitted | WriteFailed
