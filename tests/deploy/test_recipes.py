"""The deployment recipes that need no running service: the systemd unit and the Grafana dashboard."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))
from test_metrics import PINNED  # noqa: E402  (the pinned metric names)


def _unit_for_here(tmp_path: Path, text: str) -> Path:
    """The unit with ExecStart pointing at this checkout's `ring` (verify checks it is executable)."""
    ring = Path(sys.executable).with_name("ring")
    unit = tmp_path / "ring@a.service"
    unit.write_text(text.replace("/opt/ring/bin/ring", str(ring)))
    return unit


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    assert SYSTEMD_ANALYZE is not None
    text = (DEPLOY / "systemd" / "ring@.service").read_text()
    assert "ExecReload=/bin/kill -HUP $MAINPID" in text and "RestartPreventExitStatus=2 3" in text
    broken = tmp_path / "broken"
    broken.mkdir()
    bad = _unit_for_here(broken, text.replace("ExecStart=/opt/ring/bin/ring", "ExecStart=opt/ring/bin/ring")
                         .replace("Type=exec", "Type=nonsense"))
    if subprocess.run([SYSTEMD_ANALYZE, "verify", str(bad)], capture_output=True, text=True).returncode == 0:
        pytest.skip("systemd-analyze verify finds nothing wrong even in a broken unit here")
    good = _unit_for_here(tmp_path, text)
    result = subprocess.run([SYSTEMD_ANALYZE, "verify", str(good)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "ring@a.service" not in result.stderr, result.stderr  # no warning about the unit itself


def test_the_grafana_dashboard_reads_only_metrics_that_exist() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "ring-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert exprs
    names = {n for e in exprs for n in re.findall(r"\b((?:ring|process)_[a-z_]+)", e)}
    known = set()
    for name, kind in PINNED.items():
        known |= {name, f"{name}_total"} if kind == "counter" else {name}
        if kind == "histogram":
            known |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    unknown = {n for n in names if n.startswith("ring_") and n not in known}
    assert not unknown, f"the dashboard reads metrics ring does not export: {unknown}"
    assert {"ring_session_save_duration_seconds_bucket", "ring_sessions", "ring_peer_up"} <= names
