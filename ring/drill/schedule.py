"""The fault schedule of a drill: which faults, in which order, on whom, for how long (seeded).

`plan(seed, kinds, ids, failure_timeout)` is pure: the same seed gives the same sequence of
faults, victims, holds and gaps, so a drill that found a violation can be replayed. Kinds come
round by round, each round a fresh shuffle of the requested kinds, so every kind shows up early.
`soak_plan` is a fixed mix instead (issue 10's soak: kill/revive, long pauses, rejoins), shuffled.

Process faults (no root needed):

    kill              SIGKILL a random instance, revive it after a few seconds
    kill-successor    SIGKILL the successor of the busiest instance (most primaries)
    pause-long        SIGSTOP past the failure timeout, then SIGCONT (the zombie must be fenced)
    pause-short       SIGSTOP for half the failure timeout: nobody may declare it dead
    rolling-restart   SIGTERM and restart every instance, one at a time, healing in between
    rolling-idle      the same, paced on the ring alone (never on users): idle sessions must survive
    restart           SIGTERM one instance and start it again at once (a rejoin)
    sigterm-busiest   SIGTERM the busiest instance (a clean stop must hand over), revive it later
    logout-paused     SIGSTOP an instance past the failure timeout; its users log out through the
                      others meanwhile; SIGCONT; the users try their old cookies again
    double-failure    kill -9 one instance, revive it, wait `double_gap` seconds (idle users sit
                      meanwhile), then kill -9 its successor (which took over its sessions)

Network faults (--partition: every instance in its own namespace; iptables both directions
unless said otherwise):

    partition         cut one instance from its peers both ways, then heal
    partition-oneway  the instance hears nothing from its peers, then heal
    partition-halves  2+2: the ring split into two halves of consecutive instances
    partition-pair    a pair cut from the others (a minority from 5 instances on)
    cut-link-oneway   one peer link cut in one direction at the port level: the victim cannot
                      reach its successor's replication port (everything else flows)
    flap              cut the victim both ways and heal it, FLAP_CYCLES times, at random intervals
    loss              5 % random loss on every peer link; nobody may be declared dead
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

PROCESS_KINDS = ("kill", "kill-successor", "pause-long", "pause-short", "rolling-restart", "rolling-idle",
                 "restart", "sigterm-busiest", "logout-paused", "double-failure")
NETWORK_KINDS = ("partition", "partition-oneway", "partition-halves", "partition-pair", "cut-link-oneway",
                 "flap", "loss")
ALL_KINDS = PROCESS_KINDS + NETWORK_KINDS
DEFAULT_KINDS = ("kill", "kill-successor", "pause-long", "pause-short")
DEFAULT_PARTITION_KINDS = ("partition", "partition-oneway", "loss", "kill")
NEW_KINDS = ("partition-halves", "partition-pair", "cut-link-oneway", "flap", "logout-paused", "double-failure",
             "rolling-idle", "sigterm-busiest")  # issues 9 and 10

LOSS_PROBABILITY = 0.05  # reference/reliability.md T9: no false declaration at 5 %
FLAP_CYCLES = 4  # cut/heal rounds of one flap: enough to hit a rejoin in the middle of a resync
DOUBLE_GAP = 60.0  # seconds between the two failures of double-failure (the "a minute apart")
SOAK_MIX = {"kill": 150, "kill-successor": 50, "pause-long": 50, "restart": 100}  # issue 10: >= 200/50/100
NO_VICTIM = ("kill-successor", "rolling-restart", "rolling-idle", "loss", "sigterm-busiest")


@dataclass(frozen=True, slots=True)
class PlannedFault:
    index: int
    kind: str
    victim: str | None  # None: chosen when injected (kill-successor) or every instance
    gap: float  # seconds of plain load before it
    hold: float  # how long the fault lasts (until revive, resume or heal)
    second_gap: float = 0.0  # double-failure: seconds between the revival and the second kill

    def to_json(self) -> dict[str, Any]:
        out = {"index": self.index, "kind": self.kind, "victim": self.victim,
               "gap": round(self.gap, 3), "hold": round(self.hold, 3)}
        if self.second_gap:
            out["second_gap"] = round(self.second_gap, 3)
        return out


def parse_kinds(text: str | None, *, partition: bool) -> tuple[str, ...]:
    if not text:
        return DEFAULT_PARTITION_KINDS if partition else DEFAULT_KINDS
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    if "new" in kinds:  # shorthand for the faults of issues 9 and 10
        kinds = tuple(dict.fromkeys(k for kind in kinds for k in (NEW_KINDS if kind == "new" else (kind,))))
    unknown = [k for k in kinds if k not in ALL_KINDS]
    if unknown:
        raise ValueError(f"unknown fault {', '.join(unknown)}; known: {', '.join(ALL_KINDS)} (or new)")
    if not kinds:
        raise ValueError("--faults needs at least one fault")
    return kinds


def _hold(kind: str, rng: random.Random, ft: float) -> float:
    if kind in ("kill", "kill-successor", "double-failure", "sigterm-busiest"):
        return rng.uniform(3.0, 5.0)  # revive after a few seconds
    if kind in ("pause-long", "logout-paused"):
        return rng.uniform(2.0, 3.0) * ft  # well past the failure timeout
    if kind == "pause-short":
        return 0.5 * ft
    if kind in ("rolling-restart", "rolling-idle", "restart"):
        return 0.0
    if kind == "flap":
        return rng.uniform(0.5, 1.5) * ft  # one cut of the flap; the heals between are half as long
    if kind == "loss":
        return max(8.0, 6.0 * ft)
    return rng.uniform(2.5, 3.5) * ft  # the partitions and the one-way cut


def plan(seed: int, kinds: Sequence[str], ids: Sequence[str], failure_timeout: float,
         count: int = 200, *, double_gap: float = DOUBLE_GAP) -> list[PlannedFault]:
    rng = random.Random(seed)
    out: list[PlannedFault] = []
    while len(out) < count:
        round_ = list(kinds)
        rng.shuffle(round_)
        for kind in round_:
            victim = rng.choice(list(ids)) if kind not in NO_VICTIM else None
            hold = _hold(kind, rng, failure_timeout)
            out.append(PlannedFault(len(out), kind, victim, rng.uniform(1.0, 3.0), hold,
                                    double_gap if kind == "double-failure" else 0.0))
            if len(out) >= count:
                break
    return out


def soak_plan(seed: int, ids: Sequence[str], failure_timeout: float, scale: float = 1.0) -> list[PlannedFault]:
    """SOAK_MIX scaled (at least one of each), shuffled, with short gaps between faults."""
    rng = random.Random(seed)
    kinds = [k for k, n in SOAK_MIX.items() for _ in range(max(1, round(n * scale)))]
    rng.shuffle(kinds)
    out = []
    for i, kind in enumerate(kinds):
        victim = rng.choice(list(ids)) if kind not in NO_VICTIM else None
        out.append(PlannedFault(i, kind, victim, rng.uniform(0.5, 1.5), _hold(kind, rng, failure_timeout)))
    return out


def estimated_cost(p: PlannedFault, n_instances: int, failure_timeout: float) -> float:
    """Seconds the fault and the healing after it probably take (to stop injecting in time)."""
    heal = 2.0 * failure_timeout + 2.0
    if p.kind in ("rolling-restart", "rolling-idle"):
        return n_instances * (3.0 + failure_timeout)
    if p.kind == "restart":
        return 3.0 + heal
    if p.kind == "pause-short":
        return p.hold + failure_timeout + 2.0
    if p.kind == "flap":
        return FLAP_CYCLES * 1.5 * p.hold + heal
    if p.kind == "double-failure":
        return 2 * (p.hold + heal) + p.second_gap
    return p.hold + heal
