"""ring.testing is a public API (DESIGN.md 8): users write property tests of their ring with it.

Adding, removing or changing a name or a signature here is a decision, made in this file. The
fault methods keep their behaviour too: each has a test below.
"""

from __future__ import annotations

import importlib
import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from hypothesis import settings
from hypothesis.stateful import rule, run_state_machine_as_test

import ring
import ring.testing
from ring.testing import TICK, SimCluster
from ring.testing import sim as sim_module
from ring.testing.machine import RingMachine

SIGNATURES = {
    # the network
    "deliver": "(self, index: 'int') -> 'None'",
    "deliver_all": "(self, max_rounds: 'int' = 10000) -> 'None'",
    "deliverable": "(self) -> 'list[int]'",
    "drop": "(self, index: 'int') -> 'None'",
    "duplicate": "(self, index: 'int') -> 'None'",
    "delay": "(self, index: 'int') -> 'None'",
    "cut": "(self, a: 'str', b: 'str', both: 'bool' = True) -> 'None'",
    "cut_link": "(self, a: 'str', b: 'str', both: 'bool' = True) -> 'None'",
    "isolate": "(self, name: 'str') -> 'None'",
    "heal": "(self) -> 'None'",
    # instances
    "crash": "(self, name: 'str') -> 'None'",
    "pause": "(self, name: 'str') -> 'None'",
    "resume": "(self, name: 'str') -> 'None'",
    "restart": "(self, name: 'str') -> 'None'",
    "node": "(self, name: 'str') -> 'Node'",
    "live": "(self) -> 'list[str]'",
    "feed": "(self, name: 'str', event: 'Input') -> 'None'",
    # time
    "tick_all": "(self) -> 'None'",
    "advance": "(self, seconds: 'float') -> 'None'",
    "run": "(self, seconds: 'float') -> 'None'",
    "run_until": "(self, done: 'Callable[[], bool]', timeout: 'float') -> 'bool'",
    # clients and reporting
    "request": "(self, kind: 'str', node: 'str', session_id: 'str', hint: 'tuple[str, str]' = ('', ''), "
               "payload: 'bytes' = b'', *, lifetime: 'float | None' = None) -> 'ClientOp'",
    "note": "(self, line: 'str') -> 'None'",
    "ring_summary": "(self) -> 'str'",
}


def test_the_exported_names_are_pinned() -> None:
    assert sorted(ring.testing.__all__) == sorted([
        "DEFAULT_ORDER", "SCENARIOS", "TICK", "ClientOp", "Envelope", "Scenario", "SimCluster", "run_scenario",
    ])
    for name in ring.testing.__all__:
        assert hasattr(ring.testing, name), name


def test_simcluster_methods_and_signatures_are_pinned() -> None:
    public = {name: str(inspect.signature(method))
              for name, method in inspect.getmembers(SimCluster, inspect.isfunction) if not name.startswith("_")}
    assert public == SIGNATURES
    assert str(inspect.signature(SimCluster)) == (
        "(names: 'list[str] | tuple[str, ...]', settings: 'CoreSettings | None' = None, *, "
        "start: 'float' = 1000.0, wall_offset: 'float' = 1700000000.0) -> 'None'")
    assert TICK == 0.05


def test_every_public_method_and_module_is_documented() -> None:
    for name in SIGNATURES:
        assert inspect.getdoc(getattr(SimCluster, name)), f"SimCluster.{name} has no docstring"
    assert inspect.getdoc(SimCluster) and inspect.getdoc(ring.testing.Envelope) and inspect.getdoc(ring.testing.ClientOp)
    for name in ("sim", "stories", "actors", "checks", "model", "machine"):
        module = importlib.import_module(f"ring.testing.{name}")
        assert (module.__doc__ or "").strip(), f"ring.testing.{name} has no docstring"


def test_the_example_in_the_simulator_docstring_runs() -> None:
    doc = sim_module.__doc__ or ""
    block = doc.split("Driving it:\n", 1)[1].split("\n\n", 1)[0]
    code = textwrap.dedent(block)
    assert "SimCluster(" in code and "crash" in code
    exec(code, {"SimCluster": SimCluster})  # its asserts are the example's claims


def _formed(*names: str) -> SimCluster:
    sim = SimCluster(list(names))
    sim.run(1.0)
    return sim


# ------------------------------------------------------------------ the fault methods


def test_delay_moves_a_message_behind_everything_in_flight() -> None:
    sim = _formed("a", "b", "c")
    sim.advance(3 * TICK)  # pings queue up, nothing is delivered
    before = list(sim.in_flight)
    assert len(before) >= 3
    sim.delay(0)
    assert sim.in_flight == before[1:] + before[:1]
    delivered = []
    while ready := sim.deliverable():
        delivered.append(sim.in_flight[ready[0]])
        sim.deliver(ready[0])
    originals = [e for e in delivered if any(e is b for b in before)]
    assert originals[-1] is before[0], "the delayed message was not delivered after every other one"


def test_a_one_way_cut_silences_one_direction_until_healed() -> None:
    sim = _formed("a", "b")
    sim.cut("a", "b", both=False)
    sim.in_flight.clear()
    sim.advance(1.0)
    links = {(e.src, e.dst) for e in sim.in_flight}
    assert ("a", "b") not in links and ("b", "a") in links
    sim.run(4 * sim.settings.failure_timeout)  # b hears nothing from a: a is dead to b
    assert "a" not in sim.node("b").inspect(sim.now).alive
    sim.heal()
    sim.in_flight.clear()
    sim.advance(1.0)
    assert ("a", "b") in {(e.src, e.dst) for e in sim.in_flight}


def test_cut_is_both_ways_by_default_and_cut_link_is_its_old_name() -> None:
    assert SimCluster.cut_link is SimCluster.cut
    sim = _formed("a", "b", "c")
    sim.cut_link("a", "b")
    sim.in_flight.clear()
    sim.advance(1.0)
    links = {(e.src, e.dst) for e in sim.in_flight}
    assert not links & {("a", "b"), ("b", "a")} and {("a", "c"), ("c", "b")} <= links


def test_isolate_cuts_every_link_of_one_instance() -> None:
    sim = _formed("a", "b", "c")
    sim.isolate("a")
    sim.in_flight.clear()
    sim.advance(1.0)
    assert all("a" not in (e.src, e.dst) for e in sim.in_flight)
    assert sim.in_flight


def test_drop_and_duplicate() -> None:
    sim = _formed("a", "b")
    sim.advance(1.0)
    first, count = sim.in_flight[0], len(sim.in_flight)
    sim.duplicate(0)
    assert len(sim.in_flight) == count + 1 and sim.in_flight[-1] is first and sim.in_flight[0] is first
    sim.drop(0)
    assert len(sim.in_flight) == count and sim.in_flight[-1] is first


def test_crash_restart_pause_resume() -> None:
    sim = _formed("a", "b", "c")
    incarnation = sim.node("a").incarnation
    sim.pause("b")
    assert sim.live() == ["a", "c"]
    sim.advance(1.0)
    assert any(e.dst == "b" for e in sim.in_flight) and all(sim.in_flight[i].dst != "b" for i in sim.deliverable())
    sim.resume("b")
    sim.crash("a")
    assert sim.nodes["a"] is None and all("a" not in (e.src, e.dst) for e in sim.in_flight)
    assert sim.request("read", "a", "s1").reason == "instance down"
    sim.restart("a")
    assert sim.node("a").incarnation > incarnation and not sim.node("a").copies()
    assert sim.run_until(lambda: "a" in sim.node("c").inspect(sim.now).alive, 10.0)


# ------------------------------------------------------------------ Hypothesis stays optional


def test_ring_testing_imports_without_hypothesis() -> None:
    code = textwrap.dedent("""
        import sys

        class NoHypothesis:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "hypothesis":
                    raise ImportError("hypothesis is not installed (blocked)")
                return None

        sys.meta_path.insert(0, NoHypothesis())
        import ring.testing, ring.testing.model, ring.testing.checks, ring.testing.actors
        assert not any(m.split(".")[0] == "hypothesis" for m in sys.modules), "hypothesis was imported"
        assert ring.testing.run_scenario("normal-ring")
        try:
            import ring.testing.machine
        except ImportError:
            print("machine needs hypothesis")
        else:
            raise SystemExit("ring.testing.machine imported without hypothesis")
    """)
    root = Path(ring.__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "machine needs hypothesis"


# ------------------------------------------------------------------ RingMachine is made to be extended


class ThreeAtMost(RingMachine):
    instance_names = "xyz"
    seen: list[tuple[tuple[str, ...], object]] = []

    @rule()
    def look(self) -> None:
        ThreeAtMost.seen.append((self.sim.names, self.sim.settings))


def test_a_subclass_sets_names_and_settings_and_adds_rules() -> None:
    ThreeAtMost.seen.clear()
    run_state_machine_as_test(ThreeAtMost, settings=settings(
        max_examples=10, stateful_step_count=10, deadline=None, derandomize=True, database=None))
    assert ThreeAtMost.seen, "the added rule never ran"
    assert {names for names, _ in ThreeAtMost.seen} <= {("x", "y"), ("x", "y", "z")}
    assert all(used is RingMachine.core_settings for _, used in ThreeAtMost.seen)
