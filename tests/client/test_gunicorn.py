"""A real deployment on loopback: 2 hosts, each a `ring serve` daemon and `gunicorn -w 3 --preload`
of examples/flask_app (or examples/django_app) on its socket. kill -9 one host (daemon and workers): its users, sent to the
other host, are still logged in with every acknowledged update; the host comes back: it serves
them again. Then kill -9 only a daemon: its gunicorn workers answer 503 and reconnect by themselves
when it restarts.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from daemons import DEADLINE, Browser, Ring, WebServer  # noqa: E402

from ring.drill.cluster import poll  # noqa: E402

pytest.importorskip("gunicorn")
pytest.importorskip("flask")
pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


APPS = {"flask": "examples.flask_app.app:app", "django": "examples.django_app.wsgi:application"}


class Gunicorn(WebServer):
    def __init__(self, app: str, socket_path: str, log: Path) -> None:
        super().__init__(
            [sys.executable, "-m", "gunicorn", "-w", "3", "--preload", "-b", "127.0.0.1:{port}", APPS[app]],
            {"RING_SOCKET": socket_path, "FLASK_SECRET_KEY": "test-key", "DJANGO_SECRET_KEY": "test-key",
             "DJANGO_SETTINGS_MODULE": "examples.django_app.settings"}, log, "/whoami")


@pytest.mark.parametrize("app", ["flask", "django"])
def test_gunicorn_workers_keep_users_logged_in_through_a_host_failure(app: str) -> None:
    if app == "django":
        pytest.importorskip("django")
    with Ring(("a", "b")) as ring:
        web: dict[str, Gunicorn] = {}
        try:
            web = {i: Gunicorn(app, ring.socket(i), ring.dir / f"gunicorn-{i}.log") for i in ("a", "b")}
            users = [Browser() for _ in range(3)]
            acked = []
            for n, user in enumerate(users):
                assert user.call(web["a"].port, "POST", f"/login?user=u{n}")[0] == 200
                count = 0
                for _ in range(4):  # spread over the 3 workers of host a
                    status, body = user.call(web["a"].port, "POST", "/incr")
                    assert status == 200, body
                    count = body["count"]
                acked.append(count)

            ring.kill("a")  # host a dies: its daemon and its workers
            web["a"].kill()

            def served_on_b(user: Browser) -> bool:
                status, body = user.call(web["b"].port, "GET", "/whoami")
                return status == 200 and body["user"] is not None

            for n, user in enumerate(users):
                assert poll(lambda user=user: served_on_b(user), DEADLINE), ring.log("b")
                body = user.call(web["b"].port, "GET", "/whoami")[1]
                assert (body["user"], body["count"]) == (f"u{n}", acked[n])  # nothing acknowledged lost

            ring.start("a")  # host a comes back
            web["a"] = Gunicorn(app, ring.socket("a"), ring.dir / "gunicorn-a2.log")
            status, body = users[0].call(web["a"].port, "POST", "/incr")
            assert status == 200 and body["count"] == acked[0] + 1 and body["user"] == "u0"

            ring.kill("b")  # only the daemon of host b: its workers stay up
            status, _ = users[1].call(web["b"].port, "GET", "/whoami")
            assert status == 503 if app == "flask" else status >= 500  # Django: its 500 page
            ring.start("b")
            assert poll(lambda: users[1].call(web["b"].port, "GET", "/whoami")[0] == 200, DEADLINE)
            assert users[1].call(web["b"].port, "GET", "/whoami")[1]["user"] == "u1"
        finally:
            for g in web.values():
                g.kill()
