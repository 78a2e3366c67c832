"""Fencing: what an instance answers a peer it declared dead (a zombie), so the zombie stops.

A zombie is a process that was declared dead and keeps talking: a paused process that resumed, an
isolated one that reconnected, or an older process of a restarted instance. Whatever it asks, it
is told, in the reply its own request expects, that it was declared dead and which incarnation
its peer knows, so it drops its sessions and rejoins above that incarnation (Node._fence). Its
message is not evidence of anything: a zombie's indirect probe is answered "reachable", so it can
never help declare anyone dead. The decision is a table over the request type.

`admit` is the guard every message passes first: a stranger is refused, a clock probe answered
without a trace, a zombie told, and only a live peer's message is evidence and gets handled.
"""

from __future__ import annotations

import enum

from ring.core.membership import Heard, Membership
from ring.core.messages import (
    AckStatus,
    Batch,
    BatchAck,
    Claim,
    ClaimReply,
    ClaimStatus,
    Done,
    DropBackups,
    Header,
    IndirectPing,
    IndirectPingReply,
    Join,
    JoinReply,
    Leave,
    Message,
    Ping,
    PingReply,
    Release,
    Reply,
)


def zombie_answer(msg: Message, header: Header, known: int) -> Reply | None:
    """The reply to a zombie's request `msg` (None for a reply: nothing to answer)."""
    if isinstance(msg, Ping):
        return PingReply(header, msg.nonce, you_are_dead=True, known_incarnation=known)
    if isinstance(msg, Batch):
        return BatchAck(header, msg.stream, msg.seq, AckStatus.FENCED, "declared dead", known)
    if isinstance(msg, Claim):
        return ClaimReply(header, msg.session_id, msg.claim_id, ClaimStatus.FENCED, None, known)
    if isinstance(msg, IndirectPing):
        return IndirectPingReply(header, msg.target, msg.nonce, reachable=True)
    if isinstance(msg, Join):
        return JoinReply(header, accepted=False, reason="declared dead: rejoin", known_incarnation=known)
    if isinstance(msg, Release | DropBackups | Leave):
        return Done(header)
    return None


class Admission(enum.Enum):
    """How a message from a peer is taken (`admit`)."""

    ACCEPT = "accept"  # evidence from a live peer: handle it
    ACCEPT_RESTARTED = "accept, restarted"  # as ACCEPT, and the peer's old process is gone
    NOT_A_MEMBER = "not a member"  # refuse (logged)
    CLOCK_PROBE = "clock probe"  # a starting instance measures clocks: answer, record nothing
    ZOMBIE = "zombie"  # from a process declared dead: tell it so (zombie_answer)
    MUTUAL_DEATH = "mutual death"  # it declared us dead too (a two-instance split): fence
    OLD_REPLY = "old reply"  # answers a request of our previous incarnation: ignore


def admit(msg: Message, in_reply_to: Message | None, membership: Membership, me: str,
          incarnation: int, now: float) -> Admission:
    """Judge a message before anything acts on it; records the sender as heard when it is live."""
    h = msg.header
    if h.sender == me or h.sender not in membership.peers:
        return Admission.NOT_A_MEMBER
    if isinstance(msg, Join) and h.incarnation == 0:
        # not an announcement: a process the clock check then refuses must leave no trace
        return Admission.CLOCK_PROBE
    heard = membership.heard(h.sender, h.incarnation, now)
    answers_us = in_reply_to is None or in_reply_to.header.incarnation == incarnation
    if heard in (Heard.STALE, Heard.ZOMBIE):
        if isinstance(msg, PingReply) and msg.you_are_dead and answers_us:
            return Admission.MUTUAL_DEATH
        return Admission.ZOMBIE
    if not answers_us:
        return Admission.OLD_REPLY
    return Admission.ACCEPT_RESTARTED if heard is Heard.RESTARTED else Admission.ACCEPT
