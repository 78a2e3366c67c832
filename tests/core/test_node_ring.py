"""The node in a healthy ring: group commit, the replication stream's fences, discovery, time.

One behaviour per test, driven through the simulated cluster (ring.testing.SimCluster). Plain
pytest, no asyncio, milliseconds each. Every message moves only when a test delivers it, so each
test states the exact interleaving it is about.
"""

from __future__ import annotations

import inspect
import time

import pytest
from simhelpers import FAILURE_TIMEOUT, batches, cluster, done, effects_since, role_of

from ring.core import (
    CoreSettings,
    LoadRequested,
    Node,
    Received,
    Respond,
    ResyncFinished,
    ResyncStarted,
    Role,
    Send,
    WriteCommitted,
    WriteRequested,
)
from ring.core.messages import (
    AckStatus,
    Batch,
    BatchAck,
    Claim,
    Header,
    SessionRecord,
)
from ring.testing import SimCluster

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
    held = node_b.copies()["s1"]  # adopted eagerly when a's restart was noticed: not the forgery
    assert held.version < 99 and held.record.data == b"x" and held.version >= created.result_version


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
    assert list(inspect.signature(Node.step).parameters) == ["self", "event", "now", "finish"]
    assert list(inspect.signature(Node.finish).parameters) == ["self", "now"]

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


def test_inputs_stepped_together_leave_one_batch_and_one_read_view_to_finish() -> None:
    """The answers of one ClaimMany call are stepped with `finish` False: what each would have
    flushed goes out as one batch at `finish`, and no read view shows a copy before it."""
    node = Node("a", ("a", "b"), CoreSettings(), incarnation=1, now=10.0, wall_now=1e9)
    writes = [WriteRequested(request_id=i, session_id=f"s{i}", base_version=0, data=b"d") for i in (1, 2, 3)]
    deferred = [e for w in writes for e in node.step(w, 10.0, finish=False)]
    assert deferred == []  # nothing sent yet, not even the first record
    (sent,) = node.finish(10.0)
    assert isinstance(sent, Send) and isinstance(sent.message, Batch)
    assert [r.session_id for r in sent.message.records] == ["s1", "s2", "s3"]
    assert node.finish(10.0) == []  # nothing left to do


def test_a_lone_instance_commits_and_publishes_inputs_stepped_together_at_finish() -> None:
    node = Node("a", ("a",), CoreSettings(), incarnation=1, now=10.0, wall_now=1e9)
    for i in (1, 2):
        assert node.step(WriteRequested(request_id=i, session_id=f"s{i}", base_version=0, data=b"d"), 10.0,
                         finish=False) == []
    assert node.read_view.servable("s1", 10.0) is None  # not published before finish
    assert [type(e).__name__ for e in node.finish(10.0)] == ["WriteCommitted", "WriteCommitted"]
    assert node.read_view.servable("s1", 10.0) is not None


def test_the_last_two_of_a_larger_ring_wait_for_a_third_to_confirm_a_death() -> None:
    """a and b die one after the other; c and d are left. Then c dies: d cannot tell that from a
    cut link, so it keeps c in its view and acknowledges nothing alone. b restarts: with b's
    confirmation c is declared dead, and b and d form a ring."""
    sim = cluster("abcd")
    for name in "ab":
        sim.crash(name)
        sim.run(4 * FAILURE_TIMEOUT)
    sim.crash("c")
    sim.run(4 * FAILURE_TIMEOUT)
    assert sim.node("d").inspect(sim.now).alive == ("c", "d")
    op = sim.request("create", "d", "s1", payload=b"x")
    sim.run(FAILURE_TIMEOUT)
    assert op.outcome != "ok"
    sim.restart("b")
    sim.run(5 * FAILURE_TIMEOUT)
    assert sim.node("b").inspect(sim.now).alive == ("b", "d")
    assert sim.node("d").inspect(sim.now).alive == ("b", "d")
    op = done(sim, sim.request("create", "b", "s2", payload=b"x"))
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


