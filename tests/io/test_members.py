"""Member host names resolved again: a member back at a new address is admitted, a stranger cannot
make us hammer DNS (ring.io.members). A fake resolver and a manual clock; no DNS, no sockets."""

from __future__ import annotations

import asyncio
import threading

from ring.io.members import MemberAddresses, resolve_ips


class Dns:
    """Host -> addresses, changed by the test; counts the lookups; a missing host does not resolve."""

    def __init__(self, records: dict[str, set[str]]) -> None:
        self.records = records
        self.lookups = 0
        self.gate: threading.Event | None = None  # set: lookups wait for it (a slow DNS)

    def __call__(self, host: str) -> frozenset[str]:
        if self.gate is not None:
            self.gate.wait(5)
        self.lookups += 1
        if host not in self.records:
            raise OSError(f"{host}: Name or service not known")
        return frozenset(self.records[host])


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def members(dns: Dns, clock: Clock, **kw: float) -> MemberAddresses:
    return MemberAddresses(["a.ring", "b.ring", "c.ring"], resolve=dns, clock=clock, **kw)


def test_a_member_back_at_a_new_address_is_admitted_after_one_resolution() -> None:
    dns = Dns({"a.ring": {"10.0.0.1"}, "b.ring": {"10.0.0.2"}, "c.ring": {"10.0.0.3"}})
    clock = Clock()
    addresses = members(dns, clock)
    assert addresses.ips == {"10.0.0.1", "10.0.0.2", "10.0.0.3"}
    dns.records["c.ring"] = {"10.0.0.33"}  # c rescheduled
    clock.now += 2

    async def run() -> None:
        assert await addresses.admits("10.0.0.33")
        assert not await addresses.admits("10.0.0.3")  # its old address is forgotten

    asyncio.run(run())
    assert addresses.ips == {"10.0.0.1", "10.0.0.2", "10.0.0.33"}


def test_strangers_get_one_resolution_per_interval() -> None:
    dns = Dns({"a.ring": {"10.0.0.1"}, "b.ring": {"10.0.0.2"}, "c.ring": {"10.0.0.3"}})
    clock = Clock()
    addresses = members(dns, clock, min_interval=1.0)
    at_start = dns.lookups

    async def run() -> None:
        clock.now += 1.0
        results = [await addresses.admits(f"192.0.2.{i}") for i in range(200)]
        assert not any(results)
        assert dns.lookups == at_start + 3  # one resolution of the three hosts, for 200 calls
        clock.now += 0.5
        assert not await addresses.admits("192.0.2.1")
        assert dns.lookups == at_start + 3
        clock.now += 0.5
        assert not await addresses.admits("192.0.2.1")
        assert dns.lookups == at_start + 6

    asyncio.run(run())


def test_calls_during_a_resolution_wait_for_it_and_share_it() -> None:
    dns = Dns({"a.ring": {"10.0.0.1"}, "b.ring": {"10.0.0.2"}, "c.ring": {"10.0.0.3"}})
    clock = Clock()
    addresses = members(dns, clock)
    dns.records["c.ring"] = {"10.0.0.33"}
    clock.now += 5
    at_start = dns.lookups
    dns.gate = threading.Event()

    async def run() -> None:
        calls = [asyncio.create_task(addresses.admits("10.0.0.33")) for _ in range(10)]
        await asyncio.sleep(0)
        assert not any(c.done() for c in calls)
        dns.gate.set()
        assert all(await asyncio.gather(*calls))

    asyncio.run(run())
    assert dns.lookups == at_start + 3


def test_a_host_that_stops_resolving_keeps_its_addresses() -> None:
    dns = Dns({"a.ring": {"10.0.0.1"}, "b.ring": {"10.0.0.2"}, "c.ring": {"10.0.0.3"}})
    clock = Clock()
    addresses = members(dns, clock)
    del dns.records["b.ring"]  # a DNS outage for b
    clock.now += 5

    async def run() -> None:
        assert not await addresses.admits("192.0.2.9")
        assert await addresses.admits("10.0.0.2")

    asyncio.run(run())


def test_a_host_that_never_resolved_stands_for_itself_until_it_does() -> None:
    dns = Dns({"a.ring": {"10.0.0.1"}, "b.ring": {"10.0.0.2"}})  # c's pod is not scheduled yet
    clock = Clock()
    addresses = members(dns, clock)
    assert "c.ring" in addresses.ips
    dns.records["c.ring"] = {"10.0.0.3"}
    clock.now += 5

    async def run() -> None:
        assert await addresses.admits("10.0.0.3")

    asyncio.run(run())
    assert "c.ring" not in addresses.ips


def test_an_old_answer_is_refreshed_in_the_background_without_delaying_a_member() -> None:
    dns = Dns({"a.ring": {"10.0.0.1"}, "b.ring": {"10.0.0.2"}, "c.ring": {"10.0.0.3"}})
    clock = Clock()
    addresses = members(dns, clock, max_age=30.0)
    dns.records["c.ring"] = {"10.0.0.33"}  # c moved; its old address may go to anyone
    clock.now += 31
    dns.gate = threading.Event()

    async def run() -> None:
        assert await addresses.admits("10.0.0.1")  # answered at once, the refresh still running
        dns.gate.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while "10.0.0.3" in addresses.ips and loop.time() < deadline:
            await asyncio.sleep(0.01)
        assert not await addresses.admits("10.0.0.3")

    asyncio.run(run())
    assert addresses.ips == {"10.0.0.1", "10.0.0.2", "10.0.0.33"}


def test_resolve_ips_keeps_a_name_that_does_not_resolve() -> None:
    dns = Dns({"a.ring": {"10.0.0.1", "fd00::1"}})
    assert resolve_ips(["a.ring", "nowhere.ring"], dns) == {"10.0.0.1", "fd00::1", "nowhere.ring"}
