"""The ring under a schedule Hypothesis chooses, checked against a plain dict model.

A `RuleBasedStateMachine` drives a `SimCluster` of 2..6 pure nodes ("a".."f"). Hypothesis picks
every message delivery, loss and duplication, when time moves (with the network delivering within
a bounded delay, or stalled), when an instance crashes, pauses, resumes or restarts, and which
client request runs where: create/read/write/invalidate served by ANY running node (a non-sticky
balancer), with the locator the "client" last saw, or a forged one. Nothing here reads a clock or
draws a random number; a failure prints the exact schedule (and a `@reproduce_failure` blob).

The model is a dict: session id -> what the last *observed* committed write said. It learns a
write only when the client sees it committed (`op.outcome == "ok"`); a request that failed or is
still running is indeterminate (its write may or may not show up later).

The promise under test (DESIGN.md 1): an update acknowledged to the client survives the failure of
any single instance, and the next request sees it. So the fault budget is "at most one unrecovered
failure": a crash or pause is allowed once after each successful `stabilize`; a running instance
that some peer declares dead (a false suspicion, from stalls and losses Hypothesis chose) counts as
failed too. When two instances have failed inside one recovery window the run is *over budget*:
the durability checks pause (DESIGN.md documents that case as outside the promise) and the next
`stabilize` re-baselines the model from what the ring still holds. Writes acknowledged with no
backup (an instance alone, DESIGN.md 4.6) are likewise outside the promise until re-baselined.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ring.core import (
    CoreSettings,
    Effect,
    Fenced,
    PeerDeclaredDead,
    Role,
    Send,
    WriteFailed,
    WriteRequested,
)
from ring.core.messages import Batch
from ring.core.topology import is_single_cycle
from ring.testing import TICK, ClientOp, SimCluster

NAMES = "abcdef"
SETTINGS = CoreSettings(request_timeout=5.0)
FT = SETTINGS.failure_timeout
# the network delivers (in order) any message older than this unless Hypothesis dropped it first;
# a `stall` step suspends this, which is how messages get late enough to cause suspicion
MAX_DELAY = 0.4
STABILIZE_BOUND = 3 * FT + 5.0
FORGED = ("mallory.example:1099", "evil")


@dataclass(slots=True)
class Committed:
    version: int
    payload: bytes
    deleted: bool
    covered: bool = True  # False: a write acknowledged without a backup (or the state re-baselined)


@dataclass(slots=True)
class Tracked:
    op: ClientOp
    floor: Committed | None  # the model's committed state of the session when the op started
    generation: int
    load_checked: bool = False


class RingMachine(RuleBasedStateMachine):
    # ------------------------------------------------------------ set-up

    @initialize(size=st.integers(2, 6))
    def start(self, size: int) -> None:
        self.sim = SimCluster(list(NAMES[:size]), SETTINGS)
        self.sim.on_effect = self._saw_effect
        self.model: dict[str, Committed] = {}
        self.jar: dict[str, tuple[str, str]] = {}  # the client's cookie per session
        self.sessions: list[str] = []  # every id ever created (committed or not)
        self.payloads: dict[str, set[bytes]] = {}
        self.invalidations: dict[str, list[ClientOp]] = {}
        self.ops: list[Tracked] = []
        self.failures: set[str] = set()  # instances failed since the last successful stabilize
        self.fault_token = True  # one crash or pause allowed until the next stabilize
        self.generation = 0  # bumped when the run goes over budget and when the model re-baselines
        self.over_budget = False
        self.next_payload = 0
        self.seen_nodes: dict[str, tuple[object, int, int]] = {}  # name -> (node, incarnation, epoch)
        self.max_incarnation: dict[str, int] = {}
        self.stats = {"lost_beyond_budget": 0, "stabilized": 0}
        self._born: dict[int, tuple[object, float]] = {}
        self.sim.run(1.0)
        self._observe()

    def _saw_effect(self, name: str, effect: Effect) -> None:
        if isinstance(effect, PeerDeclaredDead):
            # the running process of `peer` was declared dead: the one it runs now, or (incarnation
            # 0) by an instance that never heard from any process of it; not a restart noticed
            # late (the old process is gone and its crash was counted), not a crashed instance
            node = self.sim.nodes.get(effect.peer)
            if node is not None and not effect.restarted and effect.incarnation in (node.incarnation, 0):
                self._failed(effect.peer, f"declared dead by {name}")
        elif isinstance(effect, Fenced):
            self._failed(name, "fenced")

    def _failed(self, name: str, why: str) -> None:
        if name not in self.failures:
            self.failures.add(name)
            self.sim.note(f"** failure budget: {name} ({why}); failed now {sorted(self.failures)}")
        if len(self.failures) >= 2 and not self.over_budget:
            self.over_budget = True
            self.generation += 1
            self.sim.note("** over budget: two failures in one recovery window")

    # ------------------------------------------------------------ helpers

    def running(self) -> list[str]:
        """Not crashed, not paused (able to take a step)."""
        return self.sim.live()

    def up(self) -> list[str]:
        """Not crashed (running or paused): its memory still exists."""
        return [n for n, node in self.sim.nodes.items() if node is not None]

    def crashed(self) -> list[str]:
        return [n for n, node in self.sim.nodes.items() if node is None]

    def _payload(self) -> bytes:
        self.next_payload += 1
        return f"op{self.next_payload}".encode()

    def _start(self, kind: str, node: str, sid: str, hint: tuple[str, str], payload: bytes = b"") -> ClientOp:
        floor = self.model.get(sid)
        snapshot = None if floor is None else Committed(floor.version, floor.payload, floor.deleted, floor.covered)
        if payload:
            self.payloads.setdefault(sid, set()).add(payload)
        op = self.sim.request(kind, node, sid, hint, payload)
        if kind == "invalidate":
            self.invalidations.setdefault(sid, []).append(op)
        note(f"op {op.op_id}: {kind} {sid} at {node} hint={hint} payload={payload!r} model={snapshot}")
        self.ops.append(Tracked(op, snapshot, self.generation))
        self._observe()
        return op

    def _observe(self) -> None:
        """Learn what finished: check loads against the model, record commits in it."""
        still = []
        for t in self.ops:
            op = t.op
            if op.loaded_version is not None and not t.load_checked:
                t.load_checked = True
                self._check_load(t)
            if op.phase != "done":
                still.append(t)
                continue
            if op.locator != ("", ""):
                self.jar[op.session_id] = op.locator
            if op.outcome == "ok" and op.kind != "read" and op.result_version > 0:
                self._committed(t)
        self.ops = still
        self._check_nodes_monotonic()

    def _committed(self, t: Tracked) -> None:
        op = t.op
        replicated = op.locator[1] != ""  # WriteCommitted.backup is "" exactly when unreplicated
        deleted = op.kind == "invalidate"
        held = self.model.get(op.session_id)
        self.sim.note(f"** committed op {op.op_id}: {op.session_id} v{op.result_version} "
                      f"{'tombstone' if deleted else op.payload!r} replicated={replicated}")
        if held is not None and held.version > op.result_version:
            # an older write whose acknowledgement we observe late: the model keeps the newer one
            return
        if held is not None and held.version == op.result_version:
            # one writer at a time: two acknowledged writes never share a version, except across
            # a partition (unreplicated) or beyond the failure budget
            assert not (held.covered and replicated and not self.over_budget
                        and t.generation == self.generation), (
                f"two committed writes of {op.session_id} share version {op.result_version}: "
                f"{held} and op {op.op_id}\n{self._context()}")
        self.model[op.session_id] = Committed(
            op.result_version, b"" if deleted else op.payload, deleted, covered=replicated)

    def _check_load(self, t: Tracked) -> None:
        """Invariants 4 and 5, as a load completes: no read older than the last commit."""
        op, floor = t.op, t.floor
        data = op.loaded_data
        if data is not None:
            assert data in self.payloads.get(op.session_id, set()), (
                f"op {op.op_id} loaded {data!r}, never written to {op.session_id}\n{self._context()}")
        if floor is None or not floor.covered or self.over_budget or t.generation != self.generation:
            return
        version = op.loaded_version
        assert version is not None
        if floor.deleted:
            assert version == 0, (
                f"invalidated session {op.session_id} (v{floor.version}) came back as v{version} "
                f"in op {op.op_id}\n{self._context()}")
            return
        if version == 0 and self._maybe_invalidated(op.session_id):
            # a concurrent (or failed, indeterminate) invalidation deleted it: the model learns
            # "deleted", without a version to hold anyone to
            current = self.model.get(op.session_id)
            if current is not None and not current.deleted:
                self.model[op.session_id] = Committed(current.version, b"", True, covered=False)
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

    def _maybe_invalidated(self, sid: str) -> bool:
        """Has an invalidation of `sid` been issued whose write may have happened?"""
        for op in self.invalidations.get(sid, []):
            if not (op.phase == "done" and op.outcome == "failed" and op.loaded_version is None):
                return True  # started writing the tombstone (or still loading): indeterminate
        return False

    def _check_nodes_monotonic(self) -> None:
        """Invariant 6: epoch and incarnation never go backwards; a restart is a higher incarnation."""
        for name, node in self.sim.nodes.items():
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

    def _context(self) -> str:
        tail = "\n".join(self.sim.transcript[-30:])
        return (f"ring: {self.sim.ring_summary()}\nfailures={sorted(self.failures)} "
                f"over_budget={self.over_budget}\ntranscript tail:\n{tail}")

    def _tick(self, seconds: float, deliver_late: bool) -> None:
        """Time passes in ticks; with `deliver_late`, messages older than MAX_DELAY arrive (FIFO)."""
        sim = self.sim
        end = sim.now + seconds
        while sim.now + TICK <= end + 1e-9:
            sim.now += TICK
            sim.tick_all()
            if deliver_late:
                while True:
                    self._stamp()
                    late = [i for i in sim.deliverable()
                            if self._born[id(sim.in_flight[i])][1] <= sim.now - MAX_DELAY]
                    if not late:
                        break
                    sim.deliver(late[0])
        sim.now = max(sim.now, end)
        self._stamp()

    def _stamp(self) -> None:
        """Remember when each in-flight envelope was first seen (keyed by identity: the dict holds
        the envelope, so its id cannot be reused while it is remembered)."""
        current = {id(e): e for e in self.sim.in_flight}
        self._born = {k: v for k, v in self._born.items() if k in current}
        for k, e in current.items():
            self._born.setdefault(k, (e, self.sim.now))

    # ------------------------------------------------------------ the network

    @precondition(lambda self: self.sim.deliverable())
    @rule(i=st.integers(0, 1 << 16))
    def deliver(self, i: int) -> None:
        ready = self.sim.deliverable()
        self.sim.deliver(ready[i % len(ready)])
        self._observe()

    @precondition(lambda self: self.sim.deliverable())
    @rule()
    def deliver_all(self) -> None:
        self.sim.deliver_all()
        self._observe()

    @precondition(lambda self: self.sim.in_flight)
    @rule(i=st.integers(0, 1 << 16))
    def drop(self, i: int) -> None:
        self.sim.drop(i % len(self.sim.in_flight))
        self._observe()

    @precondition(lambda self: self.sim.in_flight)
    @rule(i=st.integers(0, 1 << 16))
    def duplicate(self, i: int) -> None:
        self.sim.duplicate(i % len(self.sim.in_flight))
        self._observe()

    @rule(steps=st.integers(1, 20))
    def advance(self, steps: int) -> None:
        """Time passes (0.05..1.0 s); the network delivers within MAX_DELAY."""
        self._tick(steps * TICK, deliver_late=True)
        self._observe()

    @rule(steps=st.integers(1, 20))
    def stall(self, steps: int) -> None:
        """Time passes (0.05..1.0 s) and nothing arrives: the network hiccups."""
        self._tick(steps * TICK, deliver_late=False)
        self._observe()

    # ------------------------------------------------------------ instances

    def healthy(self) -> bool:
        """Every committed session has two copies: the last failure is fully recovered.

        Nobody paused, every running instance agrees that exactly the running ones are alive, no
        resync is under way (a new successor has every primary) and no orphan is left (an orphan
        is a single copy until it is adopted). Writes in flight are fine: they are not committed.
        """
        sim = self.sim
        live = self.running()
        if sim.paused or len(live) < 2:
            return False
        want = tuple(n for n in sim.names if n in live)
        for name in live:
            node = sim.node(name)
            status = node.inspect(sim.now)
            if status.alive != want or status.resyncing or status.orphans:
                return False
        return True

    @precondition(lambda self: self.fault_token and self.healthy())
    @rule(i=st.integers(0, 5))
    def crash(self, i: int) -> None:
        live = self.running()
        name = live[i % len(live)]
        self.fault_token = False
        self.sim.crash(name)
        self._failed(name, "crashed")
        # requests it was serving die with it: indeterminate (the client saw a reset connection)
        self.ops = [t for t in self.ops if t.op.node != name]
        self._observe()

    @precondition(lambda self: self.fault_token and self.healthy())
    @rule(i=st.integers(0, 5))
    def pause(self, i: int) -> None:
        live = self.running()
        name = live[i % len(live)]
        self.fault_token = False
        self.sim.pause(name)
        self._failed(name, "paused")
        self._observe()

    @precondition(lambda self: self.sim.paused)
    @rule(i=st.integers(0, 5))
    def resume(self, i: int) -> None:
        paused = sorted(self.sim.paused)
        self.sim.resume(paused[i % len(paused)])
        self._observe()

    @precondition(lambda self: self.crashed())
    @rule(i=st.integers(0, 5))
    def restart(self, i: int) -> None:
        down = self.crashed()
        self.sim.restart(down[i % len(down)])
        self._observe()

    # ------------------------------------------------------------ clients

    def _hint(self, sid: str, how: str) -> tuple[str, str]:
        if how == "cookie":
            return self.jar.get(sid, ("", ""))
        if how == "forged":
            return FORGED
        if how == "swapped":
            p, b = self.jar.get(sid, ("", ""))
            return (b, p)
        return ("", "")

    @precondition(lambda self: self.running())
    @rule(i=st.integers(0, 5))
    def create(self, i: int) -> None:
        live = self.running()
        sid = f"s{len(self.sessions) + 1}"
        self.sessions.append(sid)
        self._start("create", live[i % len(live)], sid, ("", ""), self._payload())

    @precondition(lambda self: self.running() and self.sessions)
    @rule(kind=st.sampled_from(["read", "write", "write", "invalidate"]), i=st.integers(0, 5),
          s=st.integers(0, 1 << 16), how=st.sampled_from(["cookie", "cookie", "cookie", "none", "forged", "swapped"]))
    def request(self, kind: str, i: int, s: int, how: str) -> None:
        live = self.running()
        sid = self.sessions[s % len(self.sessions)]
        payload = b"" if kind in ("read", "invalidate") else self._payload()
        self._start(kind, live[i % len(live)], sid, self._hint(sid, how), payload)

    @rule(s=st.integers(0, 1 << 16), role=st.sampled_from([Role.ORPHAN, Role.ORPHAN, Role.BACKUP, Role.HANDED_OVER]))
    def write_to_a_read_only_copy(self, s: int, role: Role) -> None:
        """Invariant 3: an instance holding a session only as an orphan (or a backup, or a copy it
        handed over) refuses to write it, whatever base version the request claims."""
        targets = []
        for name in self.running():
            node = self.sim.node(name)
            for sid, copy in node.copies().items():
                # skip a session this instance is adopting right now: its own orphan is being
                # turned into a primary by a write it started itself (the shell never sends a
                # write without a load first, and a load of such a session waits)
                if copy.role is role and not node.writing(sid):
                    targets.append((name, sid, copy.version))
        if not targets:
            return
        name, sid, version = targets[s % len(targets)]
        before = self.sim.node(name).copies()[sid]
        mark = len(self.sim.effect_log)
        request_id = 10**9 + mark  # not a request of the simulated clients
        self.sim.feed(name, WriteRequested(request_id=request_id, session_id=sid, base_version=version, data=b"forbidden"))
        answers = [e for n, e in self.sim.effect_log[mark:]
                   if n == name and getattr(e, "request_id", None) == request_id]
        assert len(answers) == 1 and isinstance(answers[0], WriteFailed), (
            f"{name} accepted a write to its {role.value} copy of {sid}: {answers}\n{self._context()}")
        assert self.sim.node(name).copies()[sid] == before
        assert not any(isinstance(e, Send) and isinstance(e.message, Batch)
                       and any(r.data == b"forbidden" for r in e.message.records)
                       for _, e in self.sim.effect_log[mark:])
        self._observe()

    # ------------------------------------------------------------ recovery

    @rule(reader=st.integers(0, 5))
    def stabilize(self, reader: int) -> None:
        sim = self.sim
        sim.heal()
        for name in sorted(sim.paused):
            sim.resume(name)
        assert sim.run_until(self._quiescent, STABILIZE_BOUND), (
            f"the ring did not settle within {STABILIZE_BOUND} s\n{self._context()}")
        self._observe()
        assert not self.ops, f"requests still running after the ring settled: {[t.op for t in self.ops]}"
        # read every live session through some running instance: orphans get adopted
        live = self.running()
        reads: list[tuple[str, ClientOp]] = []
        for k, sid in enumerate(self.sessions):  # every id ever issued, committed or not
            op = self._start("read", live[(reader + k) % len(live)], sid, self.jar.get(sid, ("", "")))
            reads.append((sid, op))
        assert sim.run_until(self._quiescent, STABILIZE_BOUND), (
            f"the ring did not settle after the reads\n{self._context()}")
        self._observe()
        for sid, op in reads:
            if op.outcome != "ok":  # e.g. a copy promised to a claimer that died: wait it out
                sim.run(SETTINGS.request_timeout)
                op = self._start("read", live[reader % len(live)], sid, self.jar.get(sid, ("", "")))
                sim.run_until(self._quiescent, STABILIZE_BOUND)
                self._observe()
            assert op.outcome == "ok", f"read of {sid} failed after the ring settled: {op}\n{self._context()}"
            if sid in self.model:
                self._rebaseline(sid, op)
        sim.run(1.0)
        assert sim.run_until(self._quiescent, STABILIZE_BOUND)
        self._observe()
        self._check_quiescent([sid for sid, _ in reads])
        self.failures.clear()
        self.over_budget = False
        self.fault_token = True
        self.stats["stabilized"] += 1
        sim.note("** stabilized")

    def _rebaseline(self, sid: str, op: ClientOp) -> None:
        """After a stabilizing read: what the model may promise about `sid` from now on."""
        held = self.model[sid]
        replicated = op.locator[1] != ""  # the instance serving it now has a successor
        if held.covered and not self.over_budget:
            # checked against the model as it loaded; the promise now needs a second copy (a lone
            # survivor holds the only one, and its next failure is not covered)
            held.covered = replicated
            return
        self.generation += 1
        if op.loaded_version == 0:
            if not held.deleted and held.covered:
                self.stats["lost_beyond_budget"] += 1
                self.sim.note(f"** beyond budget: {sid} v{held.version} was lost")
            del self.model[sid]
            return
        assert op.loaded_version is not None and op.loaded_data is not None
        self.model[sid] = Committed(op.loaded_version, op.loaded_data, False, covered=replicated)

    def _quiescent(self) -> bool:
        sim = self.sim
        live = self.running()
        want = tuple(n for n in sim.names if n in live)
        for name in live:
            st_ = sim.node(name).inspect(sim.now)
            if st_.alive != want or st_.resyncing or st_.pending_writes:
                return False
            if st_.adoptions or st_.parked_loads:  # requests the core still works on
                return False
        return not any(t.op.phase != "done" for t in self.ops)

    def _check_quiescent(self, read: list[str]) -> None:
        sim = self.sim
        live = self.running()
        want = tuple(n for n in sim.names if n in live)
        status = {n: sim.node(n).inspect(sim.now) for n in live}
        for n, s in status.items():
            assert s.alive == want, f"{n} believes {s.alive} alive, running: {want}\n{self._context()}"
        successors = {n: s.successor for n, s in status.items()}
        assert is_single_cycle(successors), f"successor links {successors} are not one cycle"
        holders: dict[str, list[tuple[str, Role, int]]] = {}
        for n in live:
            for sid, copy in sim.node(n).copies().items():
                holders.setdefault(sid, []).append((n, copy.role, copy.version))
        for sid, copies in holders.items():
            primaries = [(n, v) for n, r, v in copies if r is Role.PRIMARY]
            assert len(primaries) <= 1, f"{sid} has several primaries: {copies}\n{self._context()}"
            if primaries and not sim.node(primaries[0][0]).copies()[sid].record.deleted:
                owner, version = primaries[0]
                backups = [(n, v) for n, r, v in copies if r is Role.BACKUP]
                expected = [(successors[owner], version)] if successors[owner] else []
                assert backups == expected, (
                    f"{sid}: primary on {owner} v{version}, backups {backups}, expected {expected}\n"
                    f"{self._context()}")
        for sid in read:
            stray = [(n, r.value, v) for n, r, v in holders.get(sid, []) if r in (Role.ORPHAN, Role.HANDED_OVER)]
            assert not stray, f"{sid} was read but copies remain: {stray}\n{self._context()}"

    # ------------------------------------------------------------ invariants after every step

    @invariant()
    def committed_writes_survive(self) -> None:
        """1: a committed write is held, at its version or newer, by some non-crashed instance."""
        if self.over_budget:
            return
        held: dict[str, int] = {}
        for name in self.up():
            for sid, copy in self.sim.node(name).copies().items():
                held[sid] = max(held.get(sid, 0), copy.version)
        for sid, c in self.model.items():
            if c.covered and not c.deleted:
                assert held.get(sid, 0) >= c.version, (
                    f"committed {sid} v{c.version} is held nowhere (newest copy: v{held.get(sid)})\n"
                    f"{self._context()}")

    @invariant()
    def at_most_one_writable_copy(self) -> None:
        """2: at most one primary with a valid lease per session.

        Exception (DESIGN.md 4.6, availability first): when a running instance believes it is alone
        (no successor) while another instance still exists, the ring is partitioned in its view and
        both sides may serve; those writes are the documented unreplicated ones.
        """
        sim = self.sim
        live = self.running()
        if len(self.up()) > 1 and any(sim.node(n).inspect(sim.now).successor is None for n in live):
            return
        writable: dict[str, list[str]] = {}
        for name in live:
            node = sim.node(name)
            if not node.lease_valid(sim.now):
                continue
            for sid, copy in node.copies().items():
                if copy.role is Role.PRIMARY:
                    writable.setdefault(sid, []).append(name)
        for sid, names in writable.items():
            assert len(names) == 1, f"{sid} is writable on {names}\n{self._context()}"

    @invariant()
    def invalidated_sessions_stay_dead(self) -> None:
        """5: no live copy at or above a committed tombstone's version."""
        if self.over_budget:
            return
        for name in self.up():
            for sid, copy in self.sim.node(name).copies().items():
                c = self.model.get(sid)
                if c is not None and c.deleted and c.covered and copy.version >= c.version:
                    assert copy.record.deleted, (
                        f"{sid} was invalidated at v{c.version}, {name} holds live v{copy.version}\n"
                        f"{self._context()}")

    @invariant()
    def epochs_and_incarnations_never_go_back(self) -> None:
        """6: per process, epoch and incarnation only grow; a restart starts above every earlier one."""
        self._check_nodes_monotonic()

    def teardown(self) -> None:
        if hasattr(self, "sim"):
            note(f"final ring: {self.sim.ring_summary()} stats={self.stats}")


TestRing = RingMachine.TestCase
