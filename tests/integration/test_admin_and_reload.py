"""A real `ring serve`: its admin address, JSON log lines, SIGHUP, and `ring status --check/--watch`.

One single-instance ring (alone, so it is ready at once), started by the test with --log-format
json and an <admin-http>. SIGHUP is sent three times: a change that applies now (log level, a new
admin port) plus one that needs a restart, then a broken file, which must be refused without a
crash. Every wait polls with a deadline; the process is stopped by its pid whatever happens.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from integration_helpers import DEADLINE, wait_for

from ring.drill.cluster import free_port

pytestmark = pytest.mark.integration

CONFIG = """<?xml version="1.0" encoding="UTF-8"?>
<server><cluster>
  <instance><host>127.0.0.1</host>
    <session-replication><port>{port}</port><instance-id>a</instance-id>{more_instance}</session-replication>
  </instance>{more}
  <session-replication>
    <ping-interval>{ping}</ping-interval><failure-timeout>1</failure-timeout>
    <admin-http>127.0.0.1:{admin}</admin-http><log-level>{level}</log-level>
  </session-replication>
</cluster></server>
"""


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


def ring(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ring", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path, dict[str, int]]]:
    ports = {"port": free_port(), "admin": free_port(), "http": free_port()}
    config = tmp_path / "server.xml"
    config.write_text(CONFIG.format(port=ports["port"], admin=ports["admin"], ping="0.25", level="info",
                                    more="", more_instance=""))
    log = tmp_path / "a.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "ring", "serve", "--config", str(config), "--local-host",
                                 "a", "--http", f"127.0.0.1:{ports['http']}", "--log-format", "json"],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc, config, log, ports
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def test_admin_address_json_logs_and_sighup(instance, tmp_path: Path) -> None:  # noqa: ANN001 - fixture
    proc, config, log, ports = instance
    admin = f"http://127.0.0.1:{ports['admin']}"
    wait_for(lambda: get(admin + "/readyz")[0] == 200, "the admin /readyz to answer 200")
    status, page = get(admin + "/")
    assert status == 200 and 'class="instance alive"' in page and "status.json" in page
    assert "ring_build_info{" in get(admin + "/metrics")[1]
    rows = json.loads(get(admin + "/status.json")[1])["instances"]
    assert rows[0]["admin_address"] == f"127.0.0.1:{ports['admin']}"
    assert rows[0]["http_address"] == f"127.0.0.1:{ports['http']}" and rows[0]["ready"] is True
    assert get(f"http://127.0.0.1:{ports['http']}/readyz")[0] == 200  # balancers keep their check

    # SIGHUP 1: a new admin port and log level apply now; a new ping interval needs a restart
    new_admin = free_port()
    config.write_text(CONFIG.format(port=ports["port"], admin=new_admin, ping="0.3", level="debug",
                                    more="", more_instance=""))
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: get(f"http://127.0.0.1:{new_admin}/livez")[0] == 200, "the admin endpoints to move")
    wait_for(lambda: "<ping-interval> changed" in log.read_text(), "the reload to name what needs a restart")
    assert get(admin + "/livez")[0] == 0, "the old admin port is closed"
    assert "<log-level> is now debug" in log.read_text()

    # SIGHUP 2: a broken file is refused, nothing changes, nothing crashes
    config.write_text("<server><cluster>")
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload refused" in log.read_text(), "the broken file to be refused")
    assert proc.poll() is None and get(f"http://127.0.0.1:{new_admin}/readyz")[0] == 200

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(DEADLINE) == 0
    lines = log.read_text().splitlines()
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(set(e) <= {"time", "level", "logger", "message", "exception"} for e in entries)
    assert not any("Traceback" in line for line in lines)


def test_status_check_and_watch(instance, tmp_path: Path) -> None:  # noqa: ANN001 - fixture
    proc, config, log, ports = instance
    wait_for(lambda: get(f"http://127.0.0.1:{ports['admin']}/readyz")[0] == 200, "the instance to be ready")
    healthy = ring("status", "--config", str(config), "--check")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "healthy" in healthy.stdout and "0.1.0" in healthy.stdout

    # the same instance seen through a config that also lists one that never started
    degraded = tmp_path / "two.xml"
    degraded.write_text(CONFIG.format(port=ports["port"], admin=ports["admin"], ping="0.25", level="info",
                                      more_instance="", more=f"""
  <instance><host>127.0.0.1</host><session-replication><port>{free_port()}</port>
    <instance-id>b</instance-id></session-replication></instance>"""))
    down = ring("status", "--config", str(degraded), "--check")
    assert down.returncode == 1 and "instance down: b" in down.stdout
    assert ring("status", "--config", str(degraded)).returncode == 0, "without --check, news is not failure"

    watch = subprocess.Popen([sys.executable, "-m", "ring", "status", "--config", str(config), "--watch", "0.5"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert watch.stdout is not None
        first = watch.stdout.readline()  # the first redraw has begun
        assert first.startswith("ring a"), first
        watch.send_signal(signal.SIGINT)
        assert watch.wait(DEADLINE) == 0
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait(5)
