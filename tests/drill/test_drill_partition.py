"""The partition drill: every instance in its own network namespace (root only)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ring.drill.configs import fast_settings, write_config
from ring.drill.netns import PREFIX, unavailable_reason

REASON = unavailable_reason()


@pytest.mark.integration
@pytest.mark.root
@pytest.mark.slow  # the partitions also run in test_drill_new_faults; packet loss only here
@pytest.mark.skipif(REASON is not None, reason=REASON or "")
def test_cuts_and_packet_loss(tmp_path: Path) -> None:
    config = write_config(tmp_path / "ring.xml", ("a", "b", "c"), fast_settings(1.0, 0.25))
    proc = subprocess.run(
        [sys.executable, "-m", "ring", "drill", "--json", "--partition", "--config", str(config),
         "--faults", "partition,partition-oneway,loss", "--max-faults", "3", "--duration", "36",
         "--seed", "3", "--users", "8", "--rate", "60"],
        capture_output=True, text=True, timeout=150, cwd=Path(__file__).resolve().parents[2])
    assert proc.stdout.strip(), proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["lost"] == 0 and report["stale"] == 0, report["anomalies"]
    assert report["false_declarations"] == []  # 5 % loss declares nobody dead
    assert report["violations"] == [] and proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(f["kind"] for f in report["faults"]) == ["loss", "partition", "partition-oneway"]
    for f in report["faults"]:
        if f["kind"].startswith("partition"):
            assert f["detection_s"] is not None
    # everything the drill created is gone
    tag = report["netns_prefix"]
    assert tag.startswith(PREFIX)
    assert f"{tag}-" not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"{tag}br" not in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout


def test_partition_is_skipped_with_a_message_when_not_possible(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from ring.drill import netns, runner

    monkeypatch.setattr(netns, "unavailable_reason", lambda: "--partition needs root")
    console = Console(record=True, width=200)
    report = runner.run_drill(runner.DrillOptions(partition=True, seed=5), console, progress=False)
    assert report["skipped"] == "--partition needs root" and report["ok"]
    assert "partition drill skipped" in console.export_text()
