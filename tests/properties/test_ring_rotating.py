"""The ring machine on a seed that changes every day: new schedules in every day's CI (issue 9).

The `ci` profile replays the same schedules every run (derandomized); this test draws its own
from RING_PROPERTY_SEED (tests/conftest.py: the day's date unless given; random with
RING_ROTATING=1), RING_ROTATING_EXAMPLES of them (150 in CI, 2000 in make test-long).
A failure prints the seed and Hypothesis's `@reproduce_failure` blob; replay the whole run with
`RING_PROPERTY_SEED=N .venv/bin/python -m pytest tests/properties/test_ring_rotating.py`.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, seed, settings
from hypothesis.stateful import run_state_machine_as_test

from ring.testing.machine import RingMachine

SEED = int(os.environ["RING_PROPERTY_SEED"])
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
