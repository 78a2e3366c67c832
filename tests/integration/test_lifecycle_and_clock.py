"""Issue 3, story 5 with real processes: clean stop, configuration errors, the clock check at join."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from integration_helpers import DEADLINE, assert_no_tracebacks, wait_for, write_config

from ring.drill.cluster import LocalCluster, poll
from ring.serverxml import load_server_xml

pytestmark = pytest.mark.integration


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ring", "serve", *args], capture_output=True,
                          text=True, timeout=30)


def test_sigterm_is_a_clean_stop(tmp_path: Path) -> None:
    config = write_config(tmp_path, ("a", "b"))
    with LocalCluster(config, tmp_path / "run") as c:
        c.start_all(DEADLINE)
        wait_for(c.ring_healed, "the ring to form")
        assert c.terminate("a") == 0
        assert c.terminate("b") == 0
    assert_no_tracebacks(c)


@pytest.mark.parametrize("case", ["bad-file", "unknown-local-host", "missing-file",
                                  "replication-port-in-use", "http-port-in-use"])
def test_config_errors_exit_2_with_one_line(tmp_path: Path, case: str) -> None:
    good = write_config(tmp_path, ("a", "b"))
    if case.endswith("port-in-use"):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", load_server_xml(str(good)).instance("a").port if case.startswith("rep")
                        else 0))
            taken.listen()
            port = taken.getsockname()[1]
            result = serve("--config", str(good), "--local-host", "a", "--http", f"127.0.0.1:{port}")
        expected = f"127.0.0.1:{port}"
    elif case == "bad-file":
        bad = tmp_path / "bad.xml"
        bad.write_text(good.read_text().replace("<ping-interval>", "<ping-intervall>")
                       .replace("</ping-interval>", "</ping-intervall>"))
        result = serve("--config", str(bad), "--local-host", "a")
        expected = "ping-intervall"
    elif case == "unknown-local-host":
        result = serve("--config", str(good), "--local-host", "nowhere")
        expected = "nowhere"
    else:
        result = serve("--config", str(tmp_path / "absent.xml"), "--local-host", "a")
        expected = "absent.xml"
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    if case == "replication-port-in-use":  # grpc's C core logs its own line about the bind first
        lines = [line for line in lines if not line.startswith("E")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(shutil.which("faketime") is None, reason="needs faketime (scripts/install-system-deps)")
def test_clock_skew_refuses_to_join_and_small_skew_joins(tmp_path: Path) -> None:
    config = write_config(tmp_path, ("a", "b", "c"))
    faketime = shutil.which("faketime")
    assert faketime is not None
    with LocalCluster(config, tmp_path / "run") as c:
        c.start("a")
        c.start("b")
        assert c.wait_ready("a", DEADLINE) and c.wait_ready("b", DEADLINE)

        c.start("c", prefix=[faketime, "-f", "+5s"])
        proc = c.instances["c"].proc
        assert proc is not None
        assert poll(lambda: proc.poll() is not None, DEADLINE), "c started despite a 5 s clock offset"
        assert proc.returncode == 3
        log = c.instances["c"].log_path.read_text()
        assert "Traceback" not in log
        refusal = [line for line in log.splitlines() if line.startswith("error:")]
        assert len(refusal) == 1, log
        measured = re.search(r"clock is (\d+\.\d+) s ahead of peer [ab]", refusal[0])
        assert measured is not None and 4.0 < float(measured.group(1)) < 6.0, refusal[0]
        assert "limit 1.00 s" in refusal[0], refusal[0]

        c.start("c", prefix=[faketime, "-f", "+0.3s"])
        assert c.wait_ready("c", DEADLINE), f"c did not join with 0.3 s of skew; see {c.instances['c'].log_path}"
        wait_for(c.ring_healed, "the ring a -> b -> c to form")
    assert_no_tracebacks(c)


def test_metrics_endpoint_reports_the_ring(cluster4) -> None:  # noqa: ANN001 - fixture from conftest
    """/metrics answers on the admin address in Prometheus text format, with counts but never a
    session id; the application's port keeps /readyz for balancers and has no /metrics."""
    import urllib.error
    import urllib.request

    from ring.config import format_address
    from ring.serverxml import load_server_xml

    admin = load_server_xml(str(cluster4.config_path)).admin_address("a")
    assert admin is not None
    with urllib.request.urlopen(f"http://{format_address(*admin)}/metrics", timeout=5) as r:
        text = r.read().decode()
    assert "ring_sessions{" in text and "ring_peer_up{" in text and "ring_lease_valid" in text
    assert "process_cpu_seconds_total" in text and "ring_build_info{" in text
    with urllib.request.urlopen(cluster4.instances["a"].url + "/readyz", timeout=5) as r:
        assert r.status == 200
    try:
        urllib.request.urlopen(cluster4.instances["a"].url + "/metrics", timeout=5)
        raise AssertionError("/metrics must not be served on the application's port")
    except urllib.error.HTTPError as e:
        assert e.code == 404
