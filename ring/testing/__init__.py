"""ring.testing: test your ring without processes, sockets or clocks (a public API, pinned by
tests/test_testing_api.py).

    sim           SimCluster: pure nodes on a manual clock and a network the test drives, with
                  named faults (drop, duplicate, delay, cut, isolate, heal, crash, pause, resume,
                  restart); Envelope, ClientOp, TICK
    stories       the iPlanet stories as scenario scripts with golden transcripts (SCENARIOS,
                  run_scenario; `ring simulate` prints them)
    actors        the people of the stories: Browser (a user of the demo app), the cast, the balancer
    checks        looking at a simulated ring: status, role, holders, settled, wait, ...
    model         the plain dict model of committed writes and the failure budget (no Hypothesis)
    machine       RingMachine, the Hypothesis state machine (needs the `testing` extra:
                  pip install 'ring-sessions[testing]'); subclass it to add your own rules

A property test of your own, in a few lines (Hypothesis chooses every delivery, loss, crash):

    from ring.testing.machine import RingMachine

    class MyRing(RingMachine):
        instance_names = "abc"           # rings of 2..3 instances

    TestMyRing = MyRing.TestCase

Importing ring.testing never imports Hypothesis; only ring.testing.machine does.
"""

from ring.testing.sim import TICK, ClientOp, Envelope, SimCluster
from ring.testing.stories import DEFAULT_ORDER, SCENARIOS, Scenario, run_scenario

__all__ = [
    "DEFAULT_ORDER", "SCENARIOS", "TICK", "ClientOp", "Envelope", "Scenario", "SimCluster", "run_scenario",
]
