"""Forked histories and resurrected logouts: what the counter check alone cannot see.

The drill's app (ring.drill.app) keeps a hash chain of the increments applied to each session and
answers, with every ok request, the version it loaded and the chain it saw (an incr: the chain
it was applied on, `prev`, and the one after, `chain`). One history assigns one state to each
count and to each version. Per user and per session (the tracker restarts at a logout or a reset):

    count -> chain        a second ok answer naming a count with another chain   forked
    version -> state      a second ok answer naming a version with another       forked
                          (count, chain) before it
    incr prev != chain    an incr applied on a history that is not the one the   forked
    seen at count - 1     user was acknowledged (not a continuation)

The counter check (ring.drill.checker) runs first: when it finds a loss, a stale read or a reset it
rolls the tracker back to what the server now says (`rollback`), so one anomaly is counted once.
Answers without a chain (the plain demo app) are not judged here.

A ghost read is a read with the cookie of a session its user logged out and was acknowledged: it
must find the session empty. Data there is a resurrected logout, counted once per logged-out session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

State = tuple[int, str]  # (count, chain)


@dataclass(slots=True)
class ForkTracker:
    by_count: dict[int, str] = field(default_factory=dict)
    by_version: dict[int, State] = field(default_factory=dict)

    def restart(self) -> None:
        self.by_count.clear()
        self.by_version.clear()

    def rollback(self, seen: int) -> None:
        """The server now says count `seen`: forget what was learnt above it."""
        self.by_count = {c: h for c, h in self.by_count.items() if c <= seen}
        self.by_version = {v: st for v, st in self.by_version.items() if st[0] <= seen}

    def observe(self, op: Any) -> str | None:
        """Learn one ok incr or read; a description when it contradicts what was learnt."""
        if op.chain is None:
            return None
        count = int(op.count)
        if op.kind == "incr":
            before: State | None = (count - 1, op.prev) if op.prev is not None else None
            states = [s for s in (before, (count, op.chain)) if s is not None]
        else:
            before = (count, op.chain)
            states = [before]
        problem = None
        for c, h in states:
            known = self.by_count.get(c)
            if known is not None and known != h and problem is None:
                problem = f"{op.kind} at count {c} saw history {h[:8]}, an earlier answer saw {known[:8]}"
            self.by_count.setdefault(c, h)
        if op.version is not None and before is not None:
            known_state = self.by_version.get(op.version)
            if known_state is not None and known_state != before and problem is None:
                problem = (f"{op.kind} loaded version {op.version} as count {before[0]} ({before[1][:8]}), "
                           f"an earlier answer loaded it as count {known_state[0]} ({known_state[1][:8]})")
            self.by_version.setdefault(op.version, before)
        if problem is not None:
            # continue from what the server says now: one fork is counted once
            for c, h in states:
                self.by_count[c] = h
            if op.version is not None and before is not None:
                self.by_version[op.version] = before
        return problem


@dataclass(slots=True)
class GhostTracker:
    """Logged-out sessions of one user already found resurrected (each counted once)."""

    found: set[int] = field(default_factory=set)

    def observe(self, op: Any, generation: int) -> str | None:
        if op.count in (None, 0) or generation in self.found:
            return None
        self.found.add(generation)
        return f"a read with the cookie of logged-out session #{generation} found count {op.count}"
