"""Inputs the shell feeds the core, and effects the core returns, in the order to carry them out.

Inputs are facts (something happened); effects are commands (do this). The shell never decides:
it moves messages, runs the tick timer and completes HTTP requests when told to.
"""

from __future__ import annotations

from dataclasses import dataclass

from ring.core.messages import Message, Reply, Request, SessionRecord

# ---------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed. The shell ticks several times per ping interval."""


@dataclass(frozen=True, slots=True)
class Received:
    """A peer's message arrived (a request to answer or a reply to one of ours)."""

    message: Message
    in_reply_to: Request | None = None  # for a reply: the request it answers


@dataclass(frozen=True, slots=True)
class Unreachable:
    """A request we sent to `peer` could not be delivered or got no reply (transport error)."""

    peer: str
    request: Request


@dataclass(frozen=True, slots=True)
class LoadRequested:
    """An HTTP request wants session `session_id`; `hint_*` come from the (untrusted) locator."""

    request_id: int
    session_id: str
    hint_primary: str = ""
    hint_backup: str = ""


@dataclass(frozen=True, slots=True)
class WriteRequested:
    """End of an HTTP request: store this session (or its tombstone when `deleted`)."""

    request_id: int
    session_id: str
    base_version: int
    data: bytes = b""
    deleted: bool = False
    touch_only: bool = False


Input = Tick | Received | Unreachable | LoadRequested | WriteRequested

# ---------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class Send:
    to: str
    message: Request


@dataclass(frozen=True, slots=True)
class Respond:
    """The reply to the request received in this step."""

    message: Reply


@dataclass(frozen=True, slots=True)
class Loaded:
    """The session for a LoadRequested: `record` is None when the cluster holds no live copy."""

    request_id: int
    record: SessionRecord | None
    primary: str
    backup: str


@dataclass(frozen=True, slots=True)
class LoadFailed:
    request_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class WriteCommitted:
    request_id: int
    version: int
    primary: str
    backup: str
    replicated: bool


@dataclass(frozen=True, slots=True)
class WriteFailed:
    request_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class ViewChanged:
    epoch: int
    alive: tuple[str, ...]
    successor: str | None


@dataclass(frozen=True, slots=True)
class PeerDeclaredDead:
    peer: str
    incarnation: int  # the incarnation declared dead (0: never heard from it)
    orphans: int  # how many of its backups this instance now keeps as read-only orphans
    restarted: bool = False  # noticed through a message with a higher incarnation


@dataclass(frozen=True, slots=True)
class PeerJoined:
    peer: str
    incarnation: int


@dataclass(frozen=True, slots=True)
class Fenced:
    """We were declared dead: primaries and backups dropped, new incarnation."""

    old_incarnation: int
    new_incarnation: int
    dropped: int


@dataclass(frozen=True, slots=True)
class ResyncStarted:
    successor: str
    sessions: int


@dataclass(frozen=True, slots=True)
class ResyncFinished:
    successor: str


@dataclass(frozen=True, slots=True)
class Adopted:
    session_id: str
    from_peer: str
    version: int


@dataclass(frozen=True, slots=True)
class Rejected:
    """A peer's message was refused (stale, fenced, out of sequence); logged by the shell."""

    peer: str
    what: str
    reason: str


Effect = (
    Send | Respond | Loaded | LoadFailed | WriteCommitted | WriteFailed | ViewChanged
    | PeerDeclaredDead | PeerJoined | Fenced | ResyncStarted | ResyncFinished | Adopted | Rejected
)
