"""Issue 11: a hostile or broken server.xml ends `ring check-config` (and `ring serve`, which reads
it the same way) with exit 2 and one line, quickly and in little memory: odd encodings, huge text,
a device or a FIFO, deep nesting, an entity bomb. Real processes: the exit code and the one line
are the point. Times and memory are printed, not asserted (the machine is shared)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

VALID_TAIL = "<cluster><instance><host>127.0.0.1</host></instance></cluster></server>"


def hostile(tmp_path: Path, case: str) -> str:
    path = tmp_path / f"{case}.xml"
    if case == "utf-7":
        path.write_bytes(b'<?xml version="1.0" encoding="UTF-7"?>\n<server>' + VALID_TAIL.encode())
    elif case == "shift_jis":
        path.write_bytes('<?xml version="1.0" encoding="Shift_JIS"?>\n<server><!-- 日本 -->'.encode("shift_jis")
                         + VALID_TAIL.encode())
    elif case == "unknown-encoding":
        path.write_bytes(b'<?xml version="1.0" encoding="x-no-such-9"?>\n<server>' + VALID_TAIL.encode())
    elif case == "1mb-text":
        path.write_text("<server><cluster><instance><host>" + "a" * 1_000_000 + "</host></instance></cluster></server>")
    elif case == "too-large":
        path.write_text("<server>" + "<!-- padding -->" * 400_000 + VALID_TAIL)
    elif case == "deep":
        path.write_text("<server><cluster>" + "<x>" * 50_000 + "</x>" * 50_000 + "</cluster></server>")
    elif case == "bomb":
        path.write_text('<?xml version="1.0"?><!DOCTYPE server [<!ENTITY a "aaaaaaaaaa">'
                        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><server>&b;</server>')
    elif case == "fifo":
        os.mkfifo(path)
    elif case == "dev-zero":
        return "/dev/zero"
    elif case == "directory":
        return str(tmp_path)
    return str(path)


CASES = ["utf-7", "shift_jis", "unknown-encoding", "1mb-text", "too-large", "deep", "bomb",
         "fifo", "dev-zero", "directory"]


_MEASURED = """
import resource, subprocess, sys
done = subprocess.run([sys.executable, "-m", "ring", "check-config", "--config", sys.argv[1]],
                      capture_output=True, text=True, timeout=30)
sys.stdout.write(done.stdout)
sys.stderr.write(done.stderr + "peak-kib=%d" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(done.returncode)
"""


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_server_xml_exits_2_with_one_line(tmp_path: Path, case: str) -> None:
    config = hostile(tmp_path, case)
    started = time.monotonic()
    # a wrapper process runs check-config and reports its own children's peak: RUSAGE_CHILDREN of
    # this test process would be the largest child of the whole suite so far
    result = subprocess.run([sys.executable, "-c", _MEASURED, config], capture_output=True, text=True, timeout=30)
    took = time.monotonic() - started
    result.stderr, _, peak = result.stderr.rpartition("peak-kib=")
    peak_mib = int(peak.strip() or 0) / 1024
    print(f"{case}: exit {result.returncode} in {took:.2f} s, children's peak {peak_mib:.0f} MiB: "
          f"{result.stderr.strip()[:160]}")
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert len(lines[0]) < 400 and "Traceback" not in result.stderr
    assert peak_mib < 100
