"""Helpers for driving the simulated cluster in the core's tests (ring.testing.SimCluster)."""

from __future__ import annotations

from ring.core import CoreSettings, Role
from ring.core.messages import Batch
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


def pick(sim: SimCluster, src: str, dst: str, kind: type) -> int:
    return next(i for i, e in enumerate(sim.in_flight)
                if (e.src, e.dst) == (src, dst) and isinstance(e.message, kind))


def until_declared(sim: SimCluster, by: str, dead: str, timeout: float = 10.0) -> None:
    """Run the ring until `by` declares `dead` dead, and stop right there: the messages of that
    tick are not delivered yet, so its orphans are still orphans (eager adoption has only begun)."""
    from ring.testing import TICK

    end = sim.now + timeout
    sim.deliver_all()
    while not sim.node(by).membership.is_dead(dead):
        assert sim.now < end, f"{by} did not declare {dead} dead within {timeout} s"
        sim.deliver_all()
        sim.now += TICK
        sim.tick_all()
