"""The per-namespace hosts files of ring.drill.netns, without root: `ip` is replaced by a recorder
and /etc/netns by a temporary directory."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ring.drill import netns


@pytest.fixture
def etc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    calls: list[tuple[str, ...]] = []

    def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        return subprocess.CompletedProcess(list(argv), 0, "", "")

    monkeypatch.setattr(netns, "_run", run)
    monkeypatch.setattr(netns, "_free_third_octet", lambda start: 7)
    monkeypatch.setattr(netns, "NETNS_ETC", tmp_path / "netns")
    return tmp_path / "netns"


def test_hosts_files_are_rewritten_in_place_and_removed_with_the_namespaces(etc: Path) -> None:
    ns = netns.Namespaces(["a", "b"])
    ns.setup()
    ns.write_hosts({"ring-a.test": ns.ip["a"], "ring-b.test": ns.ip["b"]})
    hosts = etc / ns.ns["b"] / "hosts"
    inode = hosts.stat().st_ino
    assert f"{ns.ip['a']} ring-a.test" in hosts.read_text()
    ns.readdress("a", "10.77.7.99")
    ns.write_hosts({"ring-a.test": ns.ip["a"], "ring-b.test": ns.ip["b"]})
    assert "10.77.7.99 ring-a.test" in hosts.read_text()
    assert hosts.stat().st_ino == inode  # the bind mount of a running process still shows this file
    ns.teardown()
    assert not etc.exists()  # it did not exist before: removed with the namespaces' directories


def test_leftover_hosts_directories_of_dead_drills_are_removed(etc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = etc / f"{netns.PREFIX}{os.getpid()}-0"
    dead = etc / f"{netns.PREFIX}999999999-0"
    other = etc / "someone-elses"
    for directory in (mine, dead, other):
        directory.mkdir(parents=True)
        (directory / "hosts").write_text("127.0.0.1 localhost\n")
    monkeypatch.setattr(netns, "pid_alive", lambda pid: pid == os.getpid())
    assert netns.cleanup_leftovers() == [str(dead)]
    assert mine.exists() and other.exists() and not dead.exists()
