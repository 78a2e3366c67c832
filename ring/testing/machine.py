"""RingMachine: the ring under a schedule Hypothesis chooses, checked against a plain dict model.

A `RuleBasedStateMachine` drives a `SimCluster` of 2..6 pure nodes ("a".."f"). Hypothesis picks
every message delivery, loss and duplication, when time moves (with the network delivering within
a bounded delay, or stalled), when an instance crashes, pauses, resumes or restarts, and which
client request runs where: create/read/write/invalidate served by ANY running node (a non-sticky
balancer), with the locator the "client" last saw, or a forged one. Nothing here reads a clock or
draws a random number; a failure prints the exact schedule (and a `@reproduce_failure` blob).

The model and the failure budget (what counts as "one failure", when the durability checks pause)
are in ring.testing.model. The invariants, checked after every step: a committed write survives
(1), at most one writable copy (2), read-only copies refuse writes (3), no read older than the
last commit (4), invalidated sessions stay dead (5), epochs and incarnations never go back (6).

This is the only module of ring that imports Hypothesis (the `testing` extra). Run it as a test:

    from ring.testing.machine import RingMachine
    TestRing = RingMachine.TestCase              # Hypothesis settings: your profile, or
    TestRing.settings = hypothesis.settings(max_examples=200, stateful_step_count=50, deadline=None)

Subclass it to try your own ring or request patterns: set the class attributes below, add rules
that start requests with `start_request` (the model then checks them like the built-in ones):

    class MyRing(RingMachine):
        instance_names = "abcd"                  # rings of 2..4 instances
        core_settings = CoreSettings(request_timeout=5.0, failure_timeout=3.0)

        @precondition(lambda self: self.running() and self.sessions)
        @rule(s=st.integers(0, 1 << 16))
        def read_at_the_first_instance(self, s: int) -> None:
            sid = self.sessions[s % len(self.sessions)]
            self.start_request("read", self.running()[0], sid, self.hint_for(sid, "cookie"))
"""

from __future__ import annotations

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from ring.core import (
    CoreSettings,
    Effect,
    LeaveRequested,
    Role,
    Send,
    WriteFailed,
    WriteRequested,
)
from ring.core.messages import Batch
from ring.testing.checks import assert_quiescent_ring, recovered
from ring.testing.invariants import RingInvariants
from ring.testing.model import FailureBudget, ProcessHistory, SessionModel, Tracked
from ring.testing.sim import TICK, ClientOp, Envelope, SimCluster

__all__ = ["RingMachine"]


class RingMachine(RingInvariants, RuleBasedStateMachine):
    """The ring against the model, under every schedule Hypothesis chooses (see the module)."""

    instance_names: str | tuple[str, ...] = "abcdef"  # a run plays on the first 2..6 of them (fewer if fewer are given)
    core_settings = CoreSettings(request_timeout=5.0)
    # the network delivers (in order) any message older than this unless Hypothesis dropped it first;
    # a `stall` step suspends this, which is how messages get late enough to cause suspicion
    max_delay = 0.4
    forged_locator = ("mallory.example:1099", "evil")  # names no member: must never be contacted

    @property
    def stabilize_bound(self) -> float:
        """How long the ring may take to settle once the network heals: a few failure timeouts,
        and a request timeout for the promises of claim rounds that failed to lapse."""
        return 3 * self.core_settings.failure_timeout + self.core_settings.request_timeout + 5.0

    # ------------------------------------------------------------ set-up

    @initialize(size=st.integers(2, 6))
    def start(self, size: int) -> None:
        self.sim = SimCluster(list(self.instance_names[:size]), self.core_settings)
        self.budget = FailureBudget(self.sim.note)
        self.model = SessionModel(self.budget, self.sim.note, self.context)
        self.sim.on_effect = self.saw_effect
        self.jar: dict[str, tuple[str, str]] = {}  # the client's cookie per session
        self.sessions: list[str] = []  # every id ever created (committed or not)
        self.ops: list[Tracked] = []
        self.next_payload = 0
        self.processes = ProcessHistory()
        self.stabilized = 0
        self._born: dict[int, tuple[Envelope, float]] = {}
        self.sim.run(1.0)
        self.observe()

    def saw_effect(self, name: str, effect: Effect) -> None:
        """Every effect of every node (`SimCluster.on_effect`); a subclass may watch more, calling this."""
        self.budget.saw_effect(self.sim, name, effect)

    # ------------------------------------------------------------ helpers

    def running(self) -> list[str]:
        """Not crashed, not paused (able to take a step)."""
        return self.sim.live()

    def up(self) -> list[str]:
        """Not crashed (running or paused): its memory still exists."""
        return [n for n, node in self.sim.nodes.items() if node is not None]

    def crashed(self) -> list[str]:
        return [n for n, node in self.sim.nodes.items() if node is None]

    def new_payload(self) -> bytes:
        """A payload never written before, so a load shows which write it saw."""
        self.next_payload += 1
        return f"op{self.next_payload}".encode()

    def start_request(self, kind: str, node: str, sid: str, hint: tuple[str, str],
                      payload: bytes = b"") -> ClientOp:
        """Start a client request at `node` and watch it: the model checks its load and learns its
        commit. `kind`: "create", "read", "write" or "invalidate" (see SimCluster.request)."""
        snapshot = self.model.floor(sid)
        self.model.will_write(sid, payload)
        op = self.sim.request(kind, node, sid, hint, payload)
        self.model.issued(op)
        note(f"op {op.op_id}: {kind} {sid} at {node} hint={hint} payload={payload!r} model={snapshot}")
        self.ops.append(Tracked(op, snapshot, self.budget.generation))
        self.observe()
        return op

    def observe(self) -> None:
        """Learn what finished: check loads against the model, record commits in it."""
        self._exit_the_leavers()
        still = []
        for t in self.ops:
            op = t.op
            if op.loaded_version is not None and not t.load_checked:
                t.load_checked = True
                self.model.check_load(t)
            if op.phase != "done":
                still.append(t)
                continue
            if op.kind != "create" and op.outcome == "ok" and op.loaded_version == 0:
                # nothing to load (a read, or a write or logout of a session gone): the shells drop
                # the cookies of a session the cluster does not hold, so the next request names no
                # instance (a hint at an instance that never had the session would make it
                # unavailable once that instance is dead; rotating seed 2169947231, a logout)
                self.jar.pop(op.session_id, None)
            elif op.locator != ("", ""):
                self.jar[op.session_id] = op.locator
            if op.outcome == "ok" and op.kind != "read" and op.result_version > 0:
                self.model.learn_commit(t)
        self.ops = still
        self.processes.check(self.sim)

    def context(self) -> str:
        """The ring's state for a failure message: the ring, the budget, the transcript's tail."""
        tail = "\n".join(self.sim.transcript[-30:])
        return (f"ring: {self.sim.ring_summary()}\nfailures={sorted(self.budget.failures)} "
                f"over_budget={self.budget.over_budget}\ntranscript tail:\n{tail}")

    def _tick(self, seconds: float, deliver_late: bool) -> None:
        """Time passes in ticks; with `deliver_late`, messages older than max_delay arrive (FIFO)."""
        sim = self.sim
        end = sim.now + seconds
        while sim.now + TICK <= end + 1e-9:
            sim.now += TICK
            sim.tick_all()
            if deliver_late:
                while True:
                    self._stamp()
                    late = [i for i in sim.deliverable()
                            if self._born[id(sim.in_flight[i])][1] <= sim.now - self.max_delay]
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
        self.observe()

    @precondition(lambda self: self.sim.deliverable())
    @rule()
    def deliver_all(self) -> None:
        self.sim.deliver_all()
        self.observe()

    @precondition(lambda self: self.sim.in_flight)
    @rule(i=st.integers(0, 1 << 16))
    def drop(self, i: int) -> None:
        self.sim.drop(i % len(self.sim.in_flight))
        self.observe()

    @precondition(lambda self: self.sim.in_flight)
    @rule(i=st.integers(0, 1 << 16))
    def duplicate(self, i: int) -> None:
        self.sim.duplicate(i % len(self.sim.in_flight))
        self.observe()

    @rule(steps=st.integers(1, 20))
    def advance(self, steps: int) -> None:
        """Time passes (0.05..1.0 s); the network delivers within max_delay."""
        self._tick(steps * TICK, deliver_late=True)
        self.observe()

    @rule(steps=st.integers(1, 20))
    def stall(self, steps: int) -> None:
        """Time passes (0.05..1.0 s) and nothing arrives: the network hiccups."""
        self._tick(steps * TICK, deliver_late=False)
        self.observe()

    # ------------------------------------------------------------ instances

    def healthy(self) -> bool:
        """The last failure is fully recovered (ring.testing.checks.recovered): a fault may follow."""
        return recovered(self.sim)

    def may_crash(self) -> bool:
        """A crash may follow: recovered, and not the last two of a larger ring (the one left
        would wait for a member to return: it cannot tell a death from a cut link; README)."""
        return (self.budget.fault_token and self.healthy()
                and (len(self.running()) > 2 or len(self.sim.names) <= 2))

    @precondition(lambda self: self.may_crash())
    @rule(i=st.integers(0, 5))
    def crash(self, i: int) -> None:
        live = self.running()
        name = live[i % len(live)]
        self.budget.fault_token = False
        self.sim.crash(name)
        self.budget.failed(name, "crashed")
        # requests it was serving die with it: indeterminate (the client saw a reset connection)
        self.ops = [t for t in self.ops if t.op.node != name]
        self.observe()

    @precondition(lambda self: self.may_crash())
    @rule(i=st.integers(0, 5))
    def crash_right_after_a_write(self, i: int) -> None:
        """A new session, then kill -9 of the instance that took it before anything else happens:
        in sync mode the client was not answered yet; an answer it got must survive."""
        live = self.running()
        self.create(i)
        if live[i % len(live)] in self.running():
            self.crash(i)

    @precondition(lambda self: self.budget.fault_token and self.healthy())
    @rule(i=st.integers(0, 5))
    def pause(self, i: int) -> None:
        live = self.running()
        name = live[i % len(live)]
        self.budget.fault_token = False
        self.sim.pause(name)
        self.budget.failed(name, "paused")
        self.observe()

    @precondition(lambda self: self.sim.paused)
    @rule(i=st.integers(0, 5))
    def resume(self, i: int) -> None:
        paused = sorted(self.sim.paused)
        self.sim.resume(paused[i % len(paused)])
        self.observe()

    @precondition(lambda self: self.crashed())
    @rule(i=st.integers(0, 5))
    def restart(self, i: int) -> None:
        down = self.crashed()
        self.sim.restart(down[i % len(down)])
        self.observe()

    # ------------------------------------------------------------ the network, cut

    @precondition(lambda self: len(self.running()) >= 2 and (
        (self.budget.fault_token and self.healthy()) or self.budget.network_fault))
    @rule(mask=st.integers(1, (1 << 6) - 2), both_ways=st.booleans())
    def partition(self, mask: int, both_ways: bool) -> None:
        """Cut the running instances into two sides (any subset: 2+2, a minority pair, one
        alone), both ways or only from the first side to the other. Again in the same window
        (after `heal_network`) it is a flapping link."""
        live = self.running()
        side = [n for k, n in enumerate(live) if mask >> k & 1] or live[:1]
        rest = [n for n in live if n not in side] or live[-1:]
        side = [n for n in side if n not in rest]
        self.budget.fault_token = False
        self.budget.network_fault = True
        for x in side:
            for y in rest:
                self.sim.cut(x, y)
                if both_ways:
                    self.sim.cut(y, x)
        self.sim.note(f"-- cut {','.join(side)} {'<->' if both_ways else '->'} {','.join(rest)}")
        self.observe()

    @precondition(lambda self: self.budget.network_fault and self.sim.severed)
    @rule()
    def heal_network(self) -> None:
        self.sim.heal()
        self.sim.note("-- the network heals")
        self.observe()

    # ------------------------------------------------------------ a clean stop

    @precondition(lambda self: self.may_crash())  # a leave nobody hears is a crash
    @rule(i=st.integers(0, 5))
    def leave(self, i: int) -> None:
        """SIGTERM: the instance hands over, tells its peers, and its process exits (Left)."""
        live = self.running()
        name = live[i % len(live)]
        self.budget.fault_token = False
        self.budget.failed(name, "stopped cleanly")  # its memory goes when it exits
        self.sim.feed(name, LeaveRequested())
        self.observe()

    def _exit_the_leavers(self) -> None:
        """A process that returned Left exits (its requests were answered LEAVING) once its
        Leave messages are on their way out (the shell flushes them before it exits)."""
        for name in self.up():
            if self.sim.node(name).left and not any(e.src == name for e in self.sim.in_flight):
                self.sim.crash(name)
                self.ops = [t for t in self.ops if t.op.node != name]

    # ------------------------------------------------------------ clients

    def hint_for(self, sid: str, how: str) -> tuple[str, str]:
        """The locator a client sends: its "cookie", none, a "forged" one, or the cookie "swapped"."""
        if how == "cookie":
            return self.jar.get(sid, ("", ""))
        if how == "forged":
            return self.forged_locator
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
        self.start_request("create", live[i % len(live)], sid, ("", ""), self.new_payload())

    @precondition(lambda self: self.running() and self.sessions)
    @rule(kind=st.sampled_from(["read", "write", "write", "invalidate"]), i=st.integers(0, 5),
          s=st.integers(0, 1 << 16), how=st.sampled_from(["cookie", "cookie", "cookie", "none", "forged", "swapped"]))
    def request(self, kind: str, i: int, s: int, how: str) -> None:
        live = self.running()
        sid = self.sessions[s % len(self.sessions)]
        payload = b"" if kind in ("read", "invalidate") else self.new_payload()
        self.start_request(kind, live[i % len(live)], sid, self.hint_for(sid, how), payload)

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
            f"{name} accepted a write to its {role.value} copy of {sid}: {answers}\n{self.context()}")
        assert self.sim.node(name).copies()[sid] == before
        assert not any(isinstance(e, Send) and isinstance(e.message, Batch)
                       and any(r.data == b"forbidden" for r in e.message.records)
                       for _, e in self.sim.effect_log[mark:])
        self.observe()

    # ------------------------------------------------------------ recovery

    @rule(reader=st.integers(0, 5))
    def stabilize(self, reader: int) -> None:
        sim = self.sim
        sim.heal()
        for name in sorted(sim.paused):
            sim.resume(name)
        assert sim.run_until(self._quiescent, self.stabilize_bound), (
            f"the ring did not settle within {self.stabilize_bound} s\n{self.context()}")
        self.observe()
        self.assert_redundant()
        assert not self.ops, f"requests still running after the ring settled: {[t.op for t in self.ops]}"
        # read every live session through some running instance: orphans get adopted
        live = self.running()
        reads: list[tuple[str, ClientOp]] = []
        for k, sid in enumerate(self.sessions):  # every id ever issued, committed or not
            op = self.start_request("read", live[(reader + k) % len(live)], sid, self.jar.get(sid, ("", "")))
            reads.append((sid, op))
        assert sim.run_until(self._quiescent, self.stabilize_bound), (
            f"the ring did not settle after the reads\n{self.context()}")
        self.observe()
        for sid, op in reads:
            if op.outcome != "ok":  # e.g. a copy promised to a claimer that died: wait it out
                sim.run(self.core_settings.request_timeout)
                live = self.running()  # an instance that stopped cleanly meanwhile has exited
                op = self.start_request("read", live[reader % len(live)], sid, self.jar.get(sid, ("", "")))
                sim.run_until(self._quiescent, self.stabilize_bound)
                self.observe()
            assert op.outcome == "ok", f"read of {sid} failed after the ring settled: {op}\n{self.context()}"
            if sid in self.model.committed:
                self.model.rebaseline(sid, op)
        sim.run(1.0)
        assert sim.run_until(self._quiescent, self.stabilize_bound)
        self.observe()
        assert_quiescent_ring(self.sim, [sid for sid, _ in reads], self.context)
        self.budget.recovered()
        self.stabilized += 1
        sim.note("** stabilized")

    def _quiescent(self) -> bool:
        self._exit_the_leavers()
        sim = self.sim
        live = self.running()
        want = tuple(n for n in sim.names if n in live)
        for name in live:
            st_ = sim.node(name).inspect(sim.now)
            if st_.alive != want or st_.resyncing or st_.pending_writes:
                return False
            if st_.adoptions or st_.parked_loads or st_.releases_due or st_.drops_due:  # work still due
                return False
            # a clean stop under way (its Leave lost, told again after a timeout) is not a settled
            # ring: the leaver refuses every request until its process exits
            if sim.node(name).leaving.requested:
                return False
            # a peer that restarted since this one last heard from it is news still on its way
            # (one ping): its lost backups are not resynced yet, so the ring has not settled
            node = sim.node(name)
            if any(node.membership.incarnation_of(peer) != sim.node(peer).incarnation for peer in live if peer != name):
                return False
        return not any(t.op.phase != "done" for t in self.ops)

    def teardown(self) -> None:
        if hasattr(self, "sim"):
            stats = {"lost_beyond_budget": self.model.lost_beyond_budget, "stabilized": self.stabilized}
            note(f"final ring: {self.sim.ring_summary()} stats={stats}")

