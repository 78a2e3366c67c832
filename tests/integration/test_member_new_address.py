"""A member that comes back at a new address under the same host name is admitted and rejoins
(a rescheduled Kubernetes pod, in effect). Root only: real network namespaces.

Three instances a -> b -> c -> a, each `ring serve` in its own namespace (ring.drill.netns),
named in server.xml by host name only (ring-a.test, ...). The names resolve through each
namespace's own /etc/hosts (iproute2 bind-mounts /etc/netns/NS/hosts for `ip netns exec`), so
the host's /etc/hosts is never touched. c stops, moves to another address, the hosts files say
so, and c starts again: a must admit c's calls from the new address (admission resolves the
member names again) and b's channel to c must reach it there (gRPC resolves again). Then c's new
session is backed up on a, b's on c, and with c killed a serves c's session at its latest count.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from integration_helpers import DEADLINE, FAST, Browser, assert_no_tracebacks, by_id, wait_for

from ring.config import ReplicationSettings
from ring.drill.cluster import LocalCluster
from ring.drill.configs import render_server_xml
from ring.drill.netns import NETNS_ETC, Namespaces


def _unavailable() -> str | None:
    """Why namespaces cannot be made here (this test needs `ip`, not iptables)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    ip = shutil.which("ip") or next((p for p in ("/usr/sbin/ip", "/sbin/ip") if os.path.exists(p)), None)
    if ip is None or subprocess.run([ip, "netns", "list"], capture_output=True).returncode != 0:
        return "needs `ip netns` (iproute2: scripts/install-system-deps)"
    return None


REASON = _unavailable()
IDS = ("a", "b", "c")
PORT = 7000  # every instance on the same port, each in its own namespace, as pods would be
KEY = "a-test-cluster-key-of-some-length"

pytestmark = [pytest.mark.integration, pytest.mark.root,
              pytest.mark.skipif(REASON is not None, reason=REASON or "")]


def host_of(name: str) -> str:
    return f"ring-{name}.test"


@pytest.fixture
def namespaces() -> Iterator[Namespaces]:
    ns = Namespaces(IDS)
    try:
        ns.setup()
        yield ns
    finally:
        ns.teardown()
    assert not any((NETNS_ETC / name).exists() for name in ns.ns.values())
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"{ns.tag}-" not in listed


def status_from(ns: Namespaces, name: str, config: Path) -> dict[str, dict[str, Any]]:
    """`ring status --json` run inside `name`'s namespace (where the host names resolve)."""
    out = subprocess.run([*ns.prefix(name), sys.executable, "-m", "ring", "status", "--config", str(config),
                          "--json", "--timeout", "0.5"], capture_output=True, text=True, timeout=30)
    return by_id(json.loads(out.stdout)["instances"]) if out.stdout.strip() else {}


def formed(rows: dict[str, dict[str, Any]]) -> bool:
    """Every instance alive and ready, on the cycle a -> b -> c -> a, nothing resyncing."""
    return (set(rows) == set(IDS) and all(r["state"] == "alive" and r["ready"] and not r["resyncing"]
                                          for r in rows.values())
            and {n: rows[n]["successor"] for n in IDS} == {"a": "b", "b": "c", "c": "a"})


@pytest.mark.parametrize("stop", [pytest.param("sigterm", marks=pytest.mark.slow), "sigkill"])  # sigterm: --run-slow
def test_a_member_back_at_a_new_address_is_admitted_and_rejoins(tmp_path: Path, namespaces: Namespaces,
                                                               stop: str) -> None:
    ns = namespaces
    ns.write_hosts({host_of(n): ns.ip[n] for n in IDS})
    config = tmp_path / "server.xml"
    config.write_text(render_server_xml([(n, host_of(n), PORT, True) for n in IDS], ReplicationSettings(),
                                        {**FAST, "key": KEY}))
    with LocalCluster(config, tmp_path / "run", python=sys.executable) as cluster:
        for name, inst in cluster.instances.items():
            inst.http_host = ns.ip[name]
            cluster.start(name, prefix=ns.prefix(name))
        for name in IDS:
            assert cluster.wait_ready(name, DEADLINE), (tmp_path / "run" / f"{name}.log").read_text()[-3000:]
        wait_for(lambda: formed(status_from(ns, "a", config)), "the ring to form")

        old = ns.ip["c"]
        if stop == "sigterm":
            assert cluster.terminate("c") == 0  # a clean stop, as Kubernetes stops a pod
        else:
            cluster.kill("c")  # its node lost: the peers declare it dead
            wait_for(lambda: status_from(ns, "a", config)["a"]["peers"].get("c") == "dead", "c declared dead")
        new = old.rsplit(".", 1)[0] + ".123"
        ns.readdress("c", new)
        ns.write_hosts({host_of(n): ns.ip[n] for n in IDS})
        cluster.instances["c"].http_host = new
        moved = time.monotonic()
        cluster.start("c", prefix=ns.prefix("c"))
        assert cluster.wait_ready("c", DEADLINE), (tmp_path / "run" / "c.log").read_text()[-3000:]
        wait_for(lambda: formed(status_from(ns, "a", config)), "the ring to re-form with c at its new address")
        rejoined = time.monotonic() - moved

        user_c, user_b = Browser(), Browser()
        c_url, b_url, a_url = (cluster.instances[n].url for n in ("c", "b", "a"))
        assert user_c.incr(c_url) == 1 and user_c.incr(c_url) == 2
        assert user_b.incr(b_url) == 1

        def backed_up() -> bool:
            rows = status_from(ns, "a", config)
            return bool(rows) and rows["a"]["backups"].get("c") == 1 and rows["c"]["backups"].get("b") == 1

        wait_for(backed_up, "c's session backed up on a (a admits c's new address) and b's on c "
                            "(b's channel reaches c's new address)")
        cluster.kill("c")
        wait_for(lambda: user_c.request(a_url, "GET", "/session")[0] == 200, "a to serve c's session")
        assert user_c.count(a_url) == 2  # the latest count, from the backup c streamed to a
        print(f"\n{stop}: c moved {old} -> {new}: ring re-formed {rejoined:.1f} s after c's restart began")

        logs = {n: (tmp_path / "run" / f"{n}.log").read_text() for n in IDS}
        assert f"member host {host_of('c')} now resolves to {new}" in logs["a"]
    assert_no_tracebacks(cluster)
