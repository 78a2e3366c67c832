"""The faults of issues 9 and 10 (ring.drill.schedule describes each), on the drill's Nemesis.

Each is a function `(nemesis, planned) -> Fault | list[Fault]`, found by name: the kind with
dashes as underscores. Each undoes what it did in a `finally` (heal the namespaces' rules, resume
a paused process, start a stopped one), so a failure half-way leaves nothing cut or stopped; the
nemesis' `restore()` is the second line at the end of the drill. Network faults record the
instances they cut in `detail["cut"]`: a failure declaration between them during the fault (plus
the grace) is justified (ring.drill.checker.false_declarations).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ring.drill.checker import Fault
from ring.drill.schedule import FLAP_CYCLES, PlannedFault

# ring.drill.faults.Nemesis, which imports this module: named without importing it (no cycle)
Nemesis = Any


def _ring(nem: Nemesis) -> list[str]:
    return list(nem.cluster.instances)


def _after(ids: Sequence[str], name: str, steps: int = 1) -> str:
    return ids[(ids.index(name) + steps) % len(ids)]


def _hold_until(t: float) -> None:
    remaining = t - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)


# ------------------------------------------------------------------ network (--partition)


def _split(nem: Nemesis, p: PlannedFault, groups: list[list[str]], label: str) -> Fault:
    assert nem.ns is not None and p.victim is not None
    nem.say(f"{label}: {' | '.join(','.join(g) for g in groups)} for {p.hold:.1f} s")
    t0 = time.monotonic()
    try:
        nem.ns.split(groups)
        _hold_until(t0 + p.hold)
    finally:
        nem.ns.heal()
    t1 = time.monotonic()
    nem.say(f"healed the {label}")
    detail: dict[str, Any] = {"groups": groups, "cut": [n for g in groups for n in g], "ring": _ring(nem)}
    healed, adopted = nem.settle(f"healing the {label}", detail)
    return Fault(p.kind, p.victim, t0, t1, None, healed, True, detail, adopted)


def partition_halves(nem: Nemesis, p: PlannedFault) -> Fault:
    """2+2 (or n/2 + the rest): the victim and the instances after it, against the others."""
    ids = _ring(nem)
    assert p.victim is not None
    start = ids.index(p.victim)
    rotated = ids[start:] + ids[:start]
    half = len(ids) // 2
    return _split(nem, p, [rotated[:half], rotated[half:]], "2+2 partition" if len(ids) == 4 else "split in halves")


def partition_pair(nem: Nemesis, p: PlannedFault) -> Fault:
    """The victim and the instance two places after it (not its neighbour), cut from the others."""
    ids = _ring(nem)
    assert p.victim is not None
    pair = [p.victim, _after(ids, p.victim, 2 if len(ids) > 3 else 1)]
    return _split(nem, p, [pair, [n for n in ids if n not in pair]], "pair partition")


def cut_link_oneway(nem: Nemesis, p: PlannedFault) -> Fault:
    """The victim's packets to its successor's replication port are dropped; all else flows."""
    assert nem.ns is not None and p.victim is not None
    victim = p.victim
    successor = _after(_ring(nem), victim)
    port = nem.cluster.config.instance(successor).port
    nem.say(f"one-way cut {victim} -> {successor}:{port} for {p.hold:.1f} s")
    t0 = time.monotonic()
    try:
        nem.ns.cut_port(victim, successor, port)
        _hold_until(t0 + p.hold)
    finally:
        nem.ns.heal()
    t1 = time.monotonic()
    detail: dict[str, Any] = {"from": victim, "to": successor, "port": port, "cut": [victim, successor]}
    healed, adopted = nem.settle(f"healing the one-way cut {victim} -> {successor}", detail)
    return Fault(p.kind, victim, t0, t1, None, healed, True, detail, adopted)


def flap(nem: Nemesis, p: PlannedFault) -> Fault:
    """Cut the victim both ways for `hold`, heal for half as long, FLAP_CYCLES times."""
    assert nem.ns is not None and p.victim is not None
    victim = p.victim
    nem.say(f"flapping {victim}: {FLAP_CYCLES} cuts of {p.hold:.1f} s")
    t0 = time.monotonic()
    try:
        for i in range(FLAP_CYCLES):
            nem.ns.cut(victim)
            time.sleep(p.hold)
            nem.ns.heal()
            if i < FLAP_CYCLES - 1:
                time.sleep(p.hold / 2)
    finally:
        nem.ns.heal()
    t1 = time.monotonic()
    detail: dict[str, Any] = {"cycles": FLAP_CYCLES, "cut": [victim]}
    healed, adopted = nem.settle(f"the flapping of {victim}", detail)
    return Fault(p.kind, victim, t0, t1, None, healed, True, detail, adopted)


# ------------------------------------------------------------------ processes


def logout_paused(nem: Nemesis, p: PlannedFault) -> Fault:
    """SIGSTOP past the failure timeout; the victim's users log out through the others; SIGCONT;
    then every user that ever logged out tries its old cookies again."""
    victim = p.victim
    assert victim is not None
    users = nem.users
    pinned = users.users_on(victim) if users is not None else []
    nem.say(f"kill -STOP {victim} for {p.hold:.1f} s; {len(pinned)} of its users log out through the others")
    t0 = nem.cluster.pause(victim)
    try:
        time.sleep(min(1.5, p.hold / 3))  # the balancer marks it down (two failed checks): logouts go elsewhere
        if users is not None:
            users.logout_now(pinned or [0, 1])
        _hold_until(t0 + p.hold)
    finally:
        t1 = nem.cluster.resume(victim)
    nem.say(f"kill -CONT {victim}")
    detail: dict[str, Any] = {"logouts_requested": len(pinned) or 2}
    healed, adopted = nem.settle(f"resuming {victim}", detail)
    if users is not None:
        users.ghost_reads_now()
    return Fault(p.kind, victim, t0, t1, None, healed, True, detail, adopted)


def double_failure(nem: Nemesis, p: PlannedFault) -> list[Fault]:
    """kill -9 the victim, revive it, wait the gap without faults, kill -9 its successor."""
    assert p.victim is not None
    gap = nem.double_gap if nem.double_gap is not None else p.second_gap
    first = nem._kill(p, p.victim, {"step": "first"})
    nem.say(f"double failure: {gap:g} s until the second kill")
    time.sleep(gap)
    second_victim = _after(_ring(nem), p.victim)
    second = nem._kill(p, second_victim, {"step": "second", "gap_s": gap, "first": p.victim})
    return [first, second]


def restart(nem: Nemesis, p: PlannedFault) -> Fault:
    """SIGTERM one instance and start it again at once: a rejoin."""
    victim = p.victim
    assert victim is not None
    nem.say(f"restart {victim} (SIGTERM, start)")
    t0 = time.monotonic()
    code = nem.cluster.terminate(victim)
    stopped = time.monotonic()
    back = nem._start(victim)
    detail: dict[str, Any] = {"exit_code": code, "stop_s": round(stopped - t0, 3)}
    rejoined = nem.wait_redundant(nem.redundancy_timeout)
    detail["rejoin_redundant_s"] = round(rejoined - back, 3) if rejoined is not None and back else None
    healed, adopted = nem.settle(f"restarting {victim}", detail)
    return Fault(p.kind, victim, t0, back or time.monotonic(), None, healed, True, detail, adopted)


def sigterm_busiest(nem: Nemesis, p: PlannedFault) -> Fault:
    """SIGTERM the instance with the most primaries (a clean stop hands over), revive after the hold."""
    busiest, _ = nem.busiest()
    victim = busiest or _ring(nem)[0]
    return nem._kill(p, victim, {"signal": "SIGTERM"}, terminate=True)


def rolling_idle(nem: Nemesis, p: PlannedFault) -> Fault:
    """SIGTERM and restart every instance in turn, paced on the ring alone: healed, then every
    session redundant (bounded), never on users coming back. Idle sessions must survive it."""
    steps: list[dict[str, Any]] = []
    first = time.monotonic()
    healed = None
    for name in _ring(nem):
        nem.say(f"rolling restart (idle users): SIGTERM {name}")
        stopped = time.monotonic()
        code = nem.cluster.terminate(name)
        if code != 0:
            nem.problems.append(f"{name} exited with {code} on SIGTERM (a clean stop exits 0)")
        started = nem._start(name) or time.monotonic()
        healed = nem.wait_healed(f"restarting {name}")
        redundant = nem.wait_redundant(nem.redundancy_timeout)
        steps.append({"instance": name, "stopped": stopped, "started": started, "exit_code": code,
                      "healed": healed, "adopted": redundant,
                      "redundant_s": round(redundant - started, 3) if redundant else None})
        if healed is None:
            break
    return Fault(p.kind, None, first, steps[-1]["started"] if steps else first, None, healed, False,
                 {"steps": steps}, None)
