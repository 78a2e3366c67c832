"""Authorization in the core (issue 11): what a member may make another member do.

Identity is the shell's business (ring.io.security binds a message to its sender). These rules
hold even for a member that lies, or for a bug: each test forges the message a review sent "as"
another member, or builds the interleaving where an honest member's view lags, and states that
nothing held changes and nothing unacknowledged is reported as committed.
"""

from __future__ import annotations

from dataclasses import replace

from simhelpers import FAILURE_TIMEOUT, cluster, done, effects_since, pick, role_of

from ring.core import FailureReason, Received, Rejected, Respond, Role
from ring.core.adoption import ClaimAnswer, Verdict, decide
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
    SessionRecord,
)
from ring.testing import SimCluster

FT = FAILURE_TIMEOUT


def forged(sim: SimCluster, to: str, message: object) -> list[object]:
    """Feed `to` a message as if it came over the network; the replies it answered with."""
    mark = len(sim.effect_log)
    sim.feed(to, Received(message=message))  # type: ignore[arg-type]
    return [e.message for _, e in effects_since(sim, mark, Respond)]


def header_of(sim: SimCluster, name: str) -> Header:
    return Header(name, sim.node(name).incarnation)


# ---------------------------------------------------------------- 1. batches only from the predecessor

def test_a_batch_from_a_member_that_is_not_the_predecessor_changes_no_copy() -> None:
    """The review's forged Batch "as a" to c (a's successor is b): a copy at a huge version
    would win the next failover. c refuses it NOT_NOW and holds nothing of it."""
    sim = cluster("abcd")
    created = done(sim, sim.request("create", "a", "s1", payload=b"5"))
    mark = len(sim.effect_log)
    planted = SessionRecord("s1", "a", 1001, sim.node("a").session_time(sim.now), 1800.0, data=b"1001")
    c = sim.node("c")
    stream = c.inbound.streams["a"].stream + 1 if "a" in c.inbound.streams else 99
    replies = forged(sim, "c", Batch(header_of(sim, "a"), stream, 0, (planted,), resync=True, resync_done=True))
    assert [type(r) for r in replies] == [BatchAck]
    assert replies[0].status is AckStatus.NOT_NOW  # type: ignore[attr-defined]
    assert role_of(sim, "c", "s1") is None
    assert [e.what for _, e in effects_since(sim, mark, Rejected)] == ["Batch"]  # type: ignore[attr-defined]
    sim.crash("a")
    sim.run(4 * FT)
    read = done(sim, sim.request("read", "c", "s1", created.locator))
    assert read.outcome == "ok" and read.loaded_data == b"5"


def test_a_sender_ahead_of_the_receivers_view_commits_nothing_until_the_views_agree() -> None:
    """b restarts; c hears it before a does, so c's predecessor is b again while a still streams
    to c. a's write is refused NOT_NOW, not acknowledged to its client; once a hears b it
    re-points and the same write commits on b. Nothing acknowledged is lost."""
    sim = cluster("abc")
    created = done(sim, sim.request("create", "a", "s1", payload=b"1"))
    sim.crash("b")
    sim.run(4 * FT)
    assert sim.node("a").successor == "c"
    sim.restart("b")
    sim.tick_all()  # b (new incarnation) pings a and c
    sim.deliver(next(i for i, e in enumerate(sim.in_flight) if (e.src, e.dst) == ("b", "c")))
    assert sim.node("c").membership.is_dead("b") is False  # c sees b back: its predecessor
    for i in reversed([i for i, e in enumerate(sim.in_flight) if e.dst == "a" or e.src == "b"]):
        sim.delay(i)  # a hears nothing from b yet
    write = sim.request("write", "a", "s1", created.locator, payload=b"2")
    sim.deliver(pick(sim, "a", "c", Batch))
    ack = sim.in_flight[pick(sim, "c", "a", BatchAck)].message
    assert ack.status is AckStatus.NOT_NOW  # type: ignore[attr-defined]
    sim.deliver(pick(sim, "c", "a", BatchAck))
    assert write.phase != "done"  # refused: not acknowledged to the client
    sim.run(4 * FT)
    assert write.outcome == "ok" and write.result_version == 2
    assert role_of(sim, "a", "s1") == (Role.PRIMARY, 2)
    assert role_of(sim, "b", "s1") == (Role.BACKUP, 2)


# ---------------------------------------------------------------- 2. DropBackups only from an owner that streams elsewhere

def test_a_drop_from_the_predecessor_that_streams_to_us_is_refused_and_its_backups_stay() -> None:
    """The review's DropBackups emptied d's backups of c. Identity is the shell's; here the owner
    itself (or a bug) asks its current successor to drop the backups of its acknowledged writes:
    b refuses without an answer, and the acknowledged session survives a's death."""
    sim = cluster("abcd")
    created = done(sim, sim.request("create", "a", "s1", payload=b"5"))
    assert role_of(sim, "b", "s1") == (Role.BACKUP, 1)
    mark = len(sim.effect_log)
    stream = sim.node("a").outbound.stream
    replies = forged(sim, "b", DropBackups(header_of(sim, "a"), stream + 1))
    assert replies == []  # no Done: an honest sender would ask again
    assert [e.what for _, e in effects_since(sim, mark, Rejected)] == ["DropBackups"]  # type: ignore[attr-defined]
    assert role_of(sim, "b", "s1") == (Role.BACKUP, 1)
    sim.crash("a")
    sim.run(4 * FT)
    read = done(sim, sim.request("read", "c", "s1", created.locator))
    assert read.outcome == "ok" and read.loaded_data == b"5"


def test_a_drop_never_touches_the_copies_of_another_owner() -> None:
    """c is not b's predecessor, so its DropBackups is taken, and drops c's own backups only:
    the backups b holds for a (its predecessor) stay."""
    sim = cluster("abcd")
    done(sim, sim.request("create", "a", "s1", payload=b"a's"))
    done(sim, sim.request("create", "c", "s2", payload=b"c's"))
    replies = forged(sim, "b", DropBackups(header_of(sim, "c"), 10_000))
    assert [type(r) for r in replies] == [Done]
    assert role_of(sim, "b", "s1") == (Role.BACKUP, 1)
    assert role_of(sim, "d", "s2") == (Role.BACKUP, 1)


def test_a_drop_sent_while_the_views_differ_is_taken_once_they_agree() -> None:
    """b rejoins between a and c; a re-points to b and, its resync done, tells c to drop. c has
    not heard b yet: a is still its predecessor, the drop is refused, a asks again, and once c
    sees b the old backups go. Nothing is lost: b holds them."""
    sim = cluster("abc")
    done(sim, sim.request("create", "a", "s1", payload=b"1"))
    sim.crash("b")
    sim.run(4 * FT)
    assert role_of(sim, "c", "s1") == (Role.BACKUP, 1)
    sim.restart("b")
    sim.cut("b", "c", both=False)  # c does not hear b for now
    mark = len(sim.effect_log)
    sim.run(2 * FT)
    assert sim.node("a").successor == "b" and role_of(sim, "b", "s1") == (Role.BACKUP, 1)
    refused = [e for n, e in effects_since(sim, mark, Rejected) if n == "c" and e.what == "DropBackups"]  # type: ignore[attr-defined]
    assert refused and role_of(sim, "c", "s1") == (Role.BACKUP, 1)
    sim.heal()
    sim.run(4 * FT)
    assert role_of(sim, "c", "s1") is None and role_of(sim, "b", "s1") == (Role.BACKUP, 1)
    assert sim.node("a").outbound.drops_due == {}


# ---------------------------------------------------------------- 3. a claim reads data only out of a granted copy

def claim_reply(sim: SimCluster, to: str, claimer: str, sid: str, *, eager: bool = False) -> ClaimReply:
    replies = forged(sim, to, Claim(header_of(sim, claimer), sid, 77, eager))
    assert len(replies) == 1 and isinstance(replies[0], ClaimReply)
    return replies[0]


def test_a_claim_that_is_not_granted_carries_no_session_data() -> None:
    """The review's Claim "as d" read a's session out of its backup. A backup of a live owner, a
    live primary asked by an eager round, and a copy promised to another claimer answer with
    at most the version and owner of what they keep; only a grant carries the record."""
    sim = cluster("abcd")
    done(sim, sim.request("create", "a", "s1", payload=b"secret"))
    from_backup = claim_reply(sim, "b", "d", "s1")
    assert from_backup.status is ClaimStatus.NOT_AUTHORITY and from_backup.record is None
    assert (from_backup.held_version, from_backup.held_owner) == (1, "a")
    from_primary = claim_reply(sim, "a", "d", "s1", eager=True)
    assert from_primary.status is ClaimStatus.NOT_AUTHORITY and from_primary.record is None
    granted = claim_reply(sim, "a", "d", "s1")  # a request's claim: a hands it over
    assert granted.status is ClaimStatus.GRANTED and granted.record is not None
    busy = claim_reply(sim, "a", "c", "s1")  # promised to d meanwhile
    assert busy.status is ClaimStatus.BUSY and busy.record is None


def test_a_version_without_data_decides_as_the_record_did() -> None:
    """decide() reads only the version and owner of a NOT_AUTHORITY answer: an eager round still
    yields to a live owner's newer copy, insists over an older one, and releases its holder."""
    own = SessionRecord("s1", "c", 3, 0.0, 1800.0, data=b"x")
    for version, verdict in ((4, Verdict.YIELD), (2, Verdict.INSIST)):
        with_data = {"": ClaimAnswer(ClaimStatus.GRANTED, own),
                     "a": ClaimAnswer(ClaimStatus.NOT_AUTHORITY, replace(own, owner="a", version=version))}
        without = {"": with_data[""], "a": ClaimAnswer(ClaimStatus.NOT_AUTHORITY, None, version, "a")}
        assert decide(with_data, False, eager=True, me="c") == decide(without, False, eager=True, me="c")
        assert decide(without, False, eager=True, me="c").verdict is verdict
    request_round = {"b": ClaimAnswer(ClaimStatus.GRANTED, own),
                     "d": ClaimAnswer(ClaimStatus.NOT_AUTHORITY, None, 3, "b")}
    d = decide(request_round, False)
    assert d.verdict is Verdict.ADOPT and d.holders == ("b", "d") and d.top_version == 3


# ---------------------------------------------------------------- 5. max-sessions: new sessions only

def primaries(sim: SimCluster, name: str) -> int:
    return sum(sim.node(name).store.count(Role.PRIMARY).values())


def test_a_new_session_beyond_max_sessions_is_refused_and_nothing_is_written() -> None:
    sim = cluster("abc", max_sessions=2)
    first = done(sim, sim.request("create", "a", "s1", payload=b"1"))
    done(sim, sim.request("create", "a", "s2", payload=b"2"))
    third = done(sim, sim.request("create", "a", "s3", payload=b"3"))
    assert third.outcome == "failed" and third.reason == FailureReason.TOO_MANY_SESSIONS.value
    assert FailureReason.TOO_MANY_SESSIONS.retryable
    assert all(role_of(sim, n, "s3") is None for n in "abc")
    again = done(sim, sim.request("write", "a", "s1", first.locator, payload=b"1+"))
    assert again.outcome == "ok"  # the sessions it owns are written as before
    assert done(sim, sim.request("create", "b", "s3", payload=b"3")).outcome == "ok"  # per instance
    done(sim, sim.request("invalidate", "a", "s1", first.locator))
    assert done(sim, sim.request("create", "a", "s4", payload=b"4")).outcome == "ok"  # a logout frees one
    assert sim.node("a").store.primary_count == primaries(sim, "a") == 2


def test_adoptions_and_backups_are_never_limited() -> None:
    """b is full of its own sessions and backs up a's; a dies: b adopts all of a's (refusing a
    failover copy would lose it), and a request at c adopts one of them though c is full too."""
    sim = cluster("abc", max_sessions=2)
    made = [done(sim, sim.request("create", "a", f"a{i}", payload=b"a")) for i in range(2)]
    for name in "bc":
        for i in range(2):
            assert done(sim, sim.request("create", name, f"{name}{i}", payload=b"x")).outcome == "ok"
    assert role_of(sim, "b", "a0") == (Role.BACKUP, 1)
    sim.crash("a")
    sim.run(4 * FT)
    assert primaries(sim, "b") == 4 and sim.node("b").store.primary_count == 4
    moved = done(sim, sim.request("read", "c", "a1", made[1].locator))
    assert moved.outcome == "ok" and moved.loaded_data == b"a"
    assert role_of(sim, "c", "a1")[0] is Role.PRIMARY  # type: ignore[index]
    assert done(sim, sim.request("create", "c", "c9", payload=b"x")).outcome == "failed"
