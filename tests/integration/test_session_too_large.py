"""Issue 3, story 7: a session over max-session-size is refused with a clear 500, and nothing is lost."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from integration_helpers import DEADLINE, Browser, assert_no_tracebacks, by_id, wait_for, write_config

from ring.drill.cluster import LocalCluster

pytestmark = pytest.mark.integration

LIMIT = 2048
HERE = Path(__file__).resolve().parent


def test_too_large_session_is_refused_and_the_previous_value_survives(tmp_path: Path) -> None:
    config = write_config(tmp_path, ("a", "b"), max_session_size=str(LIMIT))
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    with LocalCluster(config, tmp_path / "run", app="bigsession_app:app", env={"PYTHONPATH": path}) as c:
        c.start_all(DEADLINE)
        wait_for(c.ring_healed, "the ring a -> b to form")
        a, b = c.instances["a"].url, c.instances["b"].url
        user = Browser()
        small = "s" * 100
        assert user.json(a, "POST", "/put", small.encode()) == {"stored": 100}

        status, body = user.request(a, "POST", "/put", b"L" * (LIMIT + 1))
        assert status == 500 and body == b"session too large\n", (status, body)

        assert user.json(a, "GET", "/get") == {"blob": small}
        assert by_id(c.status())["b"]["backups"] == {"a": 1}
        assert user.json(b, "GET", "/get") == {"blob": small}  # the backup had the same value
    assert_no_tracebacks(c)
