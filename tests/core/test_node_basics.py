"""One behaviour per test, driven through the simulated cluster (ring.testing.SimCluster).

Plain pytest, no asyncio, milliseconds each. Every message moves only when a test delivers it, so
each test states the exact interleaving it is about.
"""

from __future__ import annotations

import inspect
import time

import pytest

from ring.core import (
    CoreSettings,
    FailureReason,
    Fenced,
    LoadRequested,
    Node,
    PeerDeclaredDead,
    Received,
    Respond,
    ResyncFinished,
    ResyncStarted,
    Role,
    Send,
    WriteCommitted,
    WriteFailed,
    WriteRequested,
)
from ring.core.membership import Membership, PeerState
from ring.core.messages import (
    AckStatus,
    Batch,
    BatchAck,
    Claim,
    ClaimReply,
    ClaimStatus,
    Header,
    PingReply,
    SessionRecord,
)
from ring.testing import ClientOp, Envelope, SimCluster

FAILURE_TIMEOUT = CoreSettings().failure_timeout


def cluster(names: str = "abc", **settings: object) -> SimCluster:
    sim = SimCluster(list(names), CoreSettings(**settings))  # type: ignore[arg-type]
    sim.run(1.0)  # everyone has heard from everyone; the initial (empty) resyncs are done
    return sim


def done(sim: SimCluster, op: ClientOp) -> ClientOp:
    sim.deliver_all()
    assert op.phase == "done", op
    return op


def batches(sim: SimCluster) -> list[Envelope]:
    return [e for e in sim.in_flight if isinstance(e.message, Batch)]


def role_of(sim: SimCluster, node: str, sid: str) -> tuple[Role, int] | None:
    held = sim.node(node).copies().get(sid)
    return None if held is None else (held.role, held.version)


def effects_since(sim: SimCluster, mark: int, kind: type) -> list[tuple[str, object]]:
    return [(n, e) for n, e in sim.effect_log[mark:] if isinstance(e, kind)]


# ---------------------------------------------------------------- the normal ring


def test_create_write_read() -> None:
    sim = cluster()
    created = done(sim, sim.request("create", "a", "s1", payload=b"v1"))
    assert (created.outcome, created.result_version, created.locator) == ("ok", 1, ("a", "b"))
    wrote = done(sim, sim.request("write", "a", "s1", created.locator, b"v2"))
    assert (wrote.outcome, wrote.loaded_version, wrote.result_version) == ("ok", 1, 2)
    read = done(sim, sim.request("read", "a", "s1", wrote.locator))
    assert (read.outcome, read.loaded_version, read.loaded_data) == ("ok", 2, b"v2")
    assert role_of(sim, "a", "s1") == (Role.PRIMARY, 2)
    assert role_of(sim, "b", "s1") == (Role.BACKUP, 2)
    assert role_of(sim, "c", "s1") is None


def test_group_commit_sends_writes_queued_during_a_batch_in_one_batch() -> None:
    sim = cluster()
    first = sim.request("create", "a", "s1", payload=b"1")
    assert [[r.session_id for r in e.message.records] for e in batches(sim)] == [["s1"]]
    queued = [sim.request("create", "a", f"s{i}", payload=b"x") for i in (2, 3, 4)]
    assert len(batches(sim)) == 1  # at most one batch in flight
    sim.deliver(0)  # the batch reaches b
    sim.deliver(0)  # b's ack reaches a: s1 commits, the queue leaves as one batch
    assert first.outcome == "ok"
    assert all(op.outcome == "" for op in queued)
    (env,) = batches(sim)
    assert [r.session_id for r in env.message.records] == ["s2", "s3", "s4"]
    sim.deliver_all()
    assert [op.result_version for op in queued] == [1, 1, 1]


def test_a_write_commits_only_after_the_ack_not_on_delivery() -> None:
    sim = cluster()
    op = sim.request("create", "a", "s1", payload=b"x")
    assert op.outcome == "" and role_of(sim, "a", "s1") is None
    sim.deliver(0)  # b applied it and answers
    assert role_of(sim, "b", "s1") == (Role.BACKUP, 1)
    assert op.outcome == "" and role_of(sim, "a", "s1") is None
    (ack,) = sim.in_flight
    assert isinstance(ack.message, BatchAck) and ack.message.status is AckStatus.OK
    sim.deliver(0)
    assert op.outcome == "ok" and role_of(sim, "a", "s1") == (Role.PRIMARY, 1)


def test_a_lost_ack_means_no_commit_until_the_resend_is_acknowledged() -> None:
    sim = cluster()
    op = sim.request("create", "a", "s1", payload=b"x")
    sim.deliver(0)
    sim.drop(0)  # the ack is lost
    sim.advance(FAILURE_TIMEOUT / 2)  # not yet resent
    assert op.outcome == ""
    sim.run(FAILURE_TIMEOUT)  # resent with the same seq: b acks the duplicate
    assert op.outcome == "ok" and op.result_version == 1


def test_an_instance_alone_commits_at_once_unreplicated() -> None:
    sim = cluster("a")
    mark = len(sim.effect_log)
    op = sim.request("create", "a", "s1", payload=b"x")
    assert op.outcome == "ok" and not sim.in_flight
    ((_, committed),) = effects_since(sim, mark, WriteCommitted)
    assert committed.replicated is False and committed.backup == ""
    assert sim.node("a").inspect(sim.now).unreplicated_writes == 1


def test_the_last_survivor_commits_unreplicated() -> None:
    sim = cluster("ab")
    sim.crash("b")
    sim.run(3 * FAILURE_TIMEOUT)
    assert sim.node("a").inspect(sim.now).successor is None
    op = done(sim, sim.request("create", "a", "s1", payload=b"x"))
    assert op.outcome == "ok" and op.locator == ("a", "")
    assert sim.node("a").inspect(sim.now).unreplicated_writes == 1


# ---------------------------------------------------------------- failure and adoption


def test_backups_of_a_dead_instance_become_orphans() -> None:
    sim = cluster()
    done(sim, sim.request("create", "a", "s1", payload=b"x"))
    mark = len(sim.effect_log)
    sim.crash("a")
    sim.run(3 * FAILURE_TIMEOUT)
    assert ("b", PeerDeclaredDead(peer="a", incarnation=1, orphans=1)) in effects_since(sim, mark, PeerDeclaredDead)
    assert role_of(sim, "b", "s1") == (Role.ORPHAN, 1)
    assert sim.node("c").inspect(sim.now).successor == "b"  # the ring re-formed around a


def test_orphans_refuse_writes() -> None:
    sim = cluster()
    done(sim, sim.request("create", "a", "s1", payload=b"x"))
    sim.crash("a")
    sim.run(3 * FAILURE_TIMEOUT)
    mark = len(sim.effect_log)
    sim.feed("b", WriteRequested(request_id=999, session_id="s1", base_version=1, data=b"sneaky"))
    assert [e for _, e in effects_since(sim, mark, WriteFailed)] == [
        WriteFailed(request_id=999, reason=FailureReason("session moved to another instance"))]
    assert role_of(sim, "b", "s1") == (Role.ORPHAN, 1)


def test_adopting_an_orphan_bumps_the_version_above_every_version_seen() -> None:
    sim = cluster("abcd")
    created = done(sim, sim.request("create", "a", "s1", payload=b"x"))
    for i in range(4):
        done(sim, sim.request("write", "a", "s1", created.locator, f"w{i}".encode()))
    assert role_of(sim, "b", "s1") == (Role.ORPHAN, 5) or role_of(sim, "b", "s1") == (Role.BACKUP, 5)
    sim.crash("a")
    sim.run(3 * FAILURE_TIMEOUT)
    assert role_of(sim, "b", "s1") == (Role.ORPHAN, 5)
    read = done(sim, sim.request("read", "d", "s1", ("a", "b")))
    assert read.outcome == "ok" and read.loaded_version == 6 and read.loaded_data == b"w3"
    sim.run(1.0)
    assert role_of(sim, "d", "s1") == (Role.PRIMARY, 6)
    assert role_of(sim, "b", "s1") == (Role.BACKUP, 6)  # d's successor (a is dead)
    assert read.locator == ("d", "b")


def test_adoption_without_a_failure_follows_the_request() -> None:
    sim = cluster()
    created = done(sim, sim.request("create", "a", "s1", payload=b"x"))
    read = done(sim, sim.request("read", "c", "s1", created.locator))
    assert read.loaded_version == 2 and read.locator == ("c", "a")
    sim.run(1.0)
    assert role_of(sim, "c", "s1") == (Role.PRIMARY, 2)
    assert role_of(sim, "a", "s1") == (Role.BACKUP, 2)  # the old primary now backs c up
    assert role_of(sim, "b", "s1") is None  # the old backup was released


def test_an_invalidated_session_never_comes_back() -> None:
    sim = cluster()
    created = done(sim, sim.request("create", "a", "s1", payload=b"x"))
    gone = done(sim, sim.request("invalidate", "a", "s1", created.locator))
    assert gone.outcome == "ok" and gone.result_version == 2
    assert sim.node("b").copies()["s1"].record.deleted
    sim.crash("a")
    sim.run(3 * FAILURE_TIMEOUT)  # b keeps the tombstone as an orphan
    for node in ("b", "c"):
        read = done(sim, sim.request("read", node, "s1", created.locator))
        assert (read.outcome, read.loaded_version, read.loaded_data) == ("ok", 0, None)
        write = done(sim, sim.request("write", node, "s1", created.locator, b"again"))
        assert write.loaded_version == 0 and write.result_version == 0  # nothing was written
    for node in ("b", "c"):
        held = sim.node(node).copies().get("s1")
        assert held is None or held.record.deleted


def test_a_tombstone_is_not_overwritten_by_an_older_replicated_copy() -> None:
    sim = cluster()
    created = done(sim, sim.request("create", "a", "s1", payload=b"x"))
    old_batch = next(e for n, e in reversed(sim.effect_log)
                     if isinstance(e, Send) and isinstance(e.message, Batch) and e.message.records)
    done(sim, sim.request("invalidate", "a", "s1", created.locator))
    sim.feed("b", Received(message=old_batch.message))  # an old batch arrives again, very late
    assert sim.node("b").copies()["s1"].record.deleted


# ---------------------------------------------------------------- fencing and pauses


def test_a_paused_instance_declared_dead_fences_itself_when_it_resumes() -> None:
    sim = cluster()
    done(sim, sim.request("create", "a", "s1", payload=b"x"))
    sim.pause("a")
    sim.run(3 * FAILURE_TIMEOUT)
    assert role_of(sim, "b", "s1") == (Role.ORPHAN, 1)
    sim.resume("a")
    assert role_of(sim, "a", "s1") == (Role.PRIMARY, 1)  # it does not know yet
    assert not sim.node("a").lease_valid(sim.now)  # but it no longer serves it
    mark = len(sim.effect_log)
    write = sim.request("create", "a", "s2", payload=b"y")  # its batch to b will be fenced
    sim.deliver_all()
    assert write.outcome == "failed" and "declared dead" in write.reason
    (fenced,) = [e for _, e in effects_since(sim, mark, Fenced)]
    assert fenced.old_incarnation == 1 and fenced.new_incarnation > 1 and fenced.dropped == 1
    assert role_of(sim, "a", "s1") is None
    acks = [e for n, e in sim.effect_log[mark:]
            if isinstance(e, Respond) and isinstance(e.message, BatchAck)]
    assert acks and acks[0].message.status is AckStatus.FENCED
    sim.run(2.0)
    assert all(sim.node(n).inspect(sim.now).alive == ("a", "b", "c") for n in "abc")
    read = done(sim, sim.request("read", "a", "s1", ("a", "b")))
    assert read.loaded_version == 2 and read.loaded_data == b"x"  # adopted back from b's orphan


def test_a_zombie_is_told_it_is_dead_by_the_ping_reply() -> None:
    sim = cluster()
    sim.pause("a")
    sim.run(3 * FAILURE_TIMEOUT)
    sim.resume("a")
    sim.in_flight.clear()  # forget the pings queued for a while it was stopped
    sim.advance(CoreSettings().ping_interval)  # a pings b and c
    ping = next(i for i, e in enumerate(sim.in_flight) if (e.src, e.dst) == ("a", "b"))
    sim.deliver(ping)
    (at,) = [i for i, e in enumerate(sim.in_flight)
             if (e.src, e.dst) == ("b", "a") and isinstance(e.message, PingReply)]
    assert sim.in_flight[at].message.you_are_dead
    mark = len(sim.effect_log)
    sim.deliver(at)
    assert [e for _, e in effects_since(sim, mark, Fenced)] == [Fenced(old_incarnation=1, new_incarnation=2, dropped=0)]
    assert sim.node("a").incarnation == 2


def test_a_pause_of_half_the_failure_timeout_declares_nobody_dead() -> None:
    sim = cluster()
    done(sim, sim.request("create", "a", "s1", payload=b"x"))
    mark = len(sim.effect_log)
    sim.pause("a")
    sim.run(FAILURE_TIMEOUT / 2)
    sim.resume("a")
    sim.run(3 * FAILURE_TIMEOUT)
    assert effects_since(sim, mark, PeerDeclaredDead) == []
    assert effects_since(sim, mark, Fenced) == []
    assert role_of(sim, "a", "s1") == (Role.PRIMARY, 1)
    assert all(sim.node(n).inspect(sim.now).alive == ("a", "b", "c") for n in "abc")
    assert sim.node("a").lease_valid(sim.now)


# ---------------------------------------------------------------- the replication stream


def test_a_batch_from_an_older_incarnation_is_rejected() -> None:
    sim = cluster()
    created = done(sim, sim.request("create", "a", "s1", payload=b"x"))
    old_header = Header("a", sim.node("a").incarnation)
    sim.crash("a")
    sim.restart("a")
    sim.run(3 * FAILURE_TIMEOUT)
    assert sim.node("b").membership.incarnation_of("a") > old_header.incarnation
    forged = SessionRecord("s1", "a", 99, sim.node("b").session_time(sim.now), 1800.0, data=b"evil")
    node_b = sim.node("b")
    effects = node_b.step(Received(message=Batch(old_header, 1, 0, (forged,))), sim.now)
    (ack,) = [e.message for e in effects if isinstance(e, Respond)]
    assert isinstance(ack, BatchAck) and ack.status is not AckStatus.OK
    assert node_b.copies()["s1"].version == created.result_version


def test_a_duplicated_batch_is_acked_but_not_applied_again() -> None:
    sim = cluster()
    op = sim.request("create", "a", "s1", payload=b"v1")
    sim.duplicate(0)
    sim.deliver(0)  # the original
    sim.deliver_all()
    assert op.outcome == "ok"
    wrote = done(sim, sim.request("write", "a", "s1", op.locator, b"v2"))
    assert role_of(sim, "b", "s1") == (Role.BACKUP, wrote.result_version)
    # the duplicate of the first batch, delivered late, is acknowledged and ignored
    late = Batch(Header("a", sim.node("a").incarnation),
                 sim.node("a").outbound.stream, 1,
                 (SessionRecord("s1", "a", 1, 0.0, 1800.0, data=b"v1"),))
    effects = sim.node("b").step(Received(message=late), sim.now)
    (ack,) = [e.message for e in effects if isinstance(e, Respond)]
    assert ack.status is AckStatus.OK and ack.reason == "duplicate"
    assert role_of(sim, "b", "s1") == (Role.BACKUP, 2)
    assert sim.node("b").copies()["s1"].record.data == b"v2"


def test_a_gap_in_the_stream_is_rejected_and_the_sender_restarts_with_a_resync() -> None:
    sim = cluster()
    done(sim, sim.request("create", "a", "s1", payload=b"x"))
    a = sim.node("a")
    old_stream = a.outbound.stream
    gap = Batch(Header("a", a.incarnation), old_stream, a.outbound.next_seq + 3, ())
    mark = len(sim.effect_log)
    sim.feed("b", Received(message=gap))
    (ack,) = [e.message for n, e in sim.effect_log[mark:] if isinstance(e, Respond)]
    assert ack.status is AckStatus.REJECTED and "gap" in ack.reason
    sim.deliver_all()  # the rejection reaches a, which restarts the stream
    assert a.outbound.stream > old_stream
    assert [e for _, e in effects_since(sim, mark, ResyncStarted)] == [ResyncStarted(successor="b", sessions=1)]
    assert [e for _, e in effects_since(sim, mark, ResyncFinished)] == [ResyncFinished(successor="b")]
    held = sim.node("b").copies()["s1"]
    assert held.role is Role.BACKUP and held.stream == a.outbound.stream


# ---------------------------------------------------------------- discovery


def test_a_forged_hint_naming_a_non_member_is_ignored() -> None:
    sim = cluster()
    done(sim, sim.request("create", "a", "s1", payload=b"x"))
    mark = len(sim.effect_log)
    read = done(sim, sim.request("read", "c", "s1", ("evil.example:1099", "mallory")))
    assert read.outcome == "ok" and read.loaded_version == 2  # found by walking the ring
    contacted = {e.to for _, e in effects_since(sim, mark, Send)}
    assert contacted <= {"a", "b", "c"}


def test_max_discovery_hops_bounds_the_candidates() -> None:
    sim = cluster("abcde", max_discovery_hops=2)
    done(sim, sim.request("create", "a", "s1", payload=b"x"))  # held by a and b
    mark = len(sim.effect_log)
    read = done(sim, sim.request("read", "c", "s1", ("", "")))  # asks d and e only
    claimed = [e.to for _, e in effects_since(sim, mark, Send) if isinstance(e.message, Claim)]
    assert claimed == ["d", "e"]
    assert read.loaded_version == 0  # not found within the bound: a new session
    mark = len(sim.effect_log)
    read = done(sim, sim.request("read", "d", "s1", ("a", "b")))
    claimed = [e.to for _, e in effects_since(sim, mark, Send) if isinstance(e.message, Claim)]
    assert claimed == ["a", "b"] and read.loaded_version == 2


# ---------------------------------------------------------------- time


def test_sessions_expire_by_last_access() -> None:
    sim = cluster(session_timeout=5.0)
    created = done(sim, sim.request("create", "a", "s1", payload=b"x"))
    sim.run(3.0)
    done(sim, sim.request("write", "a", "s1", created.locator, b"y"))  # last access moves on
    sim.run(3.0)  # 6 s after the create, 3 s after the write
    assert role_of(sim, "a", "s1") == (Role.PRIMARY, 2)
    assert role_of(sim, "b", "s1") == (Role.BACKUP, 2)
    sim.run(3.0)  # idle past the timeout: gone everywhere
    assert role_of(sim, "a", "s1") is None and role_of(sim, "b", "s1") is None
    read = done(sim, sim.request("read", "c", "s1", created.locator))
    assert read.loaded_version == 0


def test_the_node_reads_no_clock_and_gets_wall_time_only_at_construction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert list(inspect.signature(Node.step).parameters) == ["self", "event", "now"]

    def no_clock() -> float:
        raise AssertionError("the core read a clock")

    for name in ("time", "monotonic", "perf_counter", "time_ns", "monotonic_ns"):
        monkeypatch.setattr(time, name, no_clock)
    sim = SimCluster(list("abc"), wall_offset=5_000.0)
    sim.run(1.0)
    op = done(sim, sim.request("create", "a", "s1", payload=b"x"))
    sim.run(1.0)
    record = sim.node("b").copies()["s1"].record
    # session time = wall time given at construction, advanced by the monotonic clock only
    assert record.last_access == pytest.approx(sim.now - 1.0 + 5_000.0)
    assert op.outcome == "ok"


def test_load_requested_by_the_core_directly() -> None:
    """The node API without the simulator: a lone instance loads what it stored."""
    node = Node("a", ("a",), CoreSettings(), incarnation=1, now=10.0, wall_now=1e9)
    effects = node.step(WriteRequested(request_id=1, session_id="s", base_version=0, data=b"d"), 10.0)
    assert [type(e).__name__ for e in effects] == ["WriteCommitted"]
    effects = node.step(LoadRequested(request_id=2, session_id="s"), 10.5)
    (loaded,) = effects
    assert loaded.record.data == b"d" and loaded.record.last_access == pytest.approx(1e9)


def test_an_instance_restarted_after_most_of_the_ring_died_rejoins_the_survivor() -> None:
    """Three of four crash one after the other (each failure recovered); b restarts. It starts out
    believing everyone alive; a and c never answer, d does: b must not wait for a majority of four."""
    sim = cluster("abcd")
    for name in "abc":
        sim.crash(name)
        sim.run(4 * FAILURE_TIMEOUT)
    assert sim.node("d").inspect(sim.now).successor is None
    sim.restart("b")
    sim.run(5 * FAILURE_TIMEOUT)
    assert sim.node("b").inspect(sim.now).alive == ("b", "d")
    assert sim.node("d").inspect(sim.now).alive == ("b", "d")
    op = done(sim, sim.request("create", "b", "s1", payload=b"x"))
    assert op.outcome == "ok" and op.locator == ("b", "d")


def test_a_freshly_started_instance_that_hears_nobody_declares_nobody_dead() -> None:
    """The isolated one may be us: without a third instance confirming the silence, wait."""
    sim = cluster("abcd")
    sim.crash("a")
    sim.restart("a")
    sim.isolate("a")
    sim.run(5 * FAILURE_TIMEOUT)
    assert sim.node("a").inspect(sim.now).alive == ("a", "b", "c", "d")
    op = sim.request("create", "a", "s1", payload=b"x")
    sim.run(FAILURE_TIMEOUT)
    assert op.outcome == ""  # not acknowledged: no backup reachable, and no ring of its own


# ---------------------------------------------------------------- handing a session over


def pick(sim: SimCluster, src: str, dst: str, kind: type) -> int:
    return next(i for i, e in enumerate(sim.in_flight)
                if (e.src, e.dst) == (src, dst) and isinstance(e.message, kind))


def test_a_primary_whose_copy_is_on_its_way_to_the_successor_is_busy_for_claims() -> None:
    sim = cluster()
    done(sim, sim.request("create", "a", "s1", payload=b"x"))
    a = sim.node("a")
    gap = Batch(Header("a", a.incarnation), a.outbound.stream, a.outbound.next_seq + 3, ())
    sim.feed("b", Received(message=gap))
    sim.deliver(pick(sim, "b", "a", BatchAck))  # rejected: a restarts the stream with a resync
    resync = sim.in_flight[pick(sim, "a", "b", Batch)].message
    assert [r.session_id for r in resync.records] == ["s1"]
    c = sim.node("c")
    claim = Claim(Header("c", c.incarnation), "s1", 99)
    (reply,) = [e.message for e in a.step(Received(message=claim), sim.now) if isinstance(e, Respond)]
    assert reply.status is ClaimStatus.BUSY  # once b has it, b's copy is one the claimer must see
    sim.deliver_all()
    (reply,) = [e.message for e in a.step(Received(message=claim), sim.now) if isinstance(e, Respond)]
    assert reply.status is ClaimStatus.GRANTED


def test_adoption_releases_the_backup_that_landed_after_its_holder_answered() -> None:
    sim = cluster("abcd")
    created = sim.request("create", "a", "s1", payload=b"x")  # a's batch to b is in flight
    read = sim.request("read", "c", "s1", ("a", "b"))
    sim.deliver(pick(sim, "c", "b", Claim))
    assert sim.in_flight[pick(sim, "b", "c", ClaimReply)].message.status is ClaimStatus.NOT_FOUND
    sim.deliver(pick(sim, "a", "b", Batch))  # now b holds the backup
    sim.deliver(pick(sim, "b", "a", BatchAck))
    assert created.outcome == "ok" and role_of(sim, "b", "s1") == (Role.BACKUP, 1)
    sim.deliver_all()
    assert read.outcome == "ok" and read.loaded_version == 2
    sim.run(1.0)
    holders = {n: role_of(sim, n, "s1") for n in "abcd"}
    assert holders == {"a": None, "b": None, "c": (Role.PRIMARY, 2), "d": (Role.BACKUP, 2)}


def test_a_handed_over_session_is_not_sent_in_a_resync_snapshot_taken_before() -> None:
    sim = cluster("ab")
    done(sim, sim.request("create", "b", "s1", payload=b"x"))
    sim.crash("a")
    sim.run(3 * FAILURE_TIMEOUT)
    sim.restart("a")
    read = sim.request("read", "a", "s1", ("b", ""))  # a's claim is b's first news of the restart:
    sim.deliver(pick(sim, "a", "b", Claim))  # b snapshots its primaries for a resync, then grants s1
    resyncs = [e.message for e in sim.in_flight if isinstance(e.message, Batch) and e.src == "b"]
    assert resyncs and all(r.session_id != "s1" for m in resyncs for r in m.records)
    sim.deliver_all()
    sim.run(1.0)
    assert read.loaded_version == 2
    assert role_of(sim, "a", "s1") == (Role.PRIMARY, 2) and role_of(sim, "b", "s1") == (Role.BACKUP, 2)


def test_a_write_that_raced_an_invalidation_does_not_resurrect_the_session() -> None:
    sim = cluster("ab")
    created = done(sim, sim.request("create", "b", "s1", payload=b"x"))
    logout = sim.request("invalidate", "a", "s1", created.locator)  # a adopts s1 ...
    write = sim.request("write", "a", "s1", created.locator, b"late")  # ... this load waits for it
    sim.deliver_all()
    assert logout.outcome == "ok"
    assert write.loaded_version == 2  # it loaded the live session before the tombstone was written
    assert (write.outcome, write.reason) == ("failed", "session was invalidated")
    sim.run(1.0)
    assert all(sim.node(n).copies()["s1"].record.deleted for n in "ab")


def test_second_hand_news_of_a_peer_is_not_passed_on_as_first_hand() -> None:
    """d suspects c; b answers "I still hear c". d keeps c in its view, but when b (or anyone)
    asks d about c, d must not vouch for c on b's word: two instances would keep a dead one
    alive forever by vouching for each other (found by the stateful test after two restarts)."""
    m = Membership("d", ("a", "b", "c", "d"), CoreSettings(), now=0.0)
    for peer in "abc":
        m.heard(peer, 1, 0.0)
    for step in range(1, 43):  # ticks every 50 ms; a, b answer (c is silent)
        m.tick(step * 0.05)
        m.heard("a", 1, step * 0.05)
        m.heard("b", 1, step * 0.05)
    assert m.peers["c"].state is PeerState.SUSPECT
    m.indirect_answered("b", "c", True, 2.15)
    assert m.peers["c"].state is PeerState.ALIVE and "c" in m.alive()
    assert not m.still_hears("c", 2.15)
