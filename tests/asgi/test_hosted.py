"""`ring serve --asgi` with real processes on loopback: users stay logged in when an instance dies.

Two instances host tests/asgi/hosted_app.py:app (a Starlette app switched to ring.asgi by the
import) on uvicorn, with the engine on uvicorn's loop. A user logs in on a, a is killed -9, and the
same browser is still logged in on b, which adopts the session from its backup copy. Then a drain:
a request in flight when SIGTERM arrives still finishes and saves, and the process exits 0.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("starlette")
pytest.importorskip("websockets")

sys.path.insert(0, str(Path(__file__).parent))
from asgi_helpers import AsgiCluster  # noqa: E402
from integration_helpers import DEADLINE, Browser, assert_no_tracebacks, wait_for, write_config  # noqa: E402

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent


def cluster(tmp_path: Path, ids: tuple[str, ...], **env: str) -> AsgiCluster:
    return AsgiCluster(write_config(tmp_path, ids), tmp_path / "run", app="hosted_app:app", app_dir=HERE, **env)


def websocket_user(base_url: str, user: Browser) -> str | None:
    from websockets.sync.client import connect

    cookie = "; ".join(f"{k}={v}" for k, v in user.cookies.items())
    with connect(base_url.replace("http://", "ws://") + "/ws", additional_headers={"Cookie": cookie},
                 open_timeout=DEADLINE) as socket:
        seen: str | None = json.loads(socket.recv(timeout=DEADLINE))["user"]
        return seen


def test_a_user_stays_logged_in_when_the_instance_is_killed(tmp_path: Path) -> None:
    with cluster(tmp_path, ("a", "b")) as c:
        c.start_all(timeout=DEADLINE)
        wait_for(c.ring_healed, "the ring a -> b to form")
        a, b = c.instances["a"].url, c.instances["b"].url
        user = Browser()
        assert user.json(a, "POST", "/login?user=zoe")["instance"] == "a"
        assert [user.json(a, "POST", "/incr")["count"] for _ in range(3)] == [1, 2, 3]
        status, body = user.request(a, "GET", "/stream")
        assert status == 200 and body == b"0\n1\n2\n3\n4\n"
        assert set(user.cookies) == {"session", "CLUSTERSESSIONLOCATOR"}
        assert websocket_user(a, user) == "zoe"

        c.kill("a")
        seen = user.json(b, "GET", "/whoami")
        assert seen == {"user": "zoe", "instance": "b"}
        assert user.json(b, "POST", "/incr")["count"] == 4  # no acknowledged write lost
    assert_no_tracebacks(c)


def test_sigterm_drains_a_request_in_flight(tmp_path: Path) -> None:
    mark = tmp_path / "slow-started"
    with cluster(tmp_path, ("solo",), RING_TEST_MARK=str(mark)) as c:
        c.start_all(timeout=DEADLINE)
        url = c.instances["solo"].url
        user = Browser()
        user.json(url, "POST", "/login?user=yan")
        result: dict[str, Any] = {}
        def post_slow() -> None:
            result["status"], result["body"] = user.request(url, "POST", "/slow")

        slow = threading.Thread(target=post_slow)
        slow.start()
        wait_for(mark.exists, "the slow request to start")
        proc = c.instances["solo"].proc
        assert proc is not None
        proc.send_signal(signal.SIGTERM)
        slow.join(DEADLINE)
        assert result.get("status") == 200, result
        assert proc.wait(DEADLINE) == 0
    assert_no_tracebacks(c)
