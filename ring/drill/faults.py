"""The nemesis: carries out a drill's fault schedule (ring.drill.schedule) on a LocalCluster.

The nemesis waits until the ring healed after each fault (every live instance alive in one cycle,
nobody resyncing) and then until the orphans were adopted (none left, or every user that is not
idle by design served since), so only one failure is unrecovered at a time: an orphan is the only
copy of a session of an instance that failed or restarted. `ignore_orphans` paces the faults on
the ring alone. After a kill it also measures how long until every session has two copies again
(ring.drill.redundancy: orphans count as single copies), while the victim is down and after it
rejoins. The faults of issues 9 and 10 live in ring.drill.faults_more; every fault undoes what it
did in a `finally` (heal, resume, restart), and `restore()` undoes whatever is left.
What happened is recorded as a `checker.Fault` with monotonic times.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from ring.core.topology import is_single_cycle
from ring.drill import faults_more
from ring.drill.checker import Fault
from ring.drill.cluster import LocalCluster, poll
from ring.drill.netns import Namespaces
from ring.drill.redundancy import fully_redundant
from ring.drill.schedule import (  # noqa: F401 - re-exported: the drill's fault vocabulary
    ALL_KINDS,
    DEFAULT_KINDS,
    DEFAULT_PARTITION_KINDS,
    LOSS_PROBABILITY,
    NETWORK_KINDS,
    PROCESS_KINDS,
    PlannedFault,
    estimated_cost,
    parse_kinds,
    plan,
)


class Nemesis:
    def __init__(self, cluster: LocalCluster, *, failure_timeout: float, namespaces: Namespaces | None = None,
                 heal_timeout: float = 30.0, say: Callable[[str], None] = lambda s: None,
                 ignore_orphans: bool = False, orphan_timeout: float = 12.0,
                 served_since: Callable[[float], bool] = lambda t: True, users: Any = None,
                 double_gap: float | None = None) -> None:
        self.cluster = cluster
        self.users = users  # the Workload (logout_now, ghost_reads_now, users_on), or None
        self.double_gap = double_gap  # overrides the planned gap of double-failure
        # how long to wait for every session to have two copies again before giving up on the figure
        # (not a liveness violation: the report shows the kill without a time)
        self.redundancy_timeout = max(8.0, 4.0 * failure_timeout)
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

    def running(self, excluded: Sequence[str] = ()) -> list[str]:
        return [n for n, i in self.cluster.instances.items() if i.running and not i.paused and n not in excluded]

    def redundant(self, excluded: Sequence[str] = ()) -> bool:
        """Every session on two running instances, orphans counted as single (ring.drill.redundancy)."""
        return fully_redundant(self.cluster.status(0.5), self.running(excluded))

    def watch(self, until: float, excluded: Sequence[str] = ()) -> tuple[float | None, float | None]:
        """Poll until `until` (or both happened): (ring re-formed at, every session redundant at)."""
        formed = redundant = None
        while formed is None or redundant is None:
            now = time.monotonic()
            if formed is None and self.healed(excluded):
                formed = now
            if formed is not None and redundant is None and self.redundant(excluded):
                redundant = now
            if time.monotonic() >= until:
                break
            time.sleep(0.1)
        return formed, redundant

    def wait_redundant(self, timeout: float | None = None, excluded: Sequence[str] = ()) -> float | None:
        if poll(lambda: self.healed(excluded) and self.redundant(excluded), timeout or self.heal_timeout, 0.1):
            return time.monotonic()
        return None

    def orphans(self) -> int:
        return sum(sum(held.values()) for held in self.orphans_held().values())

    def orphans_held(self) -> dict[str, dict[str, int]]:
        """instance -> {dead owner: orphans it holds for it}, for the running instances holding any."""
        return {r["id"]: dict(r["orphans"]) for r in self.cluster.status(0.5)
                if r["state"] == "alive" and r["orphans"]}

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
                detail["orphans_held"] = self.orphans_held()  # who holds them, for whom
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
            name = p.kind.replace("-", "_")
            method = getattr(self, "_" + name, None)
            if method is not None:
                return method(p)  # type: ignore[no-any-return]
            return getattr(faults_more, name)(self, p)  # type: ignore[no-any-return]
        finally:
            self.current = ""

    def _kill(self, p: PlannedFault, victim: str | None = None, detail: dict[str, Any] | None = None,
              *, terminate: bool = False) -> Fault:
        """kill -9, revive after the hold; measures when every session had two copies again, while
        the victim is down (`all_redundant_s`, or after its revival when not by then) and after it
        rejoined (`rejoin_redundant_s`)."""
        victim = victim or p.victim
        assert victim is not None
        detail = detail or {}
        self.say(f"{'SIGTERM' if terminate else 'kill -9'} {victim}; revive in {p.hold:.1f} s")
        if terminate:
            t0 = time.monotonic()
            code = self.cluster.terminate(victim, timeout=20.0)
            detail.update(exit_code=code, stop_s=round(time.monotonic() - t0, 3))
            if code != 0:
                self.problems.append(f"{victim} exited with {code} on SIGTERM (a clean stop exits 0)")
        else:
            t0 = self.cluster.kill(victim)
        formed, redundant = self.watch(t0 + max(p.hold, self.ft + 0.5))
        if formed is None:
            self.problems.append(f"the ring did not re-form within {p.hold:g} s after killing {victim}")
        detail["redundant_before_revive"] = redundant is not None
        remaining = t0 + p.hold - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)
        back = self._start(victim)
        self.say(f"{victim} restarted")
        rejoined = self.wait_redundant(self.redundancy_timeout)
        if redundant is None and rejoined is not None:
            redundant = rejoined
        detail["all_redundant_s"] = round(redundant - t0, 3) if redundant is not None else None
        detail["rejoin_redundant_s"] = round(rejoined - back, 3) if rejoined is not None and back else None
        healed, adopted = self.settle(f"restarting {victim}", detail)
        return Fault(p.kind, victim, t0, back or time.monotonic(), formed, healed, True, detail, adopted)

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
