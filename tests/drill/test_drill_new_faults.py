"""Short real drills of the faults of issues 9 and 10, with logout and idle users.

Two drills (a 1 s failure timeout, short holds, a 2 s gap for double-failure, 4 s idle pauses):
the process faults on 3 instances, the network faults in namespaces on 4 (root only); together
about 90 s. rolling-idle and the long double-failure gap run in longer drills only. Each checks
the safety figures (nothing lost, stale, reset, resurrected or forked), that every fault ran, and
that nothing the drill created is left: no process, namespace or link. Timings are reported by the
drill (the redundancy figures included), never asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ring.drill.configs import fast_settings, write_config
from ring.drill.netns import PREFIX, unavailable_reason

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
USERS = ("--users", "8", "--rate", "60", "--logout-users", "2", "--idle-users", "2", "--idle-pause", "4")


def drill(tmp_path: Path, ids: tuple[str, ...], *args: str, timeout: float = 150.0) -> tuple[int, dict[str, Any], str]:
    config = write_config(tmp_path / "ring.xml", ids, fast_settings(failure_timeout=1.0, ping_interval=0.25))
    workdir = tmp_path / "work"
    proc = subprocess.run([sys.executable, "-m", "ring", "drill", "--json", "--config", str(config),
                           "--workdir", str(workdir), *USERS, *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    report = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return proc.returncode, report, proc.stderr


def assert_clean(code: int, report: dict[str, Any], stderr: str) -> None:
    assert report, stderr[-3000:]
    figures = {k: report[k] for k in ("lost", "stale", "resets", "resurrected", "forked")}
    assert figures == dict.fromkeys(figures, 0), report["anomalies"][:10]
    assert report["violations"] == [], report["violations"]
    assert code == 0, stderr[-3000:]


def test_process_faults_with_logout_and_idle_users(tmp_path: Path) -> None:
    kinds = ["logout-paused", "double-failure", "sigterm-busiest"]  # rolling-idle: in the long drill
    code, report, err = drill(tmp_path, ("a", "b", "c"), "--faults", ",".join(kinds), "--max-faults", "3",
                              "--double-gap", "2", "--duration", "42", "--seed", "11")
    assert_clean(code, report, err)
    assert sorted({f["kind"] for f in report["faults"]}) == sorted(kinds)
    assert [f["detail"]["step"] for f in report["faults"] if f["kind"] == "double-failure"] == ["first", "second"]
    assert report["ops"]["by_kind"]["logout"]["ok"] > 0
    assert report["all_redundant_after_kill"]["n"] + report["all_redundant_after_kill"]["never"] == 3
    assert children_of(tmp_path / "work") == []


def children_of(workdir: Path) -> list[int]:
    """Pids of live processes whose command line names the drill's work directory."""
    marker = str(workdir).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().split()[2]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


REASON = unavailable_reason()


@pytest.mark.root
@pytest.mark.skipif(REASON is not None, reason=REASON or "")
def test_network_faults_in_namespaces(tmp_path: Path) -> None:
    kinds = ["partition-halves", "partition-pair", "cut-link-oneway", "flap"]
    code, report, err = drill(tmp_path, ("a", "b", "c", "d"), "--partition", "--faults", ",".join(kinds),
                              "--max-faults", "4", "--duration", "44", "--seed", "5")
    assert_clean(code, report, err)
    assert sorted(f["kind"] for f in report["faults"]) == sorted(kinds)
    tag = report["netns_prefix"]
    assert tag.startswith(PREFIX)
    assert f"{tag}-" not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert tag not in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
