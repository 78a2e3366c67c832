"""Issue 10 with real processes: SIGTERM hands the instance's sessions over and tells the peers.

The failure timeout is long here (8 s), so a ring that re-forms within a few seconds of the
signal can only have learnt it from the leave, not from failure detection.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from integration_helpers import DEADLINE, Browser, assert_no_tracebacks, by_id, wait_for, write_config

from ring.drill.cluster import LocalCluster

pytestmark = pytest.mark.integration

FAILURE_TIMEOUT = 8.0


def test_sigterm_hands_over_every_session_and_the_peers_know_at_once(tmp_path: Path) -> None:
    config = write_config(tmp_path, ("a", "b", "c"), failure_timeout=str(FAILURE_TIMEOUT),
                          ping_interval="0.5", request_timeout="12")
    with LocalCluster(config, tmp_path / "run") as c:
        c.start_all(DEADLINE)
        wait_for(c.ring_healed, "the ring to form")
        users = []
        for k in range(6):
            b = Browser()
            for _ in range(k + 1):
                count = b.incr(c.instances["b"].url)
            users.append((b, count))
        signalled = time.monotonic()
        assert c.terminate("b", timeout=FAILURE_TIMEOUT) == 0
        took = time.monotonic() - signalled

        def reformed() -> bool:
            rows = by_id(c.status(0.5))
            return rows["a"]["successor"] == "c" and rows["c"]["successor"] == "a"

        wait_for(reformed, "a and c to re-form the ring without b", timeout=FAILURE_TIMEOUT / 2)
        assert time.monotonic() - signalled < FAILURE_TIMEOUT, f"stop took {took:.1f} s"
        # every user finds the latest count at the instances left, and nothing is an orphan
        for k, (b, count) in enumerate(users):
            assert b.count(c.instances["ac"[k % 2]].url) == count

        def redundant() -> bool:
            rows = by_id(c.status(0.5))
            return (not any(rows[n]["orphans"] for n in "ac")
                    and sum(rows[n]["primaries"] for n in "ac") == sum(
                        sum(rows[n]["backups"].values()) for n in "ac"))

        wait_for(redundant, "every session to have a primary and a backup again")
        events = c.events()
        assert [e["peers_told"] for e in events if e["instance"] == "b" and e["event"] == "left"] == [["a", "c"]]
        for peer in "ac":
            declared = [e for e in events if e["instance"] == peer and e["event"] == "declared_dead"]
            assert [(e["peer"], e["left"]) for e in declared] == [("b", True)], declared
    assert_no_tracebacks(c)
