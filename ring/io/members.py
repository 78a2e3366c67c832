"""The addresses the ring's members call from: their host names, resolved now and again later.

Admission's first check (ring.io.service) is that a call comes from a member's address. Members are
named by host in server.xml, and a host name may move: a rescheduled Kubernetes pod, a VM that
came back with another lease, a record changed by an operator. Resolving once at start would
refuse such a member for ever, so `MemberAddresses` resolves again:

- when a call comes from an address it does not know (the member may have moved), at most once
  per `min_interval` however many such calls arrive, so a stranger cannot make us hammer DNS;
  calls from unknown addresses that arrive while a resolution runs wait for it;
- when the last resolution is older than `max_age`, in the background, without delaying the call:
  an address a member left is forgotten (a new holder of that address is not admitted for ever).

Each host keeps its own addresses: a host that does not resolve this time keeps the ones it had
(a DNS outage refuses nobody who was admitted), and a host that never resolved stands for itself
(as at start). Resolution runs in a daemon thread of its own (getaddrinfo blocks, for as long as
the resolver's timeouts say): a stop never waits for DNS, as it would for the loop's executor.

Outbound calls need nothing of this: the gRPC channels to peers are built with the host name,
and gRPC's DNS resolver resolves again when a connection fails (ring.io.transport bounds how long
it waits between two resolutions).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable

log = logging.getLogger("ring.members")

Resolve = Callable[[str], frozenset[str]]

MIN_INTERVAL = 1.0  # seconds between two resolutions asked by unknown callers: DNS is not a stranger's tool
MAX_AGE = 30.0  # seconds an answer is trusted before it is refreshed (a TTL that ring does not get to see)


def getaddrinfo_ips(host: str) -> frozenset[str]:
    """Every address `host` resolves to now; OSError when it does not resolve."""
    return frozenset(str(info[4][0]) for info in socket.getaddrinfo(host, None))


def resolve_ips(hosts: Iterable[str], resolve: Resolve = getaddrinfo_ips) -> frozenset[str]:
    """Every address the member hosts resolve to now (a name that does not resolve is kept as is)."""
    ips: set[str] = set()
    for host in hosts:
        try:
            ips |= resolve(host)
        except OSError:
            ips.add(host)
    return frozenset(ips)


class MemberAddresses:
    def __init__(self, hosts: Iterable[str], *, resolve: Resolve = getaddrinfo_ips,
                 clock: Callable[[], float] = time.monotonic,
                 min_interval: float = MIN_INTERVAL, max_age: float = MAX_AGE) -> None:
        self.hosts = tuple(dict.fromkeys(hosts))
        self._resolve = resolve
        self._clock = clock
        self.min_interval = min_interval
        self.max_age = max_age
        self._by_host = {host: self._lookup(host, None) for host in self.hosts}
        self.ips = self._union()
        self.resolutions = 1  # how many times the hosts were resolved (the first at start)
        self._resolved_at = clock()
        self._running: asyncio.Future[None] | None = None

    def __contains__(self, ip: object) -> bool:
        return ip in self.ips

    async def admits(self, ip: str) -> bool:
        """Whether `ip` is a member's address, resolving again first when it is not known (rate-limited)."""
        now = self._clock()
        if ip in self.ips:
            if now - self._resolved_at >= self.max_age and self._running is None:
                self._start(now)  # refresh in the background; this call is admitted now
            return True
        if self._running is None and now - self._resolved_at >= self.min_interval:
            self._start(now)
        if self._running is not None:
            await asyncio.shield(self._running)
        return ip in self.ips

    def _start(self, now: float) -> None:
        self._resolved_at = now
        loop = asyncio.get_running_loop()
        running: asyncio.Future[None] = loop.create_future()
        self._running = running

        def resolve() -> None:
            error: BaseException | None = None
            try:
                self._resolve_all()
            except Exception as exc:  # reported on the loop, never lost
                error = exc
            try:
                loop.call_soon_threadsafe(self._finished, running, error)
            except RuntimeError:
                pass  # the loop closed meanwhile (the instance stopped): nobody waits any more

        threading.Thread(target=resolve, name="ring-resolve", daemon=True).start()

    def _finished(self, running: asyncio.Future[None], error: BaseException | None) -> None:
        self._running = None
        if error is not None:
            log.warning("re-resolving the member hosts failed: %s", error)
        if not running.done():
            running.set_result(None)

    def _resolve_all(self) -> None:
        """In the executor: a fresh answer per host, then the new set at once (one assignment)."""
        fresh = {host: self._lookup(host, self._by_host.get(host)) for host in self.hosts}
        for host, ips in fresh.items():
            if ips != self._by_host.get(host):
                log.info("member host %s now resolves to %s (was %s)", host, ", ".join(sorted(ips)),
                         ", ".join(sorted(self._by_host.get(host, ()))) or "nothing")
        self._by_host = fresh
        self.resolutions += 1
        self.ips = self._union()

    def _lookup(self, host: str, previous: frozenset[str] | None) -> frozenset[str]:
        try:
            return self._resolve(host)
        except OSError:
            return previous if previous is not None else frozenset({host})

    def _union(self) -> frozenset[str]:
        return frozenset(ip for ips in self._by_host.values() for ip in ips)
