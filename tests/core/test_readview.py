"""The read view: what request threads may read without a step, as the node publishes it."""

from __future__ import annotations

from simhelpers import cluster, done

from ring.core.messages import SessionRecord
from ring.core.readview import ReadView, Serving


def rec(sid: str) -> SessionRecord:
    return SessionRecord(sid, "a", 1, 0.0, 1800.0, False, b"d")


def test_servable_only_before_the_lease_ends() -> None:
    view = ReadView()
    view.refresh(Serving(lease_until=10.0, successor="b"), {"s1"}, lambda sid: rec(sid))
    assert view.servable("s1", 9.9) == (rec("s1"), "b")
    assert view.servable("s1", 10.0) is None
    assert view.servable("s2", 1.0) is None
    view.refresh(Serving(lease_until=10.0, successor="b"), {"s1"}, lambda sid: None)
    assert view.servable("s1", 1.0) is None and len(view) == 0


def test_the_node_publishes_its_primaries_and_hides_them_while_a_write_is_in_flight() -> None:
    sim = cluster()
    created = done(sim, sim.request("create", "a", "s1", payload=b"v1"))
    view = sim.node("a").read_view
    hit = view.servable("s1", sim.now)
    assert hit is not None and hit[0].data == b"v1" and hit[1] == "b"
    assert sim.node("b").read_view.servable("s1", sim.now) is None  # a backup is not servable
    write = sim.request("write", "a", "s1", created.locator, b"v2")  # its batch is in flight
    assert write.phase == "writing" and view.servable("s1", sim.now) is None
    sim.deliver_all()
    hit = view.servable("s1", sim.now)
    assert hit is not None and hit[0].data == b"v2"


def test_a_logout_and_a_handover_leave_the_view() -> None:
    sim = cluster()
    created = done(sim, sim.request("create", "a", "s1", payload=b"v1"))
    done(sim, sim.request("read", "c", "s1", created.locator))  # c adopts it
    assert sim.node("a").read_view.servable("s1", sim.now) is None
    assert sim.node("c").read_view.servable("s1", sim.now) is not None
    done(sim, sim.request("invalidate", "c", "s1", ("c", "a")))
    assert sim.node("c").read_view.servable("s1", sim.now) is None
