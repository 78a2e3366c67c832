"""Fencing alone: the guard every message passes (admit) and what a zombie is told."""

from __future__ import annotations

import pytest

from ring.core.fencing import Admission, admit, zombie_answer
from ring.core.membership import Membership
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
    Ping,
    PingReply,
    Release,
)
from ring.core.settings import CoreSettings

ME = Header("a", 9)


@pytest.mark.parametrize("request_, expected", [
    (Ping(Header("b", 1), 5), PingReply(ME, 5, you_are_dead=True, known_incarnation=1)),
    (Batch(Header("b", 1), 2, 3), BatchAck(ME, 2, 3, AckStatus.FENCED, "declared dead", 1)),
    (Claim(Header("b", 1), "s1", 4), ClaimReply(ME, "s1", 4, ClaimStatus.FENCED, None, 1)),
    (IndirectPing(Header("b", 1), "c", 6), IndirectPingReply(ME, "c", 6, reachable=True)),
    (Join(Header("b", 1)), JoinReply(ME, accepted=False, reason="declared dead: rejoin", known_incarnation=1)),
    (Release(Header("b", 1), "s1", 3), Done(ME)),
    (DropBackups(Header("b", 1), 2), Done(ME)),
    (PingReply(Header("b", 1), 5), None),
])
def test_a_zombie_is_told_in_the_reply_its_request_expects(request_: object, expected: object) -> None:
    assert zombie_answer(request_, ME, known=1) == expected  # type: ignore[arg-type]


def membership() -> Membership:
    m = Membership("a", ("a", "b", "c"), CoreSettings(), now=0.0)
    m.heard("b", 3, 0.0)
    m.heard("c", 3, 0.0)
    return m


def test_admit_refuses_strangers_and_itself() -> None:
    m = membership()
    assert admit(Ping(Header("mallory", 1), 1), None, m, "a", 9, 1.0) is Admission.NOT_A_MEMBER
    assert admit(Ping(Header("a", 9), 1), None, m, "a", 9, 1.0) is Admission.NOT_A_MEMBER


def test_a_clock_probe_is_answered_without_a_trace() -> None:
    m = membership()
    assert admit(Join(Header("b", 0)), None, m, "a", 9, 1.0) is Admission.CLOCK_PROBE
    assert m.incarnation_of("b") == 3 and m.peers["b"].last_heard == 0.0


def test_admit_tells_live_peers_from_zombies_restarts_and_stale_replies() -> None:
    m = membership()
    assert admit(Ping(Header("b", 3), 1), None, m, "a", 9, 1.0) is Admission.ACCEPT
    assert admit(Ping(Header("b", 4), 1), None, m, "a", 9, 1.0) is Admission.ACCEPT_RESTARTED
    assert admit(Ping(Header("b", 3), 1), None, m, "a", 9, 1.0) is Admission.ZOMBIE  # older than known now
    m.declare_dead("c")
    assert admit(Ping(Header("c", 3), 1), None, m, "a", 9, 1.0) is Admission.ZOMBIE
    ours_before = Ping(Header("a", 8), 1)  # a request of our previous incarnation
    assert admit(PingReply(Header("b", 4), 1), ours_before, m, "a", 9, 1.0) is Admission.OLD_REPLY


def test_mutual_death_is_fenced_only_when_the_reply_answers_this_incarnation() -> None:
    m = membership()
    m.declare_dead("b")
    dead = PingReply(Header("b", 3), 1, you_are_dead=True, known_incarnation=9)
    assert admit(dead, Ping(ME, 1), m, "a", 9, 1.0) is Admission.MUTUAL_DEATH
    assert admit(dead, Ping(Header("a", 8), 1), m, "a", 9, 1.0) is Admission.ZOMBIE
