"""The drill behind the real HAProxy (skipped when haproxy is not installed)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ring.drill.configs import fast_settings, write_config
from ring.drill.haproxy import render_config

pytestmark = pytest.mark.integration

HAPROXY = shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy",) if Path(p).exists()), None)
needs_haproxy = pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed (scripts/install-system-deps)")


@needs_haproxy
def test_generated_config_is_valid_haproxy(tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(render_config({"a": ("127.0.0.1", 18001), "b": ("127.0.0.1", 18002)}, ("127.0.0.1", 18000)))
    text = cfg.read_text()
    for line in ("cookie RINGLB insert indirect nocache", "option redispatch", "retries 3",
                 "option httpchk GET /readyz", "check inter 500 fall 2 rise 2"):
        assert line in text
    assert HAPROXY is not None
    result = subprocess.run([HAPROXY, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


@needs_haproxy
def test_kill_behind_haproxy(tmp_path: Path) -> None:
    config = write_config(tmp_path / "ring.xml", ("a", "b", "c"), fast_settings(1.0, 0.25))
    code, report, err = drill("--config", str(config), "--lb", "haproxy", "--duration", "16",
                              "--faults", "kill", "--max-faults", "1", "--seed", "11", "--users", "8", "--rate", "60")
    assert report, err[-3000:]
    assert report["lost"] == 0 and report["stale"] == 0, report["anomalies"]
    assert report["violations"] == [] and code == 0, err[-3000:]
    assert report["options"]["lb"] == "haproxy"
    assert [f["kind"] for f in report["faults"]] == ["kill"]
    assert report["failovers"] < report["ops"]["ok"] / 4  # the cookie keeps users where they are


def drill(*args: str, timeout: float = 90.0) -> tuple[int, dict[str, Any], str]:
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-m", "ring", "drill", "--json", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=root)
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else {}, proc.stderr
