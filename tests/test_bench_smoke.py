"""`python -m bench --quick` runs end to end and writes its table and JSON (numbers not checked)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_quick_bench_writes_table_and_json(tmp_path: Path) -> None:
    pytest.importorskip("redis")
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--ops", "60", "--sessions", "300", "--ring-sizes", "2,3",
         "--payloads", "1KB", "--out", str(out), "--workdir", str(tmp_path / "logs")],
        cwd=REPO, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "## Targets (issue #5)" in proc.stdout
    assert "| redis-py SET, 1 client  [BASELINE] |" in proc.stdout
    result = json.loads(out.read_text())
    expected = {"save/1KB/engine-sync/1", "save/1KB/engine-async/32", "save/1KB/redis-set/8",
                "save/1KB/redis-wait/1", "save/1KB/grpc-floor-sync/1", "http/ring", "http/redis", "http/memory", "resync", "scaling/2",
                "scaling/3", "asgi/hosted", "asgi/workers"}
    assert expected <= set(result["rows"])
    assert result["rows"]["resync"]["median"]["backups_after_resync"] == 300
    assert {t["target"].split(":")[0] for t in result["targets"]} >= {"1KB", "HTTP"}
    assert all(isinstance(t["pass"], bool) for t in result["targets"])
