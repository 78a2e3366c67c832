"""SimCluster: many pure nodes in one process, a manual clock and a network the test drives.

Shipped in the package (like raft's rafttest) so your tests, the scenario stories and `ring simulate`
share it. Every message between nodes is an `Envelope` in `in_flight`; nothing moves unless the test
moves it, so a test (or Hypothesis) chooses every interleaving. Driving it:

    sim = SimCluster(["a", "b", "c"])          # three nodes, clock at 1000.0, nobody has spoken yet
    sim.run(1.0)                               # healthy network: tick and deliver for one second
    op = sim.request("create", "a", "s1", payload=b"{}")
    sim.run_until(lambda: op.phase == "done", timeout=5.0)
    assert op.outcome == "ok" and op.locator == ("a", "b")
    sim.crash("a")                             # kill -9; restart("a") brings it back empty
    sim.run(3.0)

Time moves only through `advance` (ticks, no delivery), `run` and `run_until` (ticks, and every
deliverable message after each tick), or by hand (`sim.now += TICK; sim.tick_all()`). Messages move
through `deliver(i)`, `deliver_all()`, and the faults `drop(i)`, `duplicate(i)`, `delay(i)`; the
indices are positions in `in_flight`, and `deliverable()` lists the ones whose receiver runs.
Instance faults: `crash`, `restart` (a rejoin with a new incarnation and an empty store), `pause` and
`resume` (SIGSTOP/SIGCONT); network faults: `cut(a, b)` one way or both, `isolate(name)`, `heal()`.

Requests to a crashed node fail at once (connection refused: the sender gets `Unreachable`);
requests to a paused node wait in flight until it resumes; messages over a cut link vanish.
Every effect a node returns is appended to `effect_log` and passed to `on_effect`, if set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ring.core import (
    CoreSettings,
    Effect,
    Input,
    Loaded,
    LoadFailed,
    LoadRequested,
    Node,
    Received,
    Respond,
    Send,
    Tick,
    Unreachable,
    WriteCommitted,
    WriteFailed,
    WriteRequested,
)
from ring.core.messages import REQUEST_TYPES, Message, Request

TICK = 0.05  # seconds of simulated time per tick: the shell's ticker period


@dataclass(slots=True)
class Envelope:
    """One message on the simulated network, from `src` to `dst`."""

    src: str
    dst: str
    message: Message
    in_reply_to: Request | None = None  # set on replies


@dataclass(slots=True)
class ClientOp:
    """One HTTP request against the ring: load the session, then (maybe) write it."""

    op_id: int
    kind: str  # "create" | "read" | "write" | "invalidate"
    node: str
    session_id: str
    hint: tuple[str, str]
    payload: bytes = b""
    phase: str = "loading"  # loading -> writing -> done
    loaded_version: int | None = None
    loaded_data: bytes | None = None
    outcome: str = ""  # "ok" | "failed"
    result_version: int = 0
    locator: tuple[str, str] = ("", "")
    reason: str = ""
    lifetime: float | None = None  # the write's session lifetime (None: the instance default)


class SimCluster:
    """A ring of `Node`s named `names` (ring order), on a manual clock and a simulated network.

    `now` is the monotonic clock every node sees (it starts at `start`); a node's wall clock is
    `now + wall_offset`. Public state a test may read: `nodes` (name -> Node, None when crashed),
    `paused`, `severed` (the cut (src, dst) links), `in_flight`, `ops` (the client requests by id),
    `effect_log` and `transcript` (the lines `note` wrote).
    """

    def __init__(
        self, names: list[str] | tuple[str, ...], settings: CoreSettings | None = None, *,
        start: float = 1000.0, wall_offset: float = 1_700_000_000.0,
    ) -> None:
        self.names = tuple(names)
        self.settings = settings or CoreSettings()
        self.now = start
        self.wall_offset = wall_offset
        self._incarnations = 0
        self.nodes: dict[str, Node | None] = {}
        self.paused: set[str] = set()
        self.severed: set[tuple[str, str]] = set()  # (src, dst): messages from src to dst vanish
        self.in_flight: list[Envelope] = []
        self.ops: dict[int, ClientOp] = {}
        self._by_request: dict[int, int] = {}
        self._next_request = 0
        self.transcript: list[str] = []
        self.effect_log: list[tuple[str, Effect]] = []
        self.on_effect: Callable[[str, Effect], None] | None = None
        for name in self.names:
            self.nodes[name] = self._new_node(name)

    # ------------------------------------------------------------ nodes

    def _new_node(self, name: str) -> Node:
        self._incarnations += 1
        return Node(name, self.names, self.settings, incarnation=self._incarnations,
                    now=self.now, wall_now=self.now + self.wall_offset)

    def live(self) -> list[str]:
        """Nodes that run (not crashed, not paused)."""
        return [n for n, node in self.nodes.items() if node is not None and n not in self.paused]

    def node(self, name: str) -> Node:
        """The running (or paused) node `name`; an AssertionError when it is crashed."""
        node = self.nodes[name]
        assert node is not None, f"{name} is crashed"
        return node

    def crash(self, name: str) -> None:
        """kill -9: the node and its memory are gone; messages to or from it vanish."""
        node = self.nodes[name]
        if node is not None:  # a fenced process raised its own incarnation: the restart goes above it
            self._incarnations = max(self._incarnations, node.incarnation)
        self.nodes[name] = None
        self.paused.discard(name)
        self.in_flight = [e for e in self.in_flight if e.dst != name and e.src != name]
        self.note(f"-- {name} crashes (kill -9)")

    def restart(self, name: str) -> None:
        """Start a crashed node again: a new process, a higher incarnation, an empty store."""
        assert self.nodes[name] is None, f"{name} is running"
        self.nodes[name] = self._new_node(name)
        self.note(f"-- {name} restarts (incarnation {self._incarnations}, empty store)")

    def pause(self, name: str) -> None:
        """kill -STOP: the node takes no step (no tick, no delivery) until `resume`."""
        self.paused.add(name)
        self.note(f"-- {name} pauses (kill -STOP)")

    def resume(self, name: str) -> None:
        """kill -CONT: the paused node steps again; what waited for it in flight can be delivered."""
        self.paused.discard(name)
        self.note(f"-- {name} resumes (kill -CONT)")

    def cut(self, a: str, b: str, both: bool = True) -> None:
        """Cut the link from `a` to `b` (and from `b` to `a` unless `both` is False).

        A message sent over a cut link vanishes without an error (a firewall that drops packets):
        the sender learns only by a timeout. Messages already in flight still arrive; `heal`
        restores every link.
        """
        self.severed.add((a, b))
        if both:
            self.severed.add((b, a))

    cut_link = cut  # the name before `cut`; kept for existing tests

    def isolate(self, name: str) -> None:
        """Cut every link between `name` and the others, both ways."""
        for other in self.names:
            if other != name:
                self.cut(name, other)

    def heal(self) -> None:
        """Restore every cut link."""
        self.severed.clear()

    # ------------------------------------------------------------ driving nodes

    def feed(self, name: str, event: Input) -> None:
        """Step node `name` with one input now and carry out its effects (nothing if it does not run)."""
        node = self.nodes[name]
        if node is None or name in self.paused:
            return
        effects = node.step(event, self.now)
        self._carry_out(name, event, effects)

    def _carry_out(self, name: str, event: Input, effects: list[Effect]) -> None:
        for effect in effects:
            self.effect_log.append((name, effect))
            if self.on_effect is not None:
                self.on_effect(name, effect)
            if isinstance(effect, Send):
                self._post(Envelope(name, effect.to, effect.message))
            elif isinstance(effect, Respond):
                assert isinstance(event, Received)
                request = event.message
                assert isinstance(request, REQUEST_TYPES)
                self._post(Envelope(name, request.header.sender, effect.message,
                                    in_reply_to=request))  # type: ignore[arg-type]
            elif isinstance(effect, Loaded | LoadFailed | WriteCommitted | WriteFailed):
                self._client_effect(name, effect)

    def _post(self, env: Envelope) -> None:
        if (env.src, env.dst) in self.severed:
            return
        if self.nodes.get(env.dst) is None:
            if env.in_reply_to is None:  # connection refused: the sender learns at once
                self.feed(env.src, Unreachable(peer=env.dst, request=env.message))  # type: ignore[arg-type]
            return
        self.in_flight.append(env)

    def deliverable(self) -> list[int]:
        """Indices into `in_flight` of the messages whose receiver runs (is not paused)."""
        return [i for i, e in enumerate(self.in_flight) if e.dst not in self.paused]

    def deliver(self, index: int) -> None:
        """Deliver `in_flight[index]` now: its receiver steps with it (a paused receiver would
        not, so pick from `deliverable()`)."""
        env = self.in_flight.pop(index)
        if self.nodes.get(env.dst) is None:
            return
        self.feed(env.dst, Received(message=env.message, in_reply_to=env.in_reply_to))

    def drop(self, index: int) -> None:
        """Lose `in_flight[index]`: the network drops it, nobody is told."""
        self.in_flight.pop(index)

    def duplicate(self, index: int) -> None:
        """Send `in_flight[index]` twice: a copy joins the back of the queue, the original stays."""
        self.in_flight.append(self.in_flight[index])

    def delay(self, index: int) -> None:
        """Deliver `in_flight[index]` later: it moves to the back of the queue, so every message
        now in flight overtakes it (FIFO delivery, `deliver_all` and `run` see it last)."""
        self.in_flight.append(self.in_flight.pop(index))

    def tick_all(self) -> None:
        """Give every running node a `Tick` at the current time (the clock does not move)."""
        for name in self.live():
            self.feed(name, Tick())

    def advance(self, seconds: float) -> None:
        """Move the clock in small ticks, ticking every running node (no message delivered)."""
        end = self.now + seconds
        while self.now + TICK <= end + 1e-9:
            self.now += TICK
            self.tick_all()
        self.now = max(self.now, end)

    def deliver_all(self, max_rounds: int = 10_000) -> None:
        """Deliver in FIFO order until nothing deliverable is left (bounded)."""
        for _ in range(max_rounds):
            ready = self.deliverable()
            if not ready:
                return
            self.deliver(ready[0])
        raise RuntimeError("deliver_all did not settle")

    def run(self, seconds: float) -> None:
        """Time passes on a healthy network: tick, and deliver everything after each tick."""
        end = self.now + seconds
        while self.now + TICK <= end + 1e-9:
            self.now += TICK
            self.tick_all()
            self.deliver_all()
        self.now = max(self.now, end)
        self.deliver_all()

    def run_until(self, done: Callable[[], bool], timeout: float) -> bool:
        """Run (as `run`) until `done()` holds; False if it still does not after `timeout` seconds."""
        end = self.now + timeout
        self.deliver_all()
        while not done():
            if self.now >= end:
                return False
            self.now += TICK
            self.tick_all()
            self.deliver_all()
        return True

    # ------------------------------------------------------------ client requests

    def request(self, kind: str, node: str, session_id: str, hint: tuple[str, str] = ("", ""),
                payload: bytes = b"", *, lifetime: float | None = None) -> ClientOp:
        """Start one HTTP-like request at `node` (non-sticky: any node may serve any session);
        a create or write with `lifetime` gives the session its own idle lifetime."""
        op = ClientOp(len(self.ops) + 1, kind, node, session_id, hint, payload, lifetime=lifetime)
        self.ops[op.op_id] = op
        if node not in self.live():
            op.phase, op.outcome, op.reason = "done", "failed", "instance down"
            return op
        if kind == "create":
            op.phase = "writing"
            self._issue_write(op, base=0)
        else:
            rid = self._new_request(op)
            self.feed(node, LoadRequested(request_id=rid, session_id=session_id, hint_primary=hint[0],
                                          hint_backup=hint[1]))
        return op

    def _new_request(self, op: ClientOp) -> int:
        self._next_request += 1
        self._by_request[self._next_request] = op.op_id
        return self._next_request

    def _issue_write(self, op: ClientOp, base: int) -> None:
        rid = self._new_request(op)
        self.feed(op.node, WriteRequested(request_id=rid, session_id=op.session_id, base_version=base, data=op.payload,
                                          deleted=op.kind == "invalidate", lifetime=op.lifetime))

    def _client_effect(self, name: str, effect: Loaded | LoadFailed | WriteCommitted | WriteFailed) -> None:
        op_id = self._by_request.pop(effect.request_id, None)
        if op_id is None:
            return
        op = self.ops[op_id]
        if isinstance(effect, LoadFailed | WriteFailed):
            op.phase, op.outcome, op.reason = "done", "failed", effect.reason.value
            return
        if isinstance(effect, Loaded):
            op.loaded_version = effect.record.version if effect.record else 0
            op.loaded_data = effect.record.data if effect.record else None
            op.locator = (effect.primary, effect.backup)
            if op.kind == "read" or effect.record is None:
                op.phase, op.outcome = "done", "ok"
                op.result_version = op.loaded_version
                return
            op.phase = "writing"
            self._issue_write(op, base=op.loaded_version)
            return
        op.phase, op.outcome = "done", "ok"
        op.result_version = effect.version
        op.locator = (effect.primary, effect.backup)

    # ------------------------------------------------------------ reporting

    def note(self, line: str) -> None:
        """Append `line` to the transcript, stamped with the simulated time since the start."""
        self.transcript.append(f"[t={self.now - 1000.0:6.2f}] {line}")

    def ring_summary(self) -> str:
        """One line: each instance's successor and how many primaries, backups, orphans it holds."""
        parts = []
        for name in self.names:
            node = self.nodes[name]
            if node is None:
                parts.append(f"{name}: down")
                continue
            st = node.inspect(self.now)
            backups = ",".join(f"{o}:{n}" for o, n in sorted(st.backups.items())) or "-"
            orphans = ",".join(f"{o}:{n}" for o, n in sorted(st.orphans.items())) or "-"
            flag = " (paused)" if name in self.paused else ""
            parts.append(f"{name}->{st.successor or '-'} primaries={st.primaries} "
                         f"backups={backups} orphans={orphans}{flag}")
        return " | ".join(parts)
