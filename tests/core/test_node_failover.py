"""The node when instances fail: orphans, adoption, fencing, pauses, handing a session over.

One behaviour per test, driven through the simulated cluster (ring.testing.SimCluster). Plain
pytest, no asyncio, milliseconds each. Every message moves only when a test delivers it, so each
test states the exact interleaving it is about.
"""

from __future__ import annotations

from simhelpers import FAILURE_TIMEOUT, cluster, done, effects_since, pick, role_of, until_declared

from ring.core import (
    CoreSettings,
    FailureReason,
    Fenced,
    PeerDeclaredDead,
    Received,
    Respond,
    Role,
    Send,
    WriteFailed,
    WriteRequested,
)
from ring.core.messages import (
    AckStatus,
    Batch,
    BatchAck,
    Claim,
    ClaimReply,
    ClaimStatus,
    Header,
    PingReply,
)

# ---------------------------------------------------------------- failure and adoption


def test_backups_of_a_dead_instance_become_orphans() -> None:
    sim = cluster()
    done(sim, sim.request("create", "a", "s1", payload=b"x"))
    mark = len(sim.effect_log)
    sim.crash("a")
    until_declared(sim, "b", "a")
    assert ("b", PeerDeclaredDead(peer="a", incarnation=1, orphans=1)) in effects_since(sim, mark, PeerDeclaredDead)
    assert role_of(sim, "b", "s1") == (Role.ORPHAN, 1)
    sim.run(3 * FAILURE_TIMEOUT)
    assert sim.node("c").inspect(sim.now).successor == "b"  # the ring re-formed around a
    # and the orphan was adopted eagerly: two copies again, on the two live instances
    assert role_of(sim, "b", "s1") == (Role.PRIMARY, 2) and role_of(sim, "c", "s1") == (Role.BACKUP, 2)


def test_orphans_refuse_writes() -> None:
    sim = cluster()
    done(sim, sim.request("create", "a", "s1", payload=b"x"))
    sim.crash("a")
    until_declared(sim, "b", "a")
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
    until_declared(sim, "b", "a")
    assert role_of(sim, "b", "s1") == (Role.ORPHAN, 5)
    read = sim.request("read", "d", "s1", ("a", "b"))  # races b's eager adoption of it
    sim.run(3 * FAILURE_TIMEOUT)
    assert read.outcome == "ok" and read.loaded_version > 5 and read.loaded_data == b"w3"
    assert role_of(sim, "d", "s1") == (Role.PRIMARY, read.loaded_version)
    assert role_of(sim, "b", "s1") == (Role.BACKUP, read.loaded_version)  # d's successor (a is dead)
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
    assert role_of(sim, "b", "s1") == (Role.PRIMARY, 2)  # b's orphan, adopted eagerly
    sim.resume("a")
    assert role_of(sim, "a", "s1") == (Role.PRIMARY, 1)  # it does not know yet
    assert not sim.node("a").lease_valid(sim.now)  # but it no longer serves it
    mark = len(sim.effect_log)
    write = sim.request("create", "a", "s2", payload=b"y")  # its batch to b will be fenced
    sim.deliver_all()
    assert write.outcome == "failed" and "declared dead" in write.reason
    (fenced,) = [e for _, e in effects_since(sim, mark, Fenced)]
    assert fenced.old_incarnation == 1 and fenced.new_incarnation > 1 and fenced.kept >= 1
    # kept, to be reconciled, never served: its eager round may already have yielded to b's newer copy
    assert role_of(sim, "a", "s1") in ((Role.ORPHAN, 1), None)
    acks = [e for n, e in sim.effect_log[mark:]
            if isinstance(e, Respond) and isinstance(e.message, BatchAck)]
    assert acks and acks[0].message.status is AckStatus.FENCED
    sim.run(2.0)
    assert all(sim.node(n).inspect(sim.now).alive == ("a", "b", "c") for n in "abc")
    assert role_of(sim, "a", "s1") is None  # b holds it newer: a's stale copy yielded
    read = done(sim, sim.request("read", "a", "s1", ("a", "b")))
    assert read.loaded_version == 3 and read.loaded_data == b"x"  # adopted back from b


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


# ---------------------------------------------------------------- handing a session over


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




def test_status_counts_sessions_without_a_second_copy_until_they_have_one_again() -> None:
    from simhelpers import FAILURE_TIMEOUT, cluster, done, until_declared

    sim = cluster("abcd")
    for i in range(4):
        done(sim, sim.request("create", "a", f"u{i}", payload=b"x"))
    assert all(sim.node(n).inspect(sim.now).unredundant == 0 for n in "abcd")
    sim.crash("a")
    until_declared(sim, "b", "a")  # b holds a's sessions as orphans: single copies
    assert sim.node("b").inspect(sim.now).unredundant == 4
    assert sim.run_until(lambda: all(sim.node(n).inspect(sim.now).unredundant == 0 for n in "bcd"),
                         3 * FAILURE_TIMEOUT)
