"""A simulated cluster of pure nodes: manual clock, simulated network, named faults.

Shipped in the package (like raft's rafttest) so tests, scenarios and `ring simulate` share it.
Every message between nodes is an `Envelope` in `in_flight`; nothing moves unless the driver
delivers it (`deliver`, `deliver_all`), so a test or Hypothesis chooses every interleaving.
Faults: drop, duplicate, delay (deliver later), cut a link one way or both, isolate a node, heal,
crash, pause/resume (SIGSTOP), restart (a rejoin with a new incarnation).

Requests to a crashed node fail at once (connection refused: the sender gets `Unreachable`);
requests to a paused node wait in flight until it resumes; messages over a cut link vanish.
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

TICK = 0.05


@dataclass(slots=True)
class Envelope:
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


class SimCluster:
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
        self.cut: set[tuple[str, str]] = set()
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
        node = self.nodes[name]
        assert node is not None, f"{name} is crashed"
        return node

    def crash(self, name: str) -> None:
        node = self.nodes[name]
        if node is not None:  # a fenced process raised its own incarnation: the restart goes above it
            self._incarnations = max(self._incarnations, node.incarnation)
        self.nodes[name] = None
        self.paused.discard(name)
        self.in_flight = [e for e in self.in_flight if e.dst != name and e.src != name]
        self.note(f"-- {name} crashes (kill -9)")

    def restart(self, name: str) -> None:
        assert self.nodes[name] is None, f"{name} is running"
        self.nodes[name] = self._new_node(name)
        self.note(f"-- {name} restarts (incarnation {self._incarnations}, empty store)")

    def pause(self, name: str) -> None:
        self.paused.add(name)
        self.note(f"-- {name} pauses (kill -STOP)")

    def resume(self, name: str) -> None:
        self.paused.discard(name)
        self.note(f"-- {name} resumes (kill -CONT)")

    def cut_link(self, a: str, b: str, both: bool = True) -> None:
        self.cut.add((a, b))
        if both:
            self.cut.add((b, a))

    def isolate(self, name: str) -> None:
        for other in self.names:
            if other != name:
                self.cut_link(name, other)

    def heal(self) -> None:
        self.cut.clear()

    # ------------------------------------------------------------ driving nodes

    def feed(self, name: str, event: Input) -> None:
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
        if (env.src, env.dst) in self.cut:
            return
        if self.nodes.get(env.dst) is None:
            if env.in_reply_to is None:  # connection refused: the sender learns at once
                self.feed(env.src, Unreachable(peer=env.dst, request=env.message))  # type: ignore[arg-type]
            return
        self.in_flight.append(env)

    def deliverable(self) -> list[int]:
        return [i for i, e in enumerate(self.in_flight) if e.dst not in self.paused]

    def deliver(self, index: int) -> None:
        env = self.in_flight.pop(index)
        if self.nodes.get(env.dst) is None:
            return
        self.feed(env.dst, Received(message=env.message, in_reply_to=env.in_reply_to))

    def drop(self, index: int) -> None:
        self.in_flight.pop(index)

    def duplicate(self, index: int) -> None:
        self.in_flight.append(self.in_flight[index])

    def tick_all(self) -> None:
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
                payload: bytes = b"") -> ClientOp:
        """Start one HTTP-like request at `node` (non-sticky: any node may serve any session)."""
        op = ClientOp(len(self.ops) + 1, kind, node, session_id, hint, payload)
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
                                          deleted=op.kind == "invalidate"))

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
        self.transcript.append(f"[t={self.now - 1000.0:6.2f}] {line}")

    def ring_summary(self) -> str:
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
