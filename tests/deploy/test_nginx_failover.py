"""deploy/nginx/ring.conf with real nginx in front of a real 3-instance ring: kill -9 the user's
instance, the next request through nginx lands elsewhere and sees the session's latest state.

The recipe is used as committed; only its addresses are replaced (the upstream servers by the
instances' HTTP ports, `listen` by a free port). nginx runs in the foreground from a prefix in
tmp_path, and is stopped by its pid whatever happens. Skips when nginx is not installed
(scripts/install-system-deps nginx).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from integration_helpers import DEADLINE, Browser, assert_no_tracebacks, wait_for, write_config  # noqa: E402

from ring.drill.cluster import LocalCluster, free_port  # noqa: E402

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
RECIPE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "ring.conf"

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(NGINX is None, reason="nginx is not installed (scripts/install-system-deps nginx)")]


def nginx_conf(prefix: Path, servers: list[str], port: int) -> Path:
    recipe = RECIPE.read_text()
    lines = [f"    server {s} max_fails=1 fail_timeout=2s;" for s in servers]
    recipe, n = re.subn(r"(?m)^    server 127\.0\.0\.1:800\d .*\n", "", recipe)
    assert n == 4, "the recipe's upstream lists four example servers"
    recipe = recipe.replace("    hash $cookie_RINGSESSION consistent;\n",
                            "    hash $cookie_RINGSESSION consistent;\n" + "\n".join(lines) + "\n")
    recipe = recipe.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = prefix / "nginx.conf"
    conf.write_text(f"""{user}worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
{recipe}
}}
""")
    return conf


@pytest.fixture
def nginx_ring(tmp_path: Path) -> Iterator[tuple[LocalCluster, str]]:
    config = write_config(tmp_path, ("a", "b", "c"))
    with LocalCluster(config, tmp_path / "run", python=sys.executable) as cluster:
        cluster.start_all(timeout=DEADLINE)
        wait_for(cluster.ring_healed, "the ring to form")
        port = free_port()
        prefix = tmp_path / "nginx"
        prefix.mkdir()
        conf = nginx_conf(prefix, [f"127.0.0.1:{i.http_port}" for i in cluster.instances.values()], port)
        assert NGINX is not None
        check = subprocess.run([NGINX, "-t", "-c", str(conf), "-p", str(prefix)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(prefix), "-g", "daemon off;"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for(lambda: _answers(url), "nginx to answer")
            yield cluster, url
        finally:
            proc.send_signal(signal.SIGQUIT if proc.poll() is None else 0)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
    assert_no_tracebacks(cluster)


def _answers(url: str) -> bool:
    try:
        return Browser().request(url, "GET", "/session", timeout=2)[0] == 200
    except OSError:
        return False


def test_a_user_follows_the_ring_through_nginx_when_its_instance_dies(nginx_ring) -> None:  # noqa: ANN001
    cluster, url = nginx_ring
    user = Browser()
    user.json(url, "POST", "/incr")  # without a cookie yet: any instance (the hash of nothing)
    served = {user.json(url, "POST", "/incr")["instance"] for _ in range(3)}
    assert len(served) == 1, f"the cookie hash keeps a user on one instance, got {served}"
    (home,) = served
    assert user.count(url) == 4

    cluster.kill(home)
    started = time.monotonic()
    answer: dict[str, object] = {}

    def next_incr() -> bool:  # a POST refused by the dead instance is passed on; a 503 is retried
        status, body = user.request(url, "POST", "/incr")
        if status == 200:
            import json

            answer.update(json.loads(body))
        return status == 200

    wait_for(next_incr, "a POST through nginx to be served by another instance")
    assert answer["count"] == 5 and answer["instance"] != home
    print(f"served again by {answer['instance']} after {time.monotonic() - started:.2f} s")
    assert user.count(url) == 5
