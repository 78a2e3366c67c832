"""A real deployment of examples/fastapi_app on uvicorn workers, on loopback: 3 hosts, each a
`ring serve` daemon and `gunicorn -k uvicorn_worker.UvicornWorker -w 3 --preload` (or
`uvicorn --workers 3`) of the app, whose SessionMiddleware reaches the daemon through
RING_SOCKET (the async local client, made in each worker after the fork).

Users log in and count visits through every host; kill -9 one host (daemon and workers): its users,
sent to the other hosts, are still logged in and no acknowledged visit is lost; the host comes back,
rejoins the ring and serves them again. Then kill -9 only a daemon: its workers answer 503 and
reconnect by themselves when it restarts.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "client"))
from daemons import DEADLINE, Browser, Ring, WebServer  # noqa: E402

from ring.drill.cluster import poll  # noqa: E402

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
APP = "examples.fastapi_app.app:app"
HOSTS = ("a", "b", "c")


def server_argv(kind: str) -> list[str]:
    if kind == "gunicorn":
        return [sys.executable, "-m", "gunicorn", "-k", "uvicorn_worker.UvicornWorker", "-w", "3", "--preload",
                "-b", "127.0.0.1:{port}", "--graceful-timeout", "2", APP]
    return [sys.executable, "-m", "uvicorn", "--workers", "3", "--host", "127.0.0.1", "--port", "{port}",
            "--no-access-log", "--timeout-graceful-shutdown", "2", APP]


class Workers(WebServer):
    """The web server of one host: a master and 3 uvicorn workers, in a process group of their own."""

    def __init__(self, kind: str, socket_path: str, log: Path) -> None:
        # up: served, the daemon reached, nobody logged in
        super().__init__(server_argv(kind), {"RING_SOCKET": socket_path, "SESSION_SECRET": "test-key"}, log,
                         "/me", 401)


@pytest.mark.parametrize("kind", ["gunicorn", "uvicorn"])
def test_uvicorn_workers_keep_users_logged_in_through_a_host_failure(kind: str) -> None:
    if kind == "gunicorn":
        pytest.importorskip("gunicorn")
        pytest.importorskip("uvicorn_worker")
    with Ring(HOSTS) as ring:
        web: dict[str, Workers] = {}
        try:
            web = {i: Workers(kind, ring.socket(i), ring.dir / f"web-{i}.log") for i in HOSTS}
            users = [Browser() for _ in range(3)]
            acked: list[int] = []
            for n, user in enumerate(users):
                status, body = user.call(web["a"].port, "POST", "/login",
                                         {"username": ("alice", "bob", "alice")[n],
                                          "password": ("wonderland", "builder", "wonderland")[n]})
                assert status == 200, body
                visits, pids = 0, set()
                for host in ("b", "c", "a", "b", "c", "a", "a", "a"):  # through every host, last on a
                    status, body = user.call(web[host].port, "POST", "/incr")
                    assert status == 200, body
                    assert body["visits"] == visits + 1 and body["instance"] == host, body
                    visits = body["visits"]
                    pids.add((host, body["pid"]))
                acked.append(visits)
            assert len(pids) > 3, pids  # served by several workers, not one per host

            ring.kill("a")  # host a dies: its daemon and its workers
            web["a"].kill()
            for n, user in enumerate(users):
                other = web["b" if n % 2 else "c"]
                assert poll(lambda user=user, other=other: user.call(other.port, "GET", "/me")[0] == 200,
                            DEADLINE), ring.log("b") + ring.log("c")
                status, body = user.call(other.port, "POST", "/incr")
                assert status == 200 and body["visits"] == acked[n] + 1, body  # no acknowledged visit lost
                acked[n] += 1

            ring.start("a")  # host a comes back and rejoins
            web["a"] = Workers(kind, ring.socket("a"), ring.dir / "web-a2.log")
            assert poll(ring.healed, DEADLINE), ring.log("a")
            for n, user in enumerate(users):
                status, body = user.call(web["a"].port, "POST", "/incr")
                assert status == 200 and body["visits"] == acked[n] + 1 and body["instance"] == "a", body
                acked[n] += 1

            ring.kill("b")  # only the daemon of host b: its workers stay up, answer 503, then reconnect
            status, _ = users[1].call(web["b"].port, "GET", "/me")
            assert status == 503
            ring.start("b")
            assert poll(lambda: users[1].call(web["b"].port, "GET", "/me")[0] == 200, DEADLINE)
            status, body = users[1].call(web["b"].port, "POST", "/incr")
            assert status == 200 and body == {**body, "user": "bob", "visits": acked[1] + 1}, body
            logs = {path.name: path.read_text() for path in ring.dir.glob("web-*.log")}
            assert not [name for name, text in logs.items() if "Traceback" in text], logs
        finally:
            for w in web.values():
                w.kill()
