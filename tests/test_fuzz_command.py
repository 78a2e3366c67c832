"""`ring fuzz` (issue 17): a clean config holds and prints its figures; a weakened one (async
replication: the client is answered before the backup has the write) breaks the promise with a
readable transcript and a replay command. Seeds are fixed, so both runs are the same every time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "server.xml.example"


def fuzz(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ring", "fuzz", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_the_example_config_keeps_the_promise_and_reports_its_figures() -> None:
    done = fuzz(EXAMPLE, "--examples", "10", "--seed", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the promise held" in done.stdout
    for figure in ("detect a crash", "re-form the ring", "two copies again"):
        assert f"time to {figure}" in done.stdout, done.stdout


def test_async_replication_breaks_the_promise_with_a_transcript_and_a_replay(tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    marker = "    <session-replication>\n      <!--"
    assert marker in text
    weakened = tmp_path / "async.xml"
    weakened.write_text(text.replace(marker, "    <session-replication>\n      <async>true</async>\n      <!--", 1))
    done = fuzz(weakened, "--examples", "25", "--seed", "3")
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "VIOLATION" in out and "is held nowhere" in out
    assert "crashes (kill -9)" in out  # the narrated schedule
    replay = next(line for line in out.splitlines() if line.startswith("replay: "))
    again = fuzz(weakened, *replay.split(str(weakened), 1)[1].split())
    assert again.returncode == 1 and "is held nowhere" in again.stdout


def test_a_bad_argument_is_a_usage_error() -> None:
    done = fuzz(EXAMPLE, "--examples", "0")
    assert done.returncode == 2 and "--examples" in done.stderr
