"""Network namespaces for `ring drill --partition` (root only).

Every instance runs in its own namespace `rdr<pid>-<i>` with one veth pair (`rdr<pid>n<i>` inside,
`rdr<pid>h<i>` outside) plugged into a bridge `rdr<pid>br` in the root namespace. Instances get
10.77.<k>.<i+1>/24; the bridge has 10.77.<k>.254, so the balancer and `ring status` in the root
namespace reach every instance, and HTTP from the balancer never comes from a peer's address.
Faults are iptables rules inside the namespaces, matched on the peers' addresses only, so a cut
never touches client traffic and never touches the host's own rules:

    cut(victim)            both ways: victim drops INPUT from and OUTPUT to every peer
    cut(victim, one_way)   victim drops INPUT from every peer (it can still send)
    split(groups)          every instance drops INPUT from and OUTPUT to the instances of the other
                           groups (2+2, a pair from the rest): both directions
    cut_port(src, dst, p)  one direction of one link at the port level: src drops OUTPUT to dst's
                           TCP port p (dst can still reach src, and src reaches dst's other ports)
    loss(p)                every namespace drops INPUT from every peer with probability p
    heal()                 flush the rules in every namespace

Host names for tests that name members by host (`write_hosts`): iproute2's `ip netns exec NS`
bind-mounts every file of /etc/netns/NS/ over its namesake in /etc for that process, so each
namespace gets its own /etc/hosts there, and the host's /etc/hosts is never touched. The file is
rewritten in place (same inode), so processes already running in the namespace see the change.
`readdress` moves an instance to another address of its subnet (a rescheduled pod, in effect).

Everything is named with the `rdr<pid>` prefix, so `cleanup_leftovers()` can remove what a drill
that died (SIGKILL, power loss) left behind: namespaces, links and /etc/netns directories whose pid
is no longer running. Deleting a namespace deletes its rules and its end of the veth pair (and
with it the other end).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from ring.errors import DrillError

log = logging.getLogger("ring.drill.netns")

PREFIX = "rdr"
SUBNET = "10.77"
_OWNED = re.compile(rf"^{PREFIX}(\d+)(?:-\d+|br|h\d+|n\d+)$")
NETNS_ETC = Path("/etc/netns")  # iproute2's per-namespace /etc overlay (see ip-netns(8))


def unavailable_reason() -> str | None:
    """Why namespaces cannot be used here, or None when they can."""
    if os.geteuid() != 0:
        return "--partition needs root (network namespaces and iptables); run the drill as root"
    for tool in ("ip", "iptables"):
        if _which(tool) is None:
            return f"--partition needs `{tool}` (iproute2/iptables: run scripts/install-system-deps)"
    return None


def _which(tool: str) -> str | None:
    return shutil.which(tool) or next(
        (p for p in (f"/usr/sbin/{tool}", f"/sbin/{tool}") if os.path.exists(p)), None)


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    tool = _which(argv[0]) or argv[0]
    result = subprocess.run([tool, *argv[1:]], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise DrillError(f"`{' '.join(argv)}` failed: {result.stderr.strip() or result.stdout.strip()}")
    return result


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cleanup_leftovers() -> list[str]:
    """Remove namespaces and links of drills whose process is gone; returns what was removed."""
    removed: list[str] = []
    for line in _run("ip", "netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = _OWNED.match(name)
        if m and not pid_alive(int(m.group(1))):
            _run("ip", "netns", "del", name, check=False)
            removed.append(name)
    for line in _run("ip", "-o", "link", "show", check=False).stdout.splitlines():
        parts = line.split(":")
        if len(parts) < 2:
            continue
        name = parts[1].strip().split("@")[0]
        m = _OWNED.match(name)
        if m and not pid_alive(int(m.group(1))):
            _run("ip", "link", "del", name, check=False)
            removed.append(name)
    for directory in NETNS_ETC.glob(f"{PREFIX}*") if NETNS_ETC.is_dir() else ():
        m = _OWNED.match(directory.name)
        if m and not pid_alive(int(m.group(1))):
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(str(directory))
    return removed


def _free_third_octet(start: int) -> int:
    used = set(re.findall(rf"inet {re.escape(SUBNET)}\.(\d+)\.", _run("ip", "-o", "-4", "addr", check=False).stdout))
    for step in range(250):
        k = (start + step) % 250
        if str(k) not in used:
            return k
    raise DrillError(f"no free {SUBNET}.x.0/24 subnet for the drill's namespaces")


class Namespaces:
    def __init__(self, ids: Sequence[str]) -> None:
        self.tag = f"{PREFIX}{os.getpid()}"
        self.ids = list(ids)
        self.k = _free_third_octet(os.getpid() % 250)
        self.bridge = f"{self.tag}br"
        self.gateway = f"{SUBNET}.{self.k}.254"
        self.ns = {name: f"{self.tag}-{i}" for i, name in enumerate(self.ids)}
        self.ip = {name: f"{SUBNET}.{self.k}.{i + 1}" for i, name in enumerate(self.ids)}
        self._dev = {name: (f"{self.tag}h{i}", f"{self.tag}n{i}") for i, name in enumerate(self.ids)}
        self.created = False
        self.made_netns_etc = False  # /etc/netns did not exist before write_hosts: removed when empty

    def setup(self) -> None:
        self.created = True  # from the first command on, teardown has something to remove
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        for name in self.ids:
            ns, (outside, inside) = self.ns[name], self._dev[name]
            _run("ip", "netns", "add", ns)
            _run("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
            _run("ip", "link", "set", inside, "netns", ns)
            _run("ip", "link", "set", outside, "master", self.bridge)
            _run("ip", "link", "set", outside, "up")
            self.exec(name, "ip", "addr", "add", f"{self.ip[name]}/24", "dev", inside)
            self.exec(name, "ip", "link", "set", inside, "up")
            self.exec(name, "ip", "link", "set", "lo", "up")

    def prefix(self, name: str) -> list[str]:
        """The command prefix that runs a process inside `name`'s namespace."""
        return [_which("ip") or "ip", "netns", "exec", self.ns[name]]

    def exec(self, name: str, *argv: str) -> subprocess.CompletedProcess[str]:
        tool = _which(argv[0]) or argv[0]
        return _run("ip", "netns", "exec", self.ns[name], tool, *argv[1:])

    def write_hosts(self, names: Mapping[str, str]) -> None:
        """Every namespace's own /etc/hosts: `names` maps a host name to its address (and
        localhost); processes started with `prefix()` resolve those names there."""
        lines = ["127.0.0.1 localhost", "::1 localhost"] + [f"{ip} {host}" for host, ip in names.items()]
        self.made_netns_etc = self.made_netns_etc or not NETNS_ETC.exists()
        for ns in self.ns.values():
            directory = NETNS_ETC / ns
            directory.mkdir(parents=True, exist_ok=True)
            with open(directory / "hosts", "w") as f:  # in place: running processes see it too
                f.write("\n".join(lines) + "\n")

    def readdress(self, name: str, ip: str) -> None:
        """Move `name` to `ip` (in its subnet): its old address is gone at once."""
        inside = self._dev[name][1]
        self.exec(name, "ip", "addr", "flush", "dev", inside)
        self.exec(name, "ip", "addr", "add", f"{ip}/24", "dev", inside)
        self.ip[name] = ip

    def peers(self, name: str) -> list[str]:
        return [self.ip[p] for p in self.ids if p != name]

    def cut(self, victim: str, *, one_way: bool = False) -> None:
        for peer_ip in self.peers(victim):
            self.exec(victim, "iptables", "-w", "-I", "INPUT", "-s", peer_ip, "-j", "DROP")
            if not one_way:
                self.exec(victim, "iptables", "-w", "-I", "OUTPUT", "-d", peer_ip, "-j", "DROP")

    def split(self, groups: Sequence[Sequence[str]]) -> None:
        for group in groups:
            others = [self.ip[n] for g in groups if g is not group for n in g]
            for name in group:
                for ip in others:
                    self.exec(name, "iptables", "-w", "-I", "INPUT", "-s", ip, "-j", "DROP")
                    self.exec(name, "iptables", "-w", "-I", "OUTPUT", "-d", ip, "-j", "DROP")

    def cut_port(self, src: str, dst: str, port: int) -> None:
        self.exec(src, "iptables", "-w", "-I", "OUTPUT", "-d", self.ip[dst], "-p", "tcp", "--dport", str(port),
                  "-j", "DROP")

    def rules(self, name: str) -> int:
        """How many rules `name`'s namespace holds (INPUT and OUTPUT): 0 after a heal."""
        out = self.exec(name, "iptables", "-w", "-S").stdout
        return sum(1 for line in out.splitlines() if line.startswith("-A "))

    def loss(self, probability: float) -> None:
        for name in self.ids:
            for peer_ip in self.peers(name):
                self.exec(name, "iptables", "-w", "-I", "INPUT", "-s", peer_ip, "-m", "statistic",
                          "--mode", "random", "--probability", f"{probability:g}", "-j", "DROP")

    def heal(self) -> None:
        """Flush every namespace's rules; tries them all even when one fails (then raises)."""
        failed: list[str] = []
        for name in self.ids:
            for chain in ("INPUT", "OUTPUT"):
                try:
                    self.exec(name, "iptables", "-w", "-F", chain)
                except DrillError as exc:
                    failed.append(str(exc))
        if failed:
            raise DrillError("; ".join(failed))

    def teardown(self) -> None:
        if not self.created:
            return
        for ns in self.ns.values():
            _run("ip", "netns", "del", ns, check=False)
        for outside, _inside in self._dev.values():
            _run("ip", "link", "del", outside, check=False)  # gone with the namespace; in case it was not moved
        _run("ip", "link", "del", self.bridge, check=False)
        for ns in self.ns.values():
            shutil.rmtree(NETNS_ETC / ns, ignore_errors=True)
        if self.made_netns_etc:
            with contextlib.suppress(OSError):  # not empty: another tool put something there meanwhile
                NETNS_ETC.rmdir()
        self.created = False
