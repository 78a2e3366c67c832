"""The real asyncio engine, in process: several engines on one loop over the in-memory transport.

What subprocess tests cannot show cheaply: the driver carrying out effects in order, the facades
mapping every failure reason to the port's errors, a thread facade waking the loop, failover and
rejoin, all through the codec (the memory network encodes every message to protobuf bytes).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest
from inprocess import FAST, InProcessRing

from ring.backend import Locator
from ring.core import PeerDeclaredDead, ResyncFinished
from ring.errors import SessionExists, SessionInvalidated, SessionTooLarge, SessionUnavailable
from ring.io.facade import EngineBackend

SID = "A" * 43
SID2 = "B" * 43


def run(scenario: Callable[[InProcessRing], Awaitable[None]], names: str = "abc") -> None:
    async def main() -> None:
        ring = InProcessRing(names)
        await ring.start()
        try:
            await scenario(ring)
        finally:
            await ring.stop()

    asyncio.run(asyncio.wait_for(main(), 60))


def test_a_save_commits_after_the_successor_holds_the_backup() -> None:
    async def scenario(ring: InProcessRing) -> None:
        a = ring.backend("a")
        saved = await a.save(SID, 0, b'{"n":1}')
        assert (saved.version, saved.locator, saved.replicated) == (1, Locator("a", "b"), True)
        held = ring.engines["b"].node.copies()[SID]
        assert held.record.data == b'{"n":1}' and held.record.owner == "a"
        loaded = await a.load(SID, None)  # served from the read view: no step
        assert loaded is not None and (loaded.version, loaded.data) == (1, b'{"n":1}')
        assert ring.network.delivered > 0

    run(scenario)


def test_a_load_elsewhere_adopts_the_session_and_rewrites_the_locator() -> None:
    async def scenario(ring: InProcessRing) -> None:
        await ring.backend("a").save(SID, 0, b"v1")
        loaded = await ring.backend("c").load(SID, Locator("a", "b"))
        assert loaded is not None and loaded.data == b"v1" and loaded.version == 2
        assert loaded.locator == Locator("c", "a")
        assert await ring.backend("c").load(SID2, None) is None  # never issued: a new session

    run(scenario)


def test_every_failure_reason_becomes_the_ports_error() -> None:
    async def scenario(ring: InProcessRing) -> None:
        a = ring.backend("a")
        with pytest.raises(SessionTooLarge):
            await a.save(SID, 0, b"x" * (FAST.max_session_size + 1))
        await a.save(SID, 0, b"v1")
        with pytest.raises(SessionExists):  # b holds it as a backup: not a new id
            await ring.backend("b").save(SID, 0, b"other")
        await a.invalidate(SID, 1)
        with pytest.raises(SessionInvalidated):  # a request that loaded v1 before the logout
            await a.save(SID, 1, b"late")

    run(scenario)


def test_a_new_session_beyond_max_sessions_is_unavailable_and_counted() -> None:
    """The port's SessionUnavailable is the HTTP side's 503 (counted by reason: tests/io/test_metrics.py)."""
    async def scenario(ring: InProcessRing) -> None:
        a = ring.backend("a")
        await a.save(SID, 0, b"v1")
        with pytest.raises(SessionUnavailable, match="maximum number of sessions"):
            await a.save(SID2, 0, b"one too many")
        await a.save(SID, 1, b"v2")  # its own sessions are written as before

    async def main() -> None:
        ring = InProcessRing("abc", replace(FAST, max_sessions=1))
        await ring.start()
        try:
            await scenario(ring)
        finally:
            await ring.stop()

    asyncio.run(asyncio.wait_for(main(), 60))


def test_a_thread_waits_on_the_loop_through_the_thread_facade() -> None:
    async def scenario(ring: InProcessRing) -> None:
        backend = EngineBackend(ring.engines["a"])
        results: list[object] = []

        def worker(i: int) -> None:
            sid = chr(ord("C") + i) * 43
            results.append(backend.save(sid, 0, b"t").version)
            loaded = backend.load(sid, None)
            results.append(loaded.data if loaded else None)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        assert await ring.until(lambda: not any(t.is_alive() for t in threads), 10)
        assert sorted(map(str, results)) == sorted(["1"] * 4 + ["b't'"] * 4)

    run(scenario)


def test_a_crashed_instance_is_declared_dead_and_its_sessions_are_adopted_from_the_orphan() -> None:
    async def scenario(ring: InProcessRing) -> None:
        await ring.backend("a").save(SID, 0, b"v1")
        await ring.crash("a")
        declared = lambda: any(isinstance(e, PeerDeclaredDead) and e.peer == "a"  # noqa: E731
                               for e in ring.recorders["b"].events)
        assert await ring.until(declared, 5)
        assert await ring.until(lambda: ring.engines["c"].status().successor == "b", 5)
        loaded = await ring.backend("c").load(SID, Locator("a", "b"))
        assert loaded is not None and loaded.data == b"v1" and loaded.locator == Locator("c", "b")

    run(scenario)


def test_a_restarted_instance_rejoins_and_its_predecessor_resyncs_to_it() -> None:
    async def scenario(ring: InProcessRing) -> None:
        await ring.backend("c").save(SID, 0, b"on c")  # c backs up to a
        await ring.crash("a")
        assert await ring.until(lambda: ring.engines["c"].status().successor == "b", 5)
        ring.recorders["c"].events.clear()
        await ring.restart("a")
        resynced = lambda: any(isinstance(e, ResyncFinished) and e.successor == "a"  # noqa: E731
                               for e in ring.recorders["c"].events)
        assert await ring.until(resynced, 5)
        assert ring.engines["a"].node.copies()[SID].record.data == b"on c"

    run(scenario)


def test_stopping_answers_every_waiting_request() -> None:
    async def scenario(ring: InProcessRing) -> None:
        ring.network.cut("a", "b")  # the save cannot be acknowledged
        pending = asyncio.ensure_future(ring.backend("a").save(SID, 0, b"v1"))
        await asyncio.sleep(0)  # let it reach the engine
        assert not pending.done()
        await ring.engines["a"].stop()
        with pytest.raises(SessionUnavailable, match="stopping"):
            await pending

    run(scenario)
