"""Shared test configuration: Hypothesis profiles and the `--run-slow` switch.

Profiles (pick with RING_HYPOTHESIS_PROFILE; `ci` when unset):

    dev   a quick look while editing (seconds)
    ci    what `make test` runs: ~2 minutes for tests/properties on 2 cores, the same schedules every run
    long  ten times ci, for `make test-long`

Deadlines are off: the simulated cluster's run time depends on the schedule Hypothesis picks, and
a slow example is not a wrong one. `ci` is derandomized so CI is deterministic (the same schedules
every run); `long` draws random seeds to explore new schedules, and `print_blob` makes every
failure print a `@reproduce_failure` line that replays it.

In addition to the fixed `ci` schedules, tests/properties/test_ring_rotating.py explores new
ones from the seed RING_PROPERTY_SEED, printed in the report header (a failure prints it too):
`RING_PROPERTY_SEED=N make test` replays a run. Unset, the seed is the day's (the UTC date as
YYYYMMDD: every day's CI explores new schedules, and every run of one day the same ones, so a
failure found by CI replays by hand); with RING_ROTATING=1 (make test-long) it is drawn at random.
"""

from __future__ import annotations

import datetime
import os
import secrets

import pytest
from hypothesis import HealthCheck, settings

_COMMON = dict(
    deadline=None,
    derandomize=True,  # CI is reproducible; `long` explores with random seeds
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

settings.register_profile("dev", max_examples=20, stateful_step_count=30, **_COMMON)
settings.register_profile("ci", max_examples=400, stateful_step_count=100, **_COMMON)
settings.register_profile("long", max_examples=10000, stateful_step_count=100, **{**_COMMON, "derandomize": False})
settings.load_profile(os.environ.get("RING_HYPOTHESIS_PROFILE", "ci"))

if "RING_PROPERTY_SEED" not in os.environ:
    day = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d")
    os.environ["RING_PROPERTY_SEED"] = str(secrets.randbits(32)) if os.environ.get("RING_ROTATING") == "1" else day


def pytest_report_header(config: pytest.Config) -> str:
    return f"ring: rotating property seed RING_PROPERTY_SEED={os.environ['RING_PROPERTY_SEED']}"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run tests marked `slow` (long soaks)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
