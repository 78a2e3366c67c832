"""`ring fuzz`'s engine: RingMachine on one configuration's ring, with figures and a transcript.

`fuzz(order, settings, examples=..., seed=..., minutes=..., progress=...)` runs the state machine
of ring.testing.machine (the one CI runs) on a simulated ring of exactly `order`, with the core
settings of a server.xml, in rounds of a few examples so it can show progress and stop on time.
Every round has its own seed (the first one is `seed`), so a violation is replayed by running
that round's seed again with the round's example count: `FuzzResult.replay` says how.

Besides the verdict it measures, over the crashes Hypothesis chose, how long the ring took to
detect the crash (a peer declares it dead), to re-form (every running instance's view leaves it
out) and to restore redundancy (no running instance holds a session without a second copy).

Needs Hypothesis (the `testing` extra), like ring.testing.machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.stateful import initialize, run_state_machine_as_test

from ring.core import CoreSettings, Effect, PeerDeclaredDead
from ring.core.narrate import describe
from ring.testing.machine import RingMachine

__all__ = ["Figures", "FuzzResult", "fuzz"]

ROUND_EXAMPLES = 25  # examples per round: progress is shown and the time limit checked between rounds


@dataclass
class Figures:
    """Seconds of simulated time from a crash to each milestone, one entry per crash measured."""

    detect: list[float] = field(default_factory=list)
    reform: list[float] = field(default_factory=list)
    redundant: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, tuple[float, float, int]]:
        """milestone -> (p50, p99, how many crashes)."""
        out = {}
        for name in ("detect", "reform", "redundant"):
            values = sorted(getattr(self, name))
            if values:
                out[name] = (_quantile(values, 0.50), _quantile(values, 0.99), len(values))
        return out


def _quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


@dataclass
class FuzzResult:
    examples: int
    steps: int
    seconds: float
    figures: Figures
    violation: str = ""  # the assertion and the ring's state; "" when the promise held
    transcript: list[str] = field(default_factory=list)  # the shortest failing schedule, narrated
    replay: str = ""  # the arguments that replay the failing round
    steps_text: str = ""  # the failing schedule as Python (state.rule(...) lines), from Hypothesis


def _machine(order: tuple[str, ...], core: CoreSettings, figures: Figures, counters: dict[str, int],
             last: list[list[str]]) -> type[RingMachine]:
    class FuzzMachine(RingMachine):
        instance_names = order
        core_settings = core

        @initialize(size=st.just(len(order)))
        def start(self, size: int) -> None:
            self._crashed: tuple[str, float] | None = None
            self._milestones: dict[str, float] = {}
            super().start(size)
            ticks = self.sim.tick_all

            def tick_all() -> None:
                ticks()
                self._measure()

            self.sim.tick_all = tick_all  # type: ignore[method-assign]
            # RingMachine's rules are kept as they are (a method of the same name would replace
            # a rule): a crash is seen where it happens, in the simulator
            kill = self.sim.crash

            def crash(name: str) -> None:
                clean = self.sim.nodes.get(name) is not None and self.sim.node(name).left
                kill(name)
                if not clean:  # a clean stop's exit is not a failure to measure
                    counters["crashes"] += 1
                    self._crashed, self._milestones = (name, self.sim.now), {}

            self.sim.crash = crash  # type: ignore[method-assign]

        def saw_effect(self, name: str, effect: Effect) -> None:
            super().saw_effect(name, effect)
            line = describe(name, effect)
            if line:
                self.sim.note(f"{name}: {line}")
            if (self._crashed and isinstance(effect, PeerDeclaredDead) and effect.peer == self._crashed[0]
                    and "detect" not in self._milestones):
                self._milestones["detect"] = self.sim.now - self._crashed[1]

        def observe(self) -> None:
            counters["steps"] += 1
            super().observe()

        def _measure(self) -> None:
            if self._crashed is None:
                return
            victim, at = self._crashed
            live = self.running()
            if not live:
                return
            statuses = [self.sim.node(n).inspect(self.sim.now) for n in live]
            if "reform" not in self._milestones and all(victim not in s.alive for s in statuses):
                self._milestones["reform"] = self.sim.now - at
            if "reform" in self._milestones and all(s.unredundant == 0 for s in statuses):
                self._milestones["redundant"] = self.sim.now - at
                for name, value in self._milestones.items():
                    getattr(figures, name).append(value)
                self._crashed = None

        def teardown(self) -> None:
            counters["examples"] += 1
            if hasattr(self, "sim"):
                last[:] = [list(self.sim.transcript)]
            super().teardown()

    return FuzzMachine


def fuzz(order: tuple[str, ...], core: CoreSettings, *, examples: int, seed: int, minutes: float | None,
         shrink: bool = True, progress: Callable[[int, int, float], None] = lambda examples, steps, seconds: None) -> FuzzResult:
    """Run until `examples` examples ran, `minutes` passed (when given), or the promise broke."""
    figures = Figures()
    counters = {"examples": 0, "steps": 0, "crashes": 0}
    last: list[list[str]] = [[]]
    started = time.monotonic()
    machine = _machine(order, core, figures, counters, last)
    round_no = 0
    while counters["examples"] < examples:
        if minutes is not None and time.monotonic() - started >= minutes * 60:
            break
        round_seed = seed + round_no
        round_no += 1
        batch = min(ROUND_EXAMPLES, examples - counters["examples"])
        try:
            run_state_machine_as_test(hypothesis_seed(round_seed)(machine), settings=settings(
                max_examples=batch, stateful_step_count=100, deadline=None, derandomize=False,
                database=None, print_blob=False, report_multiple_bugs=False,
                phases=list(Phase) if shrink else [p for p in Phase if p is not Phase.shrink],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]))
        except Exception as failure:  # an assertion, or an error raised inside the ring: both break it
            return FuzzResult(counters["examples"], counters["steps"], time.monotonic() - started, figures,
                              violation=f"{type(failure).__name__}: {failure}", transcript=last[0],
                              steps_text="\n".join(getattr(failure, "__notes__", [])),
                              replay=f"--seed {round_seed} --examples {batch}" + ("" if shrink else " --no-shrink"))
        progress(counters["examples"], counters["steps"], time.monotonic() - started)
    return FuzzResult(counters["examples"], counters["steps"], time.monotonic() - started, figures)
