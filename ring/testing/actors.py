"""The people of the scenario stories: who plays A, B, C and D, the browsers, the balancer.

Roles are taken by position, so every story plays on any ring order: the first instance plays "A",
the second "B", the third "C", and the last plays "D" (A's predecessor); in a ring of three C and D
are one instance.

A `Browser` models a user of the demo app (ring.demo): `POST /incr` loads the session at the
instance the balancer chose (adopting it there when another instance holds it) and writes the next
count; `GET /session` only loads it. The browser sends the locator cookie of its last answer as the
hint, and writes a transcript line for every answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ring.core.topology import walk_from
from ring.testing.sim import ClientOp, SimCluster

__all__ = ["Browser", "Cast", "balancer", "decode_count", "encode_count", "populate"]


@dataclass(frozen=True, slots=True)
class Cast:
    """Who plays whom in the iPlanet story, by position in the ring order."""

    A: str
    B: str
    C: str  # the same instance as D in a ring of three
    D: str  # A's predecessor

    @classmethod
    def of(cls, order: tuple[str, ...]) -> Cast:
        return cls(order[0], order[1], order[2 % len(order)], order[-1])


def decode_count(data: bytes | None) -> int:
    """The demo app's counter in a session's bytes (0 for no data)."""
    count = json.loads(data).get("count", 0) if data else 0
    assert isinstance(count, int), f"session data {data!r} holds no count"
    return count


def encode_count(count: int) -> bytes:
    return json.dumps({"count": count}, separators=(",", ":")).encode()


class Browser:
    """One user: a session id, the locator cookie of the last answer, the last count acknowledged."""

    def __init__(self, sim: SimCluster, session_id: str) -> None:
        self.sim = sim
        self.session_id = session_id
        self.locator: tuple[str, str] = ("", "")
        self.count = 0
        self.version = 0

    def incr(self, at: str) -> int:
        """POST /incr at instance `at`; the new count. Asserts it succeeded and nothing was lost."""
        started = self.sim.now
        where = f"POST /incr for {self.session_id} at {at}"
        if not self.version:  # no session cookie yet: the app starts a session
            op = self._run(self.sim.request("create", at, self.session_id, payload=encode_count(1)))
        else:
            load = self._run(self.sim.request("read", at, self.session_id, self.locator))
            if load.outcome != "ok":
                self._tell(started, f"{where} -> failed: {load.reason}")
                raise AssertionError(f"{where} failed: {load.reason}")
            if not load.loaded_version:
                self._tell(started, f"{where} -> session not found")
                raise AssertionError(f"{self.session_id} (count {self.count}) was lost")
            count = decode_count(load.loaded_data) + 1
            op = self._run(self.sim.request("write", at, self.session_id, load.locator, encode_count(count)))
        if op.outcome != "ok":
            self._tell(started, f"{where} -> failed: {op.reason}")
            raise AssertionError(f"{where} failed: {op.reason}")
        count = decode_count(op.payload)
        assert count == self.count + 1, (
            f"{where} answered count={count}, but the last acknowledged count was {self.count}"
        )
        assert op.result_version > self.version, (
            f"{self.session_id}: its version went from v{self.version} to v{op.result_version}"
        )
        self.count, self.version, self.locator = count, op.result_version, op.locator
        self._tell(started, f"{where} -> count={count} (v{op.result_version}), locator {'|'.join(op.locator)}")
        return count

    def show(self, at: str) -> ClientOp:
        """GET /session at `at`: the finished load (never asserts; the caller judges)."""
        started = self.sim.now
        op = self._run(self.sim.request("read", at, self.session_id, self.locator))
        where = f"GET /session for {self.session_id} at {at}"
        if op.outcome != "ok":
            self._tell(started, f"{where} -> failed: {op.reason}")
        elif not op.loaded_version:
            self._tell(started, f"{where} -> not found (count {self.count} is lost)")
        else:
            count = decode_count(op.loaded_data)
            stale = f" STALE: the latest acknowledged count is {self.count}" if count != self.count else ""
            if not stale:
                self.locator = op.locator
            self._tell(started, f"{where} -> count={count} (v{op.loaded_version}), "
                                f"locator {'|'.join(op.locator)}{stale}")
        return op

    def _run(self, op: ClientOp) -> ClientOp:
        limit = self.sim.settings.request_timeout + 1.0
        if not self.sim.run_until(lambda: op.phase == "done", limit):
            raise AssertionError(f"{op.kind} of {op.session_id} at {op.node} did not finish in {limit:g} s")
        return op

    def _tell(self, started: float, what: str) -> None:
        waited = self.sim.now - started
        self.sim.note(f"client: {what}" + (f" (waited {waited:.2f} s)" if waited > 0.5 else ""))


def populate(sim: SimCluster) -> list[Browser]:
    """One user per instance: s1 starts at A, s2 at B, ...; A's user clicks twice."""
    users = [Browser(sim, f"s{i + 1}") for i in range(len(sim.names))]
    for user, home in zip(users, sim.names, strict=True):
        user.incr(home)
    users[0].incr(sim.names[0])
    return users


def balancer(sim: SimCluster, home: str) -> str:
    """Where a balancer sends a user of `home`: home if it runs, else the next running instance."""
    running = sim.live()
    for name in walk_from(home, sim.names):
        if name in running:
            return name
    raise AssertionError("no instance runs")
