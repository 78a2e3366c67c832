"""The drill's background loops, status watcher, progress line and status client, in process.

No instance runs here: the cluster is a stand-in whose status answers are scripted, and the one
status query goes to a loopback port nobody listens on.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from ring.config import ClusterConfig
from ring.drill.checker import FAILED, INCR, INDETERMINATE, OK, READ, Op
from ring.drill.cluster import StatusWatcher, free_port, poll
from ring.drill.configs import fast_settings, local_copy, write_config
from ring.drill.hygiene import Repeating
from ring.drill.ui import status_line
from ring.errors import TransportError
from ring.io.statusclient import collect, instance_status, unreachable_row
from ring.serverxml import load_server_xml


def alive(name: str, incarnation: int, unreplicated: int) -> dict[str, Any]:
    return {**unreachable_row(name, f"127.0.0.1:{incarnation}"), "state": "alive", "incarnation": incarnation,
            "unreplicated_writes": unreplicated}


class ScriptedCluster:
    """Answers `status()` from a script: a list of rows is returned, an exception raised."""

    def __init__(self, *answers: list[dict[str, Any]] | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0
        self.lock = threading.Lock()

    def status(self, timeout: float = 1.0) -> list[dict[str, Any]]:
        with self.lock:
            self.calls += 1
            answer = self.answers[min(self.calls, len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_an_expected_error_is_logged_at_debug_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    steps: list[int] = []

    def step() -> None:
        steps.append(len(steps))
        if len(steps) == 1:
            raise OSError("tls file unreadable")

    loop = Repeating("test-loop", step, 0.01, expected=(OSError,), immediately=True)
    with caplog.at_level(logging.DEBUG, logger="ring.drill"):
        loop.start()
        assert poll(lambda: len(steps) >= 3, 10.0), steps
        loop.stop(5.0)
    assert any("tls file unreadable" in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records)


def test_an_unexpected_error_ends_the_loop_and_stop_raises_it() -> None:
    steps: list[int] = []

    def step() -> None:
        steps.append(1)
        raise KeyError("a bug")

    loop = Repeating("test-loop", step, 0.01, expected=(OSError,), immediately=True)
    loop.start()
    assert poll(lambda: loop.failure is not None, 10.0)
    with pytest.raises(KeyError, match="a bug"):
        loop.stop(5.0)
    assert steps == [1]  # the loop ended at the bug
    loop.stop(5.0)  # raised once: stopping again is quiet


def test_a_loop_that_is_not_immediate_waits_one_interval_first() -> None:
    steps: list[int] = []
    loop = Repeating("test-loop", lambda: steps.append(1), 60.0)
    loop.start()
    loop.stop(5.0)
    assert steps == []


def test_the_watcher_keeps_the_most_unreplicated_writes_of_each_process() -> None:
    cluster = ScriptedCluster([alive("a", 1, 3), alive("b", 1, 0)], [alive("a", 1, 1), alive("b", 1, 2)],
                              [alive("a", 2, 4), unreachable_row("b", "127.0.0.1:2")])
    watcher = StatusWatcher(cluster, interval=60.0)  # type: ignore[arg-type]
    for _ in range(3):
        watcher.poll_once()
    assert watcher.unreplicated == 3 + 2 + 4  # a's first process, b, a's second process
    assert [r["state"] for r in watcher.rows] == ["alive", "unreachable"]


def test_the_watcher_polls_through_an_oserror_and_raises_a_bug_when_stopped() -> None:
    rows = [alive("a", 1, 0)]
    cluster = ScriptedCluster(OSError("tls file unreadable"), rows, rows, ValueError("a bug"))
    watcher = StatusWatcher(cluster, interval=0.01)  # type: ignore[arg-type]
    watcher.start()
    assert poll(lambda: cluster.calls >= 4, 10.0)
    assert watcher.rows == rows
    with pytest.raises(ValueError, match="a bug"):
        watcher.stop()


def op(outcome: str, kind: str = INCR) -> Op:
    return Op(user=0, kind=kind, invoke=0.0, complete=0.1, outcome=outcome,
              count=1 if outcome == OK else None)


def test_the_status_line_counts_outcomes_and_brackets_the_unreachable() -> None:
    history = [op(OK), op(OK, READ), op(FAILED), op(INDETERMINATE)]
    rows = [alive("a", 1, 0), unreachable_row("b", "127.0.0.1:2"), alive("c", 1, 0)]
    line = status_line(elapsed=12.34, duration=30, phase="kill -9 b; revive in 4.1", faults=1, history=history,
                       rows=rows)
    assert line == (" 12.3/30 s | kill -9 b; revive in 4.1 | faults 1 | ok 2 fail 1 indet 1 | a [b] c")


def a_ring_nobody_serves(tmp_path: Path) -> ClusterConfig:
    """Two instances on free loopback ports (the placeholders of write_config may be in use)."""
    template = write_config(tmp_path / "template.xml", ("a", "b"), fast_settings(1.0, 0.25))
    local_copy(str(template), tmp_path / "ring.xml")
    return load_server_xml(str(tmp_path / "ring.xml"))


def test_an_instance_that_does_not_answer_is_a_transport_error_and_an_unreachable_row(tmp_path: Path) -> None:
    config = a_ring_nobody_serves(tmp_path)
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(TransportError, match=f"instance a at {address}"):
        instance_status("a", address, None, 0.3)
    rows = collect(config, 0.3)
    assert [r["state"] for r in rows] == ["unreachable", "unreachable"]
    assert rows[0] == unreachable_row("a", config.instance("a").address)


def test_the_printed_status_line_keeps_the_brackets_of_a_down_instance() -> None:
    from rich.console import Console

    from ring.drill.ui import Progress

    console = Console(record=True, width=200, force_terminal=False)
    progress = Progress(console, lambda p: f"{p.phase} | a [b] c")
    progress._print_line()
    assert console.export_text().strip() == "starting | a [b] c"
