"""The deployment of issue 12 end to end: 3 hosts on loopback, each a `ring serve` daemon plus
`gunicorn -w 3` of the example app (Flask, then Django), a real HAProxy in front (sticky cookie,
redispatch, health checks). Users log in and count through HAProxy; kill -9 the host most of them
are pinned to (daemon and workers): HAProxy sends them elsewhere, they are still logged in with
every acknowledged count; the host restarts and rejoins, and the counts go on."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from daemons import DEADLINE, Ring  # noqa: E402
from test_gunicorn import Browser, Gunicorn  # noqa: E402

from ring.drill.balancer import COOKIE  # noqa: E402
from ring.drill.cluster import poll  # noqa: E402
from ring.drill.haproxy import HAProxy  # noqa: E402

pytest.importorskip("gunicorn")
pytest.importorskip("flask")
HAPROXY = shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy",) if Path(p).exists()), None)
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed (scripts/install-system-deps)")]
HOSTS = ("a", "b", "c")


@pytest.mark.parametrize("app", ["flask", pytest.param("django", marks=pytest.mark.slow)])  # Django: test_gunicorn
def test_haproxy_in_front_of_gunicorn_hosts_through_a_host_failure(app: str) -> None:
    if app == "django":
        pytest.importorskip("django")
    with Ring(HOSTS) as ring:
        web: dict[str, Gunicorn] = {}
        try:
            web = {i: Gunicorn(app, ring.socket(i), ring.dir / f"gunicorn-{i}.log") for i in HOSTS}
            with HAProxy(ring.dir, {i: ("127.0.0.1", g.port) for i, g in web.items()},
                         check_path="/whoami") as lb:
                port = lb.address[1]
                users = [Browser() for _ in range(6)]
                acked = []
                for n, user in enumerate(users):
                    assert user.call(port, "POST", f"/login?user=u{n}")[0] == 200
                    for _ in range(3):
                        status, body = user.call(port, "POST", "/incr")
                        assert status == 200, body
                    acked.append(body["count"])
                homes = [user.cookies[COOKIE] for user in users]
                victim = max(HOSTS, key=homes.count)

                ring.kill(victim)  # the host dies: its daemon and its workers
                web.pop(victim).kill()
                for n, user in enumerate(users):  # HAProxy redispatches: nothing is lost
                    assert poll(lambda user=user: user.call(port, "GET", "/whoami")[0] == 200, DEADLINE), \
                        (lb.log_path.read_text(), [ring.log(i) for i in HOSTS if i != victim])
                    body = user.call(port, "GET", "/whoami")[1]
                    assert (body["user"], body["count"]) == (f"u{n}", acked[n]), (homes[n], victim)
                    status, body = user.call(port, "POST", "/incr")
                    assert status == 200 and body["count"] == acked[n] + 1, body
                    acked[n] += 1

                ring.start(victim)  # it comes back and rejoins
                web[victim] = Gunicorn(app, ring.socket(victim), ring.dir / f"gunicorn-{victim}-2.log")
                direct = Browser()
                direct.cookies = {k: v for k, v in users[0].cookies.items() if k != COOKIE}
                assert poll(lambda: direct.call(web[victim].port, "GET", "/whoami")[1].get("count") == acked[0],
                            DEADLINE), ring.log(victim)  # served by the rejoined host itself
                for n, user in enumerate(users):
                    status, body = user.call(port, "POST", "/incr")
                    assert status == 200 and (body["user"], body["count"]) == (f"u{n}", acked[n] + 1), body
        finally:
            for g in web.values():
                g.kill()
