"""A clean stop (issue 10): the instance hands its sessions over and tells its peers it leaves.

`LeaveRequested` is fed once the HTTP side drained. The core refuses new requests (LEAVING:
503, the balancer retries elsewhere), waits until its successor acknowledged every write and
resync, then sends `Leave` to every peer and returns `Left`. The peers treat the leave as a
death declared at once (no detection wait): the successor promotes the leaver's backups, the
predecessor re-points its stream, and every session has two copies again.
"""

from __future__ import annotations

from simhelpers import FAILURE_TIMEOUT, cluster, done

from ring.core import FailureReason, LeaveRequested, Left, PeerDeclaredDead, Received, Role
from ring.core.messages import Header, Leave

FT = FAILURE_TIMEOUT


def copies(sim, sid):  # type: ignore[no-untyped-def]
    return {n: (sim.node(n).copies()[sid].role, sim.node(n).copies()[sid].version)
            for n in sim.live() if sid in sim.node(n).copies()}


def test_a_leaving_instance_hands_over_and_its_peers_know_at_once() -> None:
    sim = cluster("abcd")
    made = [done(sim, sim.request("create", "a", f"s{i}", payload=f"v{i}".encode())) for i in range(5)]
    start, mark = sim.now, len(sim.effect_log)
    sim.feed("a", LeaveRequested())
    assert sim.run_until(lambda: any(isinstance(e, Left) for n, e in sim.effect_log[mark:] if n == "a"), FT / 2)
    assert sim.run_until(lambda: all(sim.node(n).membership.is_dead("a") for n in "bcd"), FT / 2)
    assert sim.now - start < FT, "the peers waited for failure detection"
    sim.crash("a")  # the process exits
    sim.run(2 * FT)
    for i, op in enumerate(made):
        held = copies(sim, f"s{i}")
        roles = sorted(r.value for r, _ in held.values())
        assert roles == ["backup", "primary"], f"s{i}: {held}"
        read = done(sim, sim.request("read", "c", f"s{i}", op.locator))
        assert read.outcome == "ok" and read.loaded_data == f"v{i}".encode()
    declared = [e for _, e in sim.effect_log[mark:] if isinstance(e, PeerDeclaredDead) and e.peer == "a"]
    assert declared and all(e.left for e in declared)


def test_requests_after_the_leave_began_are_refused_so_the_client_retries_elsewhere() -> None:
    sim = cluster("abc")
    made = done(sim, sim.request("create", "a", "s1", payload=b"x"))
    sim.feed("a", LeaveRequested())
    write = sim.request("write", "a", "s1", made.locator, payload=b"y")
    sim.deliver_all()
    assert write.outcome == "failed" and write.reason == FailureReason.LEAVING.value, write
    create = sim.request("create", "a", "s2", payload=b"z")
    sim.deliver_all()
    assert create.outcome == "failed", create


def test_a_write_in_flight_commits_before_the_leave_is_sent() -> None:
    sim = cluster("abc")
    made = done(sim, sim.request("create", "a", "s1", payload=b"x"))
    write = sim.request("write", "a", "s1", made.locator, payload=b"y")  # batch in flight to b
    mark = len(sim.effect_log)
    sim.feed("a", LeaveRequested())
    assert not any(isinstance(e, Left) for _, e in sim.effect_log[mark:])
    sim.deliver_all()
    sim.run(0.5)
    assert write.outcome == "ok"
    assert any(isinstance(e, Left) for n, e in sim.effect_log[mark:] if n == "a")
    sim.crash("a")
    sim.run(2 * FT)
    read = done(sim, sim.request("read", "b", "s1", write.locator))
    assert read.loaded_data == b"y"


def test_a_leave_from_a_stale_incarnation_changes_nothing() -> None:
    sim = cluster("abc")
    old = sim.node("a").incarnation - 1
    sim.feed("b", Received(message=Leave(Header("a", old))))
    assert not sim.node("b").membership.is_dead("a")


def test_an_alone_instance_leaves_at_once() -> None:
    sim = cluster("a")
    mark = len(sim.effect_log)
    sim.feed("a", LeaveRequested())
    sim.run(0.2)
    assert any(isinstance(e, Left) for _, e in sim.effect_log[mark:])
    assert Role  # imported for the copies helper's readers


def test_a_leave_that_is_lost_is_sent_again_until_every_peer_answered() -> None:
    sim = cluster("abc")
    done(sim, sim.request("create", "a", "s1", payload=b"x"))
    mark = len(sim.effect_log)
    sim.feed("a", LeaveRequested())
    lost = [i for i, e in enumerate(sim.in_flight) if isinstance(e.message, Leave) and e.dst == "c"]
    assert lost
    sim.drop(lost[0])  # the network loses the Leave to c
    sim.deliver_all()
    assert not any(isinstance(e, Left) for n, e in sim.effect_log[mark:] if n == "a"), "Left before c knew"
    assert sim.run_until(lambda: any(isinstance(e, Left) for n, e in sim.effect_log[mark:] if n == "a"), FT)
    assert sim.node("c").membership.is_dead("a") and sim.node("b").membership.is_dead("a")


def test_the_whole_ring_stopping_at_once_leaves_within_a_few_pings() -> None:
    # every host gets SIGTERM together (systemctl stop everywhere, a StatefulSet deleted): each
    # leaver must answer the others' Leave, or they all wait for the shell's stop timeout
    for names in ("ab", "abc", "abcd"):
        sim = cluster(names)
        for i in range(4):
            done(sim, sim.request("create", names[i % len(names)], f"s{i}", payload=b"x"))
        mark = len(sim.effect_log)
        for n in names:
            sim.feed(n, LeaveRequested())

        def gone(sim=sim, mark=mark) -> set[str]:  # type: ignore[no-untyped-def]
            return {n for n, e in sim.effect_log[mark:] if isinstance(e, Left)}
        assert sim.run_until(lambda sim=sim, mark=mark, names=names: gone(sim, mark) == set(names), 3 * FT), \
            f"{names}: only {sorted(gone())} left"
