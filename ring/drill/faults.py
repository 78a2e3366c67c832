"""The fault schedule (seeded) and the nemesis that carries it out on a LocalCluster.

`plan(seed, kinds, ids, failure_timeout)` is pure: the same seed gives the same sequence of
faults, victims, holds and gaps, so a drill that found a violation can be replayed. Kinds come
round by round, each round a fresh shuffle of the requested kinds, so every kind shows up early.

    kill              SIGKILL a random instance, revive it after a few seconds
    kill-successor    SIGKILL the successor of the busiest instance (most primaries)
    pause-long        SIGSTOP past the failure timeout, then SIGCONT (the zombie must be fenced)
    pause-short       SIGSTOP for half the failure timeout: nobody may declare it dead
    rolling-restart   SIGTERM and restart every instance, one at a time, healing in between
    partition         (--partition) cut one instance from its peers both ways, then heal
    partition-oneway  (--partition) the instance hears nothing from its peers, then heal
    loss              (--partition) 5 % random loss on every peer link; nobody may be declared dead

The nemesis waits until the ring healed after each fault (every live instance alive in one cycle,
nobody resyncing) and then until the orphans were adopted (none left, or every user served since),
so only one failure is unrecovered at a time: an orphan is the only copy of a session of an
instance that failed or restarted, until a request adopts it. A second failure before that loses
it: `ignore_orphans` paces the faults on the ring alone and shows it (a rolling restart paced so
loses sessions).
What happened is recorded as a `checker.Fault` with monotonic times.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ring.core.topology import is_single_cycle
from ring.drill.checker import Fault
from ring.drill.cluster import LocalCluster, poll
from ring.drill.netns import Namespaces

PROCESS_KINDS = ("kill", "kill-successor", "pause-long", "pause-short", "rolling-restart")
NETWORK_KINDS = ("partition", "partition-oneway", "loss")
ALL_KINDS = PROCESS_KINDS + NETWORK_KINDS
DEFAULT_KINDS = ("kill", "kill-successor", "pause-long", "pause-short")
DEFAULT_PARTITION_KINDS = ("partition", "partition-oneway", "loss", "kill")

LOSS_PROBABILITY = 0.05  # reference/reliability.md T9: no false declaration at 5 %


@dataclass(frozen=True, slots=True)
class PlannedFault:
    index: int
    kind: str
    victim: str | None  # None: chosen when injected (kill-successor) or every instance
    gap: float  # seconds of plain load before it
    hold: float  # how long the fault lasts (until revive, resume or heal)

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "kind": self.kind, "victim": self.victim,
                "gap": round(self.gap, 3), "hold": round(self.hold, 3)}


def parse_kinds(text: str | None, *, partition: bool) -> tuple[str, ...]:
    if not text:
        return DEFAULT_PARTITION_KINDS if partition else DEFAULT_KINDS
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in ALL_KINDS]
    if unknown:
        raise ValueError(f"unknown fault {', '.join(unknown)}; known: {', '.join(ALL_KINDS)}")
    if not kinds:
        raise ValueError("--faults needs at least one fault")
    return kinds


def plan(seed: int, kinds: Sequence[str], ids: Sequence[str], failure_timeout: float,
         count: int = 200) -> list[PlannedFault]:
    rng = random.Random(seed)
    ft = failure_timeout
    out: list[PlannedFault] = []
    while len(out) < count:
        round_ = list(kinds)
        rng.shuffle(round_)
        for kind in round_:
            victim = rng.choice(list(ids)) if kind not in ("kill-successor", "rolling-restart", "loss") else None
            hold = {
                "kill": rng.uniform(3.0, 5.0),  # revive after a few seconds
                "kill-successor": rng.uniform(3.0, 5.0),
                "pause-long": rng.uniform(2.0, 3.0) * ft,  # well past the failure timeout
                "pause-short": 0.5 * ft,
                "rolling-restart": 0.0,
                "partition": rng.uniform(2.5, 3.5) * ft,
                "partition-oneway": rng.uniform(2.5, 3.5) * ft,
                "loss": max(8.0, 6.0 * ft),
            }[kind]
            out.append(PlannedFault(len(out), kind, victim, rng.uniform(1.0, 3.0), hold))
            if len(out) >= count:
                break
    return out


def estimated_cost(p: PlannedFault, n_instances: int, failure_timeout: float) -> float:
    """Seconds the fault and the healing after it probably take (to stop injecting in time)."""
    heal = 2.0 * failure_timeout + 2.0
    if p.kind == "rolling-restart":
        return n_instances * (3.0 + failure_timeout)
    if p.kind == "pause-short":
        return p.hold + failure_timeout + 2.0
    return p.hold + heal


class Nemesis:
    def __init__(self, cluster: LocalCluster, *, failure_timeout: float, namespaces: Namespaces | None = None,
                 heal_timeout: float = 30.0, say: Callable[[str], None] = lambda s: None,
                 ignore_orphans: bool = False, orphan_timeout: float = 12.0,
                 served_since: Callable[[float], bool] = lambda t: True) -> None:
        self.cluster = cluster
        self.ignore_orphans = ignore_orphans
        # how long a user may keep the next fault back (one request timeout: a stuck request fails
        # by then and the user retries); `served_since(t)`: every user had an ok answer after t
        self.orphan_timeout = orphan_timeout
        self.served_since = served_since
        self.ft = failure_timeout
        self.ns = namespaces
        self.heal_timeout = heal_timeout
        self.say = say
        self.problems: list[str] = []  # liveness violations: a ring that did not heal, an instance that did not start
        self.current: str = ""

    # ------------------------------------------------------------ observation

    def healed(self, excluded: Sequence[str] = ()) -> bool:
        """LocalCluster.ring_healed, leaving out `excluded` (an instance cut off by a partition)."""
        if not excluded:
            return self.cluster.ring_healed()
        rows = {r["id"]: r for r in self.cluster.status(0.5)}
        running = [n for n, i in self.cluster.instances.items() if i.running and not i.paused and n not in excluded]
        if any(rows[n]["state"] != "alive" or rows[n]["resyncing"] for n in running):
            return False
        return is_single_cycle({n: rows[n]["successor"] for n in running})

    def wait_healed(self, what: str, excluded: Sequence[str] = (), timeout: float | None = None,
                    *, required: bool = True) -> float | None:
        """Monotonic time at which the ring was healed, or None (a problem when `required`)."""
        if poll(lambda: self.healed(excluded), timeout or self.heal_timeout, interval=0.1):
            return time.monotonic()
        if required:
            self.problems.append(f"the ring did not heal within {timeout or self.heal_timeout:g} s after {what}")
        return None

    def orphans(self) -> int:
        return sum(sum(r["orphans"].values()) for r in self.cluster.status(0.5) if r["state"] == "alive")

    def settle(self, what: str, detail: dict[str, Any]) -> tuple[float | None, float | None]:
        """Wait until the ring healed, then until the orphans were adopted: (healed at, adopted at).

        Adopted means no orphan is left, or every user has been served since the ring healed: what
        is left then nobody asks for (a session its user abandoned, or an invalidated one, whose
        tombstone `ring status` counts too) and is recorded in `detail["orphans_left"]`. A user
        still waiting keeps the next fault back, up to one request timeout.
        """
        healed = self.wait_healed(what)
        if healed is None or self.ignore_orphans:
            return healed, None
        deadline = time.monotonic() + self.orphan_timeout
        while True:
            left = self.orphans()
            if left == 0:
                return healed, time.monotonic()
            if self.served_since(healed) or time.monotonic() >= deadline:
                detail["orphans_left"] = left
                if not self.served_since(healed):
                    detail["orphans_wait_timed_out"] = True
                    self.say(f"{left} orphans still not adopted {self.orphan_timeout:g} s after {what}")
                return healed, None
            time.sleep(0.1)

    def _start(self, name: str) -> float | None:
        prefix = self.ns.prefix(name) if self.ns else ()
        self.cluster.start(name, prefix=prefix)
        if not self.cluster.wait_ready(name, 30.0):
            self.problems.append(f"{name} did not become ready within 30 s of its restart "
                                 f"(see {self.cluster.instances[name].log_path})")
            return None
        return time.monotonic()

    def busiest(self) -> tuple[str | None, str | None]:
        rows = [r for r in self.cluster.status(0.5) if r["state"] == "alive"]
        if not rows:
            return None, None
        top = max(rows, key=lambda r: (r["primaries"] or 0, r["id"]))
        return top["id"], top["successor"]

    # ------------------------------------------------------------ faults

    def inject(self, p: PlannedFault) -> Fault | None:
        self.current = p.kind
        try:
            method = getattr(self, "_" + p.kind.replace("-", "_"))
            return method(p)  # type: ignore[no-any-return]
        finally:
            self.current = ""

    def _kill(self, p: PlannedFault, victim: str | None = None, detail: dict[str, Any] | None = None) -> Fault:
        victim = victim or p.victim
        assert victim is not None
        self.say(f"kill -9 {victim}; revive in {p.hold:.1f} s")
        t0 = self.cluster.kill(victim)
        redundant = self.wait_healed(f"killing {victim}")
        remaining = t0 + p.hold - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)
        back = self._start(victim)
        self.say(f"{victim} restarted")
        detail = detail or {}
        healed, adopted = self.settle(f"restarting {victim}", detail)
        return Fault(p.kind, victim, t0, back or time.monotonic(), redundant, healed, True, detail, adopted)

    def _kill_successor(self, p: PlannedFault) -> Fault:
        busiest, successor = self.busiest()
        if successor is None:
            successor = busiest or next(iter(self.cluster.instances))
        return self._kill(p, successor, {"busiest": busiest})

    def _pause_long(self, p: PlannedFault) -> Fault:
        victim = p.victim
        assert victim is not None
        self.say(f"kill -STOP {victim} for {p.hold:.1f} s")
        t0 = self.cluster.pause(victim)
        # the ring re-forms around the paused instance, or not before the pause ends: both are fine
        redundant = self.wait_healed(f"pausing {victim}", timeout=p.hold, required=False)
        remaining = t0 + p.hold - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)
        t1 = self.cluster.resume(victim)
        self.say(f"kill -CONT {victim}")
        detail: dict[str, Any] = {}
        healed, adopted = self.settle(f"resuming {victim}", detail)
        return Fault(p.kind, victim, t0, t1, redundant, healed, True, detail, adopted)

    def _pause_short(self, p: PlannedFault) -> Fault:
        victim = p.victim
        assert victim is not None
        self.say(f"kill -STOP {victim} for {p.hold:.2f} s (half the failure timeout: must not be declared dead)")
        t0 = self.cluster.pause(victim)
        time.sleep(p.hold)
        t1 = self.cluster.resume(victim)
        detail: dict[str, Any] = {}
        healed, adopted = self.settle(f"a short pause of {victim}", detail)
        late = t1 + self.ft + 1.0 - time.monotonic()  # a late declaration would show up by now
        if late > 0:
            time.sleep(late)
        return Fault(p.kind, victim, t0, t1, None, healed, False, detail, adopted)

    def _rolling_restart(self, p: PlannedFault) -> Fault:
        steps: list[dict[str, Any]] = []
        first = time.monotonic()
        healed = adopted = None
        for name in list(self.cluster.instances):
            self.say(f"rolling restart: SIGTERM {name}")
            stopped = time.monotonic()
            code = self.cluster.terminate(name)
            if code != 0:
                self.problems.append(f"{name} exited with {code} on SIGTERM (a clean stop exits 0)")
            started = self._start(name) or time.monotonic()
            step: dict[str, Any] = {"instance": name, "stopped": stopped, "started": started, "exit_code": code}
            healed, adopted = self.settle(f"restarting {name}", step)
            step.update(healed=healed, adopted=adopted)
            steps.append(step)
            if healed is None:
                break
        return Fault(p.kind, None, first, steps[-1]["started"] if steps else first, None, healed, False,
                     {"steps": steps}, adopted)

    def _partition(self, p: PlannedFault, one_way: bool = False) -> Fault:
        assert self.ns is not None and p.victim is not None
        victim = p.victim
        self.say(f"cut {victim} from its peers {'one way (it hears nothing)' if one_way else 'both ways'} "
                 f"for {p.hold:.1f} s")
        t0 = time.monotonic()
        self.ns.cut(victim, one_way=one_way)
        redundant = self.wait_healed(f"cutting {victim}", excluded=[victim], timeout=p.hold, required=False)
        remaining = t0 + p.hold - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)
        self.ns.heal()
        t1 = time.monotonic()
        self.say(f"healed the cut of {victim}")
        detail: dict[str, Any] = {}
        healed, adopted = self.settle(f"healing the cut of {victim}", detail)
        return Fault(p.kind, victim, t0, t1, redundant, healed, True, detail, adopted)

    def _partition_oneway(self, p: PlannedFault) -> Fault:
        return self._partition(p, one_way=True)

    def _loss(self, p: PlannedFault) -> Fault:
        assert self.ns is not None
        self.say(f"{LOSS_PROBABILITY:.0%} packet loss on every peer link for {p.hold:.0f} s")
        t0 = time.monotonic()
        self.ns.loss(LOSS_PROBABILITY)
        time.sleep(p.hold)
        self.ns.heal()
        t1 = time.monotonic()
        detail: dict[str, Any] = {"probability": LOSS_PROBABILITY}
        healed, adopted = self.settle("packet loss", detail)
        return Fault(p.kind, None, t0, t1, None, healed, False, detail, adopted)

    # ------------------------------------------------------------ the end

    def restore(self) -> None:
        """Every instance running and resumed, every cut healed (before the final reads)."""
        if self.ns is not None:
            self.ns.heal()
        for name, inst in self.cluster.instances.items():
            if inst.paused:
                self.cluster.resume(name)
            elif not inst.running:
                self._start(name)
