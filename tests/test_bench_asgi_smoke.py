"""`python -m bench --only asgi` in a tiny mode runs row 7 end to end, with wrk and with the Python
load generator it falls back to (numbers not checked)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent
ROWS = {"asgi/hosted", "asgi/hosted-redis", "asgi/workers", "asgi/workers-redis"}


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
@pytest.mark.parametrize("load", [pytest.param("wrk", marks=pytest.mark.slow), "python"])  # wrk: --run-slow
def test_quick_asgi_rows_write_table_and_json(load: str, tmp_path: Path) -> None:
    pytest.importorskip("redis")
    pytest.importorskip("uvicorn")
    if load == "wrk" and shutil.which("wrk") is None:
        pytest.skip("wrk not installed (scripts/install-system-deps bench)")
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "asgi", "--ops", "60", "--asgi-seconds", "1",
         "--asgi-load", load, "--out", str(out), "--workdir", str(tmp_path / "logs")],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "## 7. ASGI" in proc.stdout
    assert ("Load: wrk (Debian)" if load == "wrk" else "the Python load generator of row 3") in proc.stdout
    result = json.loads(out.read_text())
    assert set(result["rows"]) == ROWS
    assert all(result["rows"][r]["median"]["errors"] == 0 for r in ROWS)
    assert {t["target"].split(":")[0] for t in result["targets"]} == {
        "ASGI `ring serve --asgi`", "ASGI uvicorn workers, async local client"}
