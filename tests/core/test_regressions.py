"""Bugs found by drills and integration runs, pinned in the simulator (milliseconds each)."""

from ring.core import CoreSettings, Node, Received, Respond, Send, Tick
from ring.testing import SimCluster


def test_adoption_does_not_wait_for_a_candidate_declared_dead_meanwhile() -> None:
    """Found by `ring drill`: a claim sent to an instance that was then declared dead stalled the
    adoption until the request deadline (a 503 after 10 s) although the orphan was elsewhere."""
    sim = SimCluster(["a", "b", "c", "d"])
    sim.run(1.0)
    sim.request("create", "b", "S", payload=b'{"count": 1}')
    sim.run(0.5)
    sim.pause("b")
    read = sim.request("read", "d", "S", hint=("b", "c"))
    sim.run(4.0)
    sim.resume("b")
    assert sim.run_until(lambda: read.phase == "done", 15.0)
    assert read.outcome == "ok" and read.loaded_data == b'{"count": 1}'
    assert sim.now - 1000.0 < 1.5 + sim.settings.request_timeout / 2


def test_restart_with_a_lower_incarnation_rejoins_in_one_fence() -> None:
    """Found by the integration tests: incarnations come from the wall clock; after a clock step
    back, a restarted instance was fenced once per unit of incarnation (an endless loop)."""
    settings = CoreSettings(ping_interval=0.25, failure_timeout=1.0)
    order = ("a", "b")
    nodes = {"a": Node("a", order, settings, incarnation=1_000, now=0.0, wall_now=1e9),
             "b": Node("b", order, settings, incarnation=2_000, now=0.0, wall_now=1e9)}
    fences = 0

    def run(t: float, until: float) -> None:
        nonlocal fences
        while t < until:
            t += 0.05
            queue = [(n, e) for n, node in nodes.items() for e in node.step(Tick(), t)]
            while queue:
                src, e = queue.pop(0)
                fences += type(e).__name__ == "Fenced"
                if isinstance(e, Send):
                    for f in nodes[e.to].step(Received(message=e.message), t):
                        if isinstance(f, Respond):
                            queue += [(src, g) for g in nodes[src].step(Received(message=f.message, in_reply_to=e.message), t)]
                        else:
                            queue.append((e.to, f))

    run(0.0, 2.0)
    nodes["b"] = Node("b", order, settings, incarnation=1_500, now=2.0, wall_now=1e9)
    run(2.0, 6.0)
    assert fences == 1
    assert nodes["a"].membership.peers["b"].incarnation == nodes["b"].incarnation > 2_000


def test_status_does_not_count_tombstones_as_sessions() -> None:
    sim = SimCluster(["a", "b", "c"])
    sim.run(1.0)
    for sid in ("s1", "s2"):
        sim.request("create", "a", sid, payload=b"{}")
    sim.run(0.5)
    sim.request("invalidate", "a", "s1", hint=("a", "b"))
    sim.run(0.5)
    assert sim.node("a").inspect(sim.now).primaries == 1
    assert sim.node("b").inspect(sim.now).backups == {"a": 1}


def test_a_predecessor_resyncs_to_an_instance_restarted_before_it_was_declared_dead() -> None:
    """Found by the rotating property seed 905788226: a restarted within a ping of its crash, its
    predecessor d had not heard the new incarnation yet, and the ring machine called the ring
    settled with d's session held once. d learns it at its next ping and resyncs; the machine's
    quiescence now waits for every live instance to know the others' current incarnations."""
    sim = SimCluster(["a", "b", "c", "d"])
    sim.run(1.0)
    made = sim.request("create", "d", "S", payload=b"x")
    sim.run(0.5)
    assert made.outcome == "ok" and sim.node("a").copies()["S"].role.value == "backup"
    sim.crash("a")
    sim.restart("a")  # before anyone noticed: the new process holds nothing
    assert "S" not in sim.node("a").copies()
    assert sim.run_until(lambda: "S" in sim.node("a").copies(), 2 * sim.settings.ping_interval + 0.5)
    assert sim.node("a").copies()["S"].role.value == "backup"
