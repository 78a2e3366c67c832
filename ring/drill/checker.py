"""The drill's checker: pure functions over a recorded history. No processes, no clock.

Theory of operation. Every simulated user owns one session (a counter) and works on it
sequentially: `incr` (POST /incr, the server answers the count after its increment), `read`
(GET /session) and, rarely, `logout`. Each operation is recorded with its monotonic invoke and
complete times and one of three outcomes (Jepsen's ok / fail / info):

    ok             a 2xx answer that parsed: the server says what the count is
    failed         definitely not applied (refused before anything was sent, a 4xx)
    indeterminate  may or may not have been applied (timeout, reset after sending, a 5xx)

Per user the checker walks the operations in invoke order, keeping

    floor    the highest count an ok operation reported: every later ok op must see at least it
    acked    counts returned by ok increments since the session (re)started
    ceiling  how many increments may have been applied: ok + indeterminate ones, never failed ones

and judges each ok operation that reports count c:

    c below an acked count n         lost   (n was acknowledged; an ok op no longer sees it): one per
                                            missing acked increment
    c == 1 (incr) or 0 (read) after  reset  (the session silently restarted empty), its acked
    an earlier ok op saw more               increments counted as lost
    c below the floor, no acked      stale  (an older state than an ok op already saw, e.g. a
    count missing                           read that observed an indeterminate increment)
    c > ceiling                      duplicated (an increment applied twice, or a failed one applied)

After a loss the walk continues from what the server now says, so one loss is counted once.
Indeterminate increments are never counted as lost: they only raise the ceiling (they may explain
a jump of +2). An ok logout starts a new session (next count 1, anything else is `resurrected`).
An indeterminate logout may take effect at any later time (the server can still be working on it
when the client gave up), so until the user sees a fresh session, a fresh start is not a reset.
A ghost read (the cookie of a session whose logout was acknowledged, kept and sent again) that
finds data is `resurrected`; two histories after one version are `forked` (ring.drill.forks).

`summarize` adds the figures of the report (detection, unavailability, redundancy, false
declarations) from the history, the injected faults and the instances' event logs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ring.drill.forks import ForkTracker, GhostTracker

OK = "ok"
FAILED = "failed"
INDETERMINATE = "indeterminate"
OUTCOMES = (OK, FAILED, INDETERMINATE)

INCR = "incr"
READ = "read"
LOGOUT = "logout"


@dataclass(frozen=True, slots=True)
class Op:
    """One operation of one user, as the user saw it."""

    user: int
    kind: str  # incr | read | logout
    invoke: float  # monotonic seconds (shared by every process on the box)
    complete: float
    outcome: str  # ok | failed | indeterminate
    count: int | None = None  # ok incr: the count returned; ok read: the session's count (0: empty)
    instance: str | None = None  # the instance that answered (ok ops)
    status: int | None = None  # HTTP status, if any
    error: str | None = None  # why it was not ok
    final: bool = False  # one of the reads after the last fault
    ghost: int | None = None  # a read with the cookie of the user's n-th logged-out session (must be empty)
    chain: str | None = None  # ok incr: the session's history after it; ok read: the history read
    prev: str | None = None  # ok incr: the history it was applied on
    version: int | None = None  # ok incr or read: the session version the request loaded

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {self.outcome!r}")
        if self.kind not in (INCR, READ, LOGOUT):
            raise ValueError(f"kind must be incr, read or logout, got {self.kind!r}")
        if self.outcome == OK and self.kind != LOGOUT and self.count is None:
            raise ValueError("an ok incr or read must carry the count it saw")

    def to_json(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__slots__}  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Anomaly:
    user: int
    kind: str  # lost | stale | reset | duplicated | resurrected | forked
    at: float  # complete time of the op that revealed it
    detail: str


@dataclass(slots=True)
class Verdict:
    lost: int = 0  # acknowledged increments that vanished (resets included)
    stale: int = 0  # ok reads that saw less than an earlier ok op
    resets: int = 0  # sessions that silently restarted empty
    duplicated: int = 0  # counts above what the applied increments can explain
    resurrected: int = 0  # a logged-out session came back
    forked: int = 0  # two histories after one version (ring.drill.forks)
    anomalies: list[Anomaly] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.stale or self.duplicated or self.resurrected or self.forked)


@dataclass(slots=True)
class _Chain:
    floor: int = 0
    ceiling: int = 0
    acked: list[int] = field(default_factory=list)
    logged_out: bool = False  # an ok logout: the next ok op must start from scratch
    # an indeterminate logout may take effect at any time after it was sent (the server may still be
    # working on it when the client gives up): until a fresh start is seen, one is not a reset
    maybe_logged_out: bool = False

    forks: ForkTracker = field(default_factory=ForkTracker)

    def restart(self) -> None:
        self.floor = self.ceiling = 0
        self.acked = []
        self.logged_out = self.maybe_logged_out = False
        self.forks.restart()


def check(history: Iterable[Op]) -> Verdict:
    """Judge every user's operations (see the module docstring)."""
    verdict = Verdict()
    by_user: dict[int, list[Op]] = defaultdict(list)
    for op in history:
        by_user[op.user].append(op)
    for user in sorted(by_user):
        _check_user(sorted(by_user[user], key=lambda o: (o.invoke, o.complete)), verdict)
    return verdict


def _check_user(ops: Sequence[Op], v: Verdict) -> None:
    chain = _Chain()
    ghosts = GhostTracker()
    for op in ops:
        if op.ghost is not None:
            if op.outcome == OK:
                found = ghosts.observe(op, op.ghost)
                if found:
                    v.resurrected += 1
                    v.anomalies.append(Anomaly(op.user, "resurrected", op.complete, found))
            continue
        if op.kind == LOGOUT:
            if op.outcome == OK:
                chain.restart()
                chain.logged_out = True
            elif op.outcome == INDETERMINATE:
                chain.maybe_logged_out = True
            continue
        if op.kind == INCR and op.outcome != FAILED:
            chain.ceiling += 1
        if op.outcome != OK:
            continue
        c = op.count
        assert c is not None
        fresh = c == 1 if op.kind == INCR else c == 0
        if chain.logged_out:
            chain.logged_out = False
            if not fresh:
                v.resurrected += 1
                v.anomalies.append(Anomaly(op.user, "resurrected", op.complete,
                                           f"{op.kind} saw {c} after an acknowledged logout"))
            chain.floor, chain.ceiling = c, max(c, chain.ceiling)
            chain.acked = [c] if op.kind == INCR else []
            chain.forks.observe(op)
            continue
        if chain.maybe_logged_out and fresh:
            chain.restart()
            chain.ceiling = 1 if op.kind == INCR else 0
        need = chain.floor if op.kind == READ else chain.floor + 1
        if c < need:
            if fresh and chain.floor > 0:
                _reset(op, chain, v, f"{op.kind} found an empty session after count {chain.floor} was seen")
                chain.restart()
                chain.ceiling = 1 if op.kind == INCR else 0
            else:
                # the state this op saw (its count before its own increment, for an incr)
                seen = c if op.kind == READ else c - 1
                gone = sorted({n for n in chain.acked if n > seen})
                if gone:
                    v.lost += len(gone)
                    v.anomalies.append(Anomaly(op.user, "lost", op.complete,
                                               f"{op.kind} returned {c} after count {chain.floor} was seen: "
                                               f"acknowledged counts {gone} missing"))
                else:
                    v.stale += 1
                    v.anomalies.append(Anomaly(op.user, "stale", op.complete,
                                               f"{op.kind} returned {c} after count {chain.floor} was seen"))
                chain.acked = [n for n in chain.acked if n <= seen]
                chain.floor = seen
                chain.forks.rollback(seen)
        if op.kind == INCR:
            chain.acked.append(c)
        if c > chain.ceiling:
            v.duplicated += 1
            v.anomalies.append(Anomaly(op.user, "duplicated", op.complete,
                                       f"{op.kind} saw {c} but at most {chain.ceiling} increments were sent"))
            chain.ceiling = c
        outstanding = chain.ceiling > max(chain.floor, c)  # an indeterminate incr may still be applied
        chain.floor = max(chain.floor, c)
        forked = chain.forks.observe(op)
        if forked:
            if outstanding:
                forked += " (an indeterminate increment of this user may have been applied late)"
            v.forked += 1
            v.anomalies.append(Anomaly(op.user, "forked", op.complete, forked))


def _reset(op: Op, chain: _Chain, v: Verdict, detail: str) -> None:
    gone = len(set(chain.acked))
    v.resets += 1
    v.lost += gone
    if not gone:
        v.stale += 1  # only unacknowledged (indeterminate) increments had been seen
    v.anomalies.append(Anomaly(op.user, "reset", op.complete, f"{detail} ({gone} acknowledged increments lost)"))


# ------------------------------------------------------------------ figures


def quantiles(values: Iterable[float]) -> dict[str, float | int | None]:
    """n, p50, p99 and max (nearest rank), rounded to the millisecond; None when empty."""
    xs = sorted(values)
    if not xs:
        return {"n": 0, "p50": None, "p99": None, "max": None}

    def rank(q: float) -> float:
        index = max(0, min(len(xs) - 1, int(-(-q * len(xs) // 1)) - 1))
        return round(xs[index], 3)

    return {"n": len(xs), "p50": rank(0.50), "p99": rank(0.99), "max": round(xs[-1], 3)}


def op_counts(history: Iterable[Op]) -> dict[str, Any]:
    counts: dict[str, Any] = {o: 0 for o in OUTCOMES}
    by_kind: dict[str, dict[str, int]] = defaultdict(lambda: {o: 0 for o in OUTCOMES})
    for op in history:
        counts[op.outcome] += 1
        by_kind[op.kind][op.outcome] += 1
    counts["total"] = sum(counts[o] for o in OUTCOMES)
    counts["by_kind"] = dict(by_kind)
    return counts


def failovers(history: Iterable[Op]) -> int:
    """Ok requests served by another instance than the same user's previous ok request."""
    last: dict[int, str] = {}
    moved = 0
    for op in sorted(history, key=lambda o: o.invoke):
        if op.outcome != OK or not op.instance:
            continue
        if op.user in last and last[op.user] != op.instance:
            moved += 1
        last[op.user] = op.instance
    return moved


@dataclass(frozen=True, slots=True)
class Fault:
    """An injected fault as it happened (monotonic times)."""

    kind: str
    victim: str | None  # the instance hit (None: the whole ring, e.g. packet loss)
    start: float  # when the fault was injected
    end: float  # when it was lifted (revive, resume, heal); == start for an instant fault
    redundant: float | None = None  # when every session had a backup again (ring healed)
    healed: float | None = None  # when the ring was whole again, the victim back in it
    down: bool = True  # the victim could not answer its peers during [start, end]: declaring it is right
    detail: dict[str, Any] = field(default_factory=dict)
    adopted: float | None = None  # when no instance held orphans any more (they were single copies)


DETECTED_KINDS = ("kill", "kill-successor", "pause-long", "partition", "partition-oneway", "partition-halves",
                  "partition-pair", "flap", "logout-paused", "double-failure", "sigterm-busiest")


# a flap's cuts last about a failure timeout each, healed in between: a declaration may or may not
# come, and both are right. Every other kind here must be declared for the drill's goal
MAY_GO_UNDECLARED = ("flap",)


def must_be_declared(fault: Fault) -> bool:
    """Does the drill's "every failure detected" goal demand a declaration for this fault?"""
    return fault.kind in DETECTED_KINDS and fault.kind not in MAY_GO_UNDECLARED


def to_declare(fault: Fault) -> set[str]:
    """The instances whose declaration detects the fault: the victim, or for a split the sides
    without a quorum (a strict majority of the ring, or half of it with its first instance:
    ring.core.membership). The victim of a split only names where the cut started."""
    groups, ring = fault.detail.get("groups"), fault.detail.get("ring")
    if not groups or not ring:
        return {fault.victim} if fault.victim is not None else set()
    n = len(ring)
    return {name for g in groups
            if not (2 * len(g) > n or (2 * len(g) == n and ring[0] in g)) for name in g}


def detection_time(fault: Fault, events: Sequence[dict[str, Any]], grace: float = 2.0) -> float | None:
    """Fault -> the first "declared_dead" of an instance it must have declared (`to_declare`),
    by any instance, in seconds; only while the fault lasted (until it was lifted and the ring
    healed, plus `grace`): a later declaration belongs to a later fault, and a fault nobody
    declared has no detection time."""
    targets = to_declare(fault)
    if not targets:
        return None
    until = max(fault.end, fault.healed or fault.end) + grace
    for e in events:
        mono = float(e.get("mono", 0.0))
        if e.get("event") == "declared_dead" and e.get("peer") in targets and fault.start <= mono <= until:
            return mono - fault.start
    return None


def resync_time(fault: Fault, events: Sequence[dict[str, Any]]) -> float | None:
    """Fault -> the first "resync_finished" towards an instance other than the victim, after the
    victim was declared dead: the victim's predecessor streamed all its sessions to a new backup."""
    declared = detection_time(fault, events)
    if declared is None:
        return None
    since = fault.start + declared
    for e in events:
        if (e.get("event") == "resync_finished" and e.get("mono", 0) >= since
                and e.get("instance") != fault.victim and e.get("successor") != fault.victim):
            return float(e["mono"]) - fault.start
    return None


def unavailability(fault: Fault, history: Sequence[Op], *, threshold: float) -> dict[str, float]:
    """user -> seconds from the fault to the completion of the user's first ok op invoked after it.

    Only users whose wait exceeds `threshold` (longer than a healthy request plus think time) or
    whose previous ok request was served by the victim count as affected. A user that stopped
    trying (no request in flight for longer than `threshold`: an idle user) waits from its next
    request, not from the fault.
    """
    last_before: dict[int, str | None] = {}
    in_flight: set[int] = set()
    since: dict[int, float] = {}  # user -> when its current wait started
    last_done: dict[int, float] = {}  # user -> completion of its latest op after the fault
    first_after: dict[int, float] = {}
    users: set[int] = set()
    for op in sorted(history, key=lambda o: o.invoke):
        users.add(op.user)
        if op.invoke < fault.start:
            if op.outcome == OK:
                last_before[op.user] = op.instance
            if op.complete >= fault.start:
                in_flight.add(op.user)
            continue
        if op.user in first_after:
            continue
        previous = last_done.get(op.user, fault.start if op.user not in in_flight else op.invoke)
        if op.user not in since or op.invoke - previous > threshold:
            since[op.user] = op.invoke if op.invoke - previous > threshold else fault.start
        last_done[op.user] = max(last_done.get(op.user, 0.0), op.complete)
        if op.outcome == OK:
            first_after[op.user] = op.complete
    out: dict[str, float] = {}
    for user in sorted(users):
        done = first_after.get(user)
        if done is None:
            continue  # no ok op after the fault (the drill ended): not measurable
        wait = done - since[user]
        pinned = fault.victim is not None and last_before.get(user) == fault.victim
        if wait > threshold or pinned:
            out[str(user)] = wait
    return out


def down_windows(faults: Sequence[Fault], grace: float) -> dict[str, list[tuple[float, float]]]:
    """instance -> intervals during which declaring it dead (or it being fenced) is justified."""
    windows: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for f in faults:
        if f.victim is not None and f.down:
            windows[f.victim].append((f.start, f.end + grace))
        for name in f.detail.get("cut", []):  # a network fault: every instance it cut off
            windows[name].append((f.start, f.end + grace))
        for step in f.detail.get("steps", []):  # rolling restart: one stop per instance
            windows[step["instance"]].append((step["stopped"], step["started"] + grace))
    return windows


def false_declarations(events: Sequence[dict[str, Any]], faults: Sequence[Fault], grace: float) -> list[dict[str, Any]]:
    """"declared_dead" of an instance that was up, and "fenced" of one that was not down.

    A declaration made BY an isolated instance during its own partition is also justified: it is
    the documented behaviour of a minority side.
    """
    windows = down_windows(faults, grace)
    isolated = {f.victim: (f.start, f.end + grace) for f in faults if f.kind.startswith("partition") and f.victim}

    def within(name: str | None, t: float) -> bool:
        return name is not None and any(a <= t <= b for a, b in windows.get(name, ()))

    out = []
    for e in events:
        kind = e.get("event")
        t = float(e.get("mono", 0.0))
        if kind == "declared_dead":
            subject = e.get("peer")
            if within(subject, t):
                continue
            span = isolated.get(str(e.get("instance")))
            if span is not None and span[0] <= t <= span[1]:
                continue
        elif kind == "fenced":
            subject = e.get("instance")
            if within(subject, t):
                continue
        else:
            continue
        out.append({"event": kind, "instance": e.get("instance"), "peer": e.get("peer"), "mono": t})
    return out


def count_events(events: Iterable[dict[str, Any]], kind: str) -> int:
    return sum(1 for e in events if e.get("event") == kind)
