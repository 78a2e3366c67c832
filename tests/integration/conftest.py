"""The integration tests' fixtures (helpers live in integration_helpers)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from integration_helpers import DEADLINE, assert_no_tracebacks, wait_for, write_config

from ring.drill.cluster import LocalCluster


@pytest.fixture
def cluster4(tmp_path: Path) -> Iterator[LocalCluster]:
    """A started 4-instance ring a -> b -> c -> d hosting the demo app, each with an admin address."""
    config = write_config(tmp_path, admin=True)
    with LocalCluster(config, tmp_path / "run", python=sys.executable) as cluster:
        cluster.start_all(timeout=DEADLINE)
        wait_for(cluster.ring_healed, "the ring to form")
        yield cluster
    assert_no_tracebacks(cluster)
