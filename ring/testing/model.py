"""What the ring has promised, as a plain model: committed writes, and the failure budget.

Used by RingMachine (ring.testing.machine); plain Python, no Hypothesis, so it can be read and
reused on its own.

`SessionModel` is a dict: session id -> what the last *observed* committed write said. It learns a
write only when the client sees it committed (`op.outcome == "ok"`); a request that failed or is
still running is indeterminate (its write may or may not show up later). As a load finishes it is
checked against the model as it stood when the request started (`Tracked.floor`).

The promise under test (DESIGN.md 1): an update acknowledged to the client survives the failure of
any single instance, and the next request sees it. So `FailureBudget` allows "at most one
unrecovered failure": a crash or pause is allowed once after each successful stabilize; a running
instance that some peer declares dead (a false suspicion, from stalls and losses) counts as failed
too. When two instances have failed inside one recovery window the run is *over budget*: the
durability checks pause (DESIGN.md documents that case as outside the promise) and the next
stabilize re-baselines the model from what the ring still holds (`SessionModel.rebaseline`).
Writes acknowledged with no backup (an instance alone, DESIGN.md 4.6) are likewise outside the
promise (`Committed.covered` is False) until re-baselined.

`generation` counts those breaks: a request started in an older generation is not held to the
model of a newer one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ring.core import Effect, Fenced, PeerDeclaredDead
from ring.testing.sim import ClientOp, SimCluster

__all__ = ["Committed", "FailureBudget", "ProcessHistory", "SessionModel", "Tracked"]


@dataclass(slots=True)
class Committed:
    version: int
    payload: bytes
    deleted: bool
    covered: bool = True  # False: a write acknowledged without a backup (or the state re-baselined)


@dataclass(slots=True)
class Tracked:
    """A client request under watch, with the model's view of its session when it started."""

    op: ClientOp
    floor: Committed | None  # the model's committed state of the session when the op started
    generation: int
    load_checked: bool = False


class FailureBudget:
    """Which instances failed since the ring last recovered, and whether that is over budget."""

    def __init__(self, note: Callable[[str], None]) -> None:
        self._note = note
        self.failures: set[str] = set()  # instances failed since the last successful stabilize
        self.fault_token = True  # one crash or pause allowed until the next stabilize
        self.generation = 0  # bumped when the run goes over budget and when the model re-baselines
        self.over_budget = False
        # a network fault is under way (partition, one-way cut, flapping): every process keeps
        # its memory, so the instances it gets declared dead or fenced are not failures, and
        # nothing acknowledged may be lost (a minority stops acknowledging; the heal keeps all)
        self.network_fault = False

    def saw_effect(self, sim: SimCluster, name: str, effect: Effect) -> None:
        """Count the failures the ring itself declares (a suspicion, a fence)."""
        if self.network_fault:
            return  # no process fails in that window (no crash or pause): a live process cut off
        if isinstance(effect, PeerDeclaredDead):
            # the running process of `peer` was declared dead: the one it runs now, or (incarnation
            # 0) by an instance that never heard from any process of it; not a restart noticed
            # late (the old process is gone and its crash was counted), not a crashed instance
            node = sim.nodes.get(effect.peer)
            if node is not None and not effect.restarted and effect.incarnation in (node.incarnation, 0):
                self.failed(effect.peer, f"declared dead by {name}")
        elif isinstance(effect, Fenced):
            self.failed(name, "fenced")

    def failed(self, name: str, why: str) -> None:
        if name not in self.failures:
            self.failures.add(name)
            self._note(f"** failure budget: {name} ({why}); failed now {sorted(self.failures)}")
        if len(self.failures) >= 2 and not self.over_budget:
            self.over_budget = True
            self.generation += 1
            self._note("** over budget: two failures in one recovery window")

    def recovered(self) -> None:
        """The ring settled and every session was read: a new recovery window starts."""
        self.failures.clear()
        self.over_budget = False
        self.fault_token = True
        self.network_fault = False


class SessionModel:
    """session id -> the last committed write the client observed; checks loads against it."""

    def __init__(self, budget: FailureBudget, note: Callable[[str], None], context: Callable[[], str]) -> None:
        self.budget = budget
        self._note = note
        self._context = context  # the ring's state, for assertion messages
        self.committed: dict[str, Committed] = {}
        self.payloads: dict[str, set[bytes]] = {}  # every payload ever sent, per session
        self.invalidations: dict[str, list[ClientOp]] = {}
        self.lost_beyond_budget = 0

    def floor(self, sid: str) -> Committed | None:
        """A copy of the model's state of `sid`, to hold a request that starts now to."""
        held = self.committed.get(sid)
        return None if held is None else Committed(held.version, held.payload, held.deleted, held.covered)

    def will_write(self, sid: str, payload: bytes) -> None:
        if payload:
            self.payloads.setdefault(sid, set()).add(payload)

    def issued(self, op: ClientOp) -> None:
        if op.kind == "invalidate":
            self.invalidations.setdefault(op.session_id, []).append(op)

    def learn_commit(self, t: Tracked) -> None:
        """The client saw `t.op` committed: the model holds it, unless it already holds a newer one."""
        op = t.op
        replicated = op.locator[1] != ""  # WriteCommitted.backup is "" exactly when unreplicated
        deleted = op.kind == "invalidate"
        held = self.committed.get(op.session_id)
        self._note(f"** committed op {op.op_id}: {op.session_id} v{op.result_version} "
                   f"{'tombstone' if deleted else op.payload!r} replicated={replicated}")
        if held is not None and held.version > op.result_version:
            # an older write whose acknowledgement we observe late: the model keeps the newer one
            return
        if held is not None and held.version == op.result_version:
            # one writer at a time: two acknowledged writes never share a version, except across
            # a partition (unreplicated) or beyond the failure budget
            assert not (held.covered and replicated and not self.budget.over_budget
                        and t.generation == self.budget.generation), (
                f"two committed writes of {op.session_id} share version {op.result_version}: "
                f"{held} and op {op.op_id}\n{self._context()}")
        self.committed[op.session_id] = Committed(
            op.result_version, b"" if deleted else op.payload, deleted, covered=replicated)

    def check_load(self, t: Tracked) -> None:
        """Invariants 4 and 5, as a load completes: no read older than the last commit."""
        op, floor = t.op, t.floor
        data = op.loaded_data
        if data is not None:
            assert data in self.payloads.get(op.session_id, set()), (
                f"op {op.op_id} loaded {data!r}, never written to {op.session_id}\n{self._context()}")
        if (floor is None or not floor.covered or self.budget.over_budget
                or t.generation != self.budget.generation):
            return
        version = op.loaded_version
        assert version is not None
        if floor.deleted:
            assert version == 0, (
                f"invalidated session {op.session_id} (v{floor.version}) came back as v{version} "
                f"in op {op.op_id}\n{self._context()}")
            return
        if version == 0 and self.maybe_invalidated(op.session_id):
            # a concurrent (or failed, indeterminate) invalidation deleted it: the model learns
            # "deleted", without a version to hold anyone to
            current = self.committed.get(op.session_id)
            if current is not None and not current.deleted:
                self.committed[op.session_id] = Committed(current.version, b"", True, covered=False)
            return
        assert version != 0, (
            f"op {op.op_id}: session {op.session_id} committed at v{floor.version} silently "
            f"restarted from empty\n{self._context()}")
        assert version >= floor.version, (
            f"op {op.op_id}: read v{version} of {op.session_id}, older than committed "
            f"v{floor.version}\n{self._context()}")
        if version == floor.version:
            assert data == floor.payload, (
                f"op {op.op_id}: {op.session_id} v{version} holds {data!r}, committed {floor.payload!r}")

    def maybe_invalidated(self, sid: str) -> bool:
        """Has an invalidation of `sid` been issued whose write may have happened?"""
        for op in self.invalidations.get(sid, []):
            if not (op.phase == "done" and op.outcome == "failed" and op.loaded_version is None):
                return True  # started writing the tombstone (or still loading): indeterminate
        return False

    def rebaseline(self, sid: str, op: ClientOp) -> None:
        """After a stabilizing read: what the model may promise about `sid` from now on."""
        held = self.committed[sid]
        replicated = op.locator[1] != ""  # the instance serving it now has a successor
        if held.covered and not self.budget.over_budget:
            # checked against the model as it loaded; the promise now needs a second copy (a lone
            # survivor holds the only one, and its next failure is not covered)
            held.covered = replicated
            return
        self.budget.generation += 1
        if op.loaded_version == 0:
            if not held.deleted and held.covered:
                self.lost_beyond_budget += 1
                self._note(f"** beyond budget: {sid} v{held.version} was lost")
            del self.committed[sid]
            return
        assert op.loaded_version is not None and op.loaded_data is not None
        self.committed[sid] = Committed(op.loaded_version, op.loaded_data, False, covered=replicated)


class ProcessHistory:
    """Invariant 6: per process, epoch and incarnation never go backwards; a restart is a higher
    incarnation than every earlier process of that instance had."""

    def __init__(self) -> None:
        self.seen_nodes: dict[str, tuple[object, int, int]] = {}  # name -> (node, incarnation, epoch)
        self.max_incarnation: dict[str, int] = {}

    def check(self, sim: SimCluster) -> None:
        for name, node in sim.nodes.items():
            if node is None:
                continue
            seen = self.seen_nodes.get(name)
            if seen is not None and seen[0] is node:
                assert node.incarnation >= seen[1], f"{name}: incarnation went back {seen[1]} -> {node.incarnation}"
                assert node.epoch >= seen[2], f"{name}: epoch went back {seen[2]} -> {node.epoch}"
            elif seen is not None:
                assert node.incarnation > self.max_incarnation[name], (
                    f"{name} restarted with incarnation {node.incarnation}, not above "
                    f"{self.max_incarnation[name]} of an earlier process")
            self.seen_nodes[name] = (node, node.incarnation, node.epoch)
            self.max_incarnation[name] = max(self.max_incarnation.get(name, 0), node.incarnation)
