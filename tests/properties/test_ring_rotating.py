"""The ring machine on a seed that changes every run: new schedules every day, as issue 9 asks.

The `ci` profile replays the same schedules every run (derandomized); this test draws its own
from RING_PROPERTY_SEED (tests/conftest.py draws one when unset and prints it in the header).
A failure prints the seed and Hypothesis's `@reproduce_failure` blob; replay the whole run with
`RING_PROPERTY_SEED=N .venv/bin/python -m pytest tests/properties/test_ring_rotating.py`.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, seed, settings
from hypothesis.stateful import run_state_machine_as_test

from ring.testing.machine import RingMachine

SEED = int(os.environ["RING_PROPERTY_SEED"])
pytestmark = pytest.mark.skipif(
    not (os.environ.get("RING_ROTATING") == "1" or os.environ.get("RING_PROPERTY_SEED_GIVEN") == "1"),
    reason="new schedules on a changing seed: RING_ROTATING=1 (make test-long) or RING_PROPERTY_SEED=N")
EXAMPLES = int(os.environ.get("RING_ROTATING_EXAMPLES", "150"))


@seed(SEED)
class RotatingRing(RingMachine):
    """RingMachine unchanged, on this run's seed."""


def test_the_ring_on_this_runs_seed() -> None:
    print(f"rotating property seed: RING_PROPERTY_SEED={SEED} ({EXAMPLES} examples)")
    try:
        run_state_machine_as_test(RotatingRing, settings=settings(
            max_examples=EXAMPLES, stateful_step_count=100, deadline=None, derandomize=False,
            database=None, print_blob=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]))
    except BaseException as exc:
        exc.add_note(f"reproduce with RING_PROPERTY_SEED={SEED}")
        raise
