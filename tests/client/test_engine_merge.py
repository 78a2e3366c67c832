"""The engine's facades refuse a stale base (the port's SessionStale), and the merge works over
the real engine: in process, three engines over the in-memory transport (tests/io/inprocess.py),
and through the local socket served on the engine's own loop."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "io"))
from inprocess import InProcessRing  # noqa: E402

from ring.client import AsyncRingClient  # noqa: E402
from ring.errors import SessionExists, SessionInvalidated, SessionStale  # noqa: E402
from ring.host.local import LocalServer  # noqa: E402
from ring.io.facade import EngineBackend  # noqa: E402
from ring.web import merge  # noqa: E402

SID = "S" * 43


def run(scenario: Callable[[InProcessRing], Awaitable[None]]) -> None:
    async def main() -> None:
        ring = InProcessRing("abc")
        await ring.start()
        try:
            await scenario(ring)
        finally:
            await ring.stop()

    asyncio.run(asyncio.wait_for(main(), 60))


def enc(c: object) -> bytes:
    return json.dumps(c, sort_keys=True).encode()


def test_a_stale_base_writes_nothing_and_a_create_of_a_held_id_is_refused() -> None:
    async def scenario(ring: InProcessRing) -> None:
        a = ring.backend("a")
        await a.save(SID, 0, b'{"n":1}')
        with pytest.raises(SessionExists):
            await a.save(SID, 0, b'{"n":9}')
        assert (await a.save(SID, 1, b'{"n":2}')).version == 2
        with pytest.raises(SessionStale):
            await a.save(SID, 1, b'{"n":3}')
        loaded = await a.load(SID, None)
        assert loaded is not None and (loaded.version, loaded.data) == (2, b'{"n":2}')
        assert (await a.save(SID, 1, b'{"n":2}', touch_only=True)).version == 3  # a touch is not conditional

    run(scenario)


def test_the_thread_facade_refuses_a_stale_base_too() -> None:
    async def scenario(ring: InProcessRing) -> None:
        a = EngineBackend(ring.engines["a"])
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, lambda: a.save(SID, 0, b"{}"))
        await loop.run_in_executor(None, lambda: a.save(SID, 1, b'{"x":1}'))
        with pytest.raises(SessionStale):
            await loop.run_in_executor(None, lambda: a.save(SID, 1, b'{"y":1}'))

    run(scenario)


def test_a_session_adopted_elsewhere_since_the_load_is_merged_back() -> None:
    async def scenario(ring: InProcessRing) -> None:
        a, c = ring.backend("a"), ring.backend("c")
        await a.save(SID, 0, enc({"start": 1}))
        mine = await a.load(SID, None)
        assert mine is not None
        other = await c.load(SID, None)  # another request, on c, adopts it and saves a key
        assert other is not None
        await c.save(SID, other.version, enc({"start": 1, "x": 1}))
        with pytest.raises(SessionStale):  # a no longer holds it
            await a.save(SID, mine.version, enc({"start": 1, "y": 1}))
        change = merge.Delta({"y": 1}, frozenset())
        merged = await merge.asave_merging(a, SID, mine.version, mine.data, change, {"start": 1, "y": 1},
                                           encode=enc, decode=json.loads)
        assert merged.contents == {"start": 1, "x": 1, "y": 1} and merged.result.locator.primary == "a"

    run(scenario)


def test_a_logout_elsewhere_beats_the_merge() -> None:
    async def scenario(ring: InProcessRing) -> None:
        a, b = ring.backend("a"), ring.backend("b")
        await a.save(SID, 0, enc({"user": "u"}))
        mine = await a.load(SID, None)
        assert mine is not None
        theirs = await a.load(SID, None)
        assert theirs is not None
        await a.invalidate(SID, theirs.version)
        with pytest.raises(SessionInvalidated):
            await merge.asave_merging(a, SID, mine.version, mine.data, merge.Delta({"cart": 1}, frozenset()),
                                      {"user": "u", "cart": 1}, encode=enc, decode=json.loads)
        assert await b.load(SID, None) is None

    run(scenario)


def test_merge_through_the_local_socket_on_the_engine_loop() -> None:
    async def scenario(ring: InProcessRing) -> None:
        directory = tempfile.mkdtemp(prefix="ringm")
        server = LocalServer(ring.backend("a"), str(Path(directory) / "a.sock"))
        await server.start()
        try:
            client = AsyncRingClient(str(Path(directory) / "a.sock"))
            await client.save(SID, 0, enc({"start": 1}))
            one, two = await client.load(SID, None), await client.load(SID, None)
            assert one is not None and two is not None
            await client.save(SID, one.version, enc({"start": 1, "x": 1}))
            merged = await merge.asave_merging(client, SID, two.version, two.data,
                                               merge.Delta({"y": 1}, frozenset()), {"start": 1, "y": 1},
                                               encode=enc, decode=json.loads)
            assert merged.contents == {"start": 1, "x": 1, "y": 1}
            await client.aclose()
        finally:
            await server.stop()
            shutil.rmtree(directory, ignore_errors=True)

    run(scenario)
