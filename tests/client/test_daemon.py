"""ring.client against real `ring serve` daemons: a 2-instance ring, kill -9 one, restart it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from daemons import DEADLINE, Ring  # noqa: E402

from ring.client import RingClient  # noqa: E402
from ring.drill.cluster import poll  # noqa: E402
from ring.errors import RingError  # noqa: E402

pytestmark = pytest.mark.integration


def _replicated_save(client: RingClient, sid: str, base: int, data: bytes) -> int:
    """Save until the successor acknowledged one (right after start it may not be reachable yet)."""
    result = [client.save(sid, base, data)]

    def acked() -> bool:
        if not result[-1].replicated:
            result.append(client.save(sid, result[-1].version, data))
        return result[-1].replicated

    assert poll(acked, DEADLINE), "the successor never acknowledged"
    return result[-1].version


def test_a_session_survives_kill_9_of_its_daemon_and_the_client_reconnects_after_restart() -> None:
    with Ring(("a", "b")) as ring:
        on_a, on_b = RingClient(ring.socket("a")), RingClient(ring.socket("b"))
        sid = on_a.new_session_id()
        _replicated_save(on_a, sid, 0, b'{"user":"alice"}')
        ring.kill("a")

        def served_by_b() -> bool:
            try:
                return on_b.load(sid, None) is not None
            except RingError:
                return False

        assert poll(served_by_b, DEADLINE), ring.log("b")
        loaded = on_b.load(sid, None)
        assert loaded is not None and loaded.data == b'{"user":"alice"}' and loaded.locator.primary == "b"
        ring.start("a")

        def a_answers() -> bool:
            try:
                return on_a.load(sid, None) is not None  # the same client object, a new connection
            except RingError:
                return False

        assert poll(a_answers, DEADLINE), ring.log("a")
        assert "Traceback" not in ring.log("a") + ring.log("b")
