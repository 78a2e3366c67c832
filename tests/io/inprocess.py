"""Real engines of one process on one asyncio loop, wired by the in-memory transport.

`InProcessRing(names, settings)` builds a Node and an Engine per name on a MemoryNetwork, each
with a recording event sink; `await ring.start()` binds and starts them. Faults are the
network's (`cut`, `heal`) and `await ring.crash(name)` (the engine stops and is unreachable).
Waiting is `await ring.until(condition, timeout)`: polling with a deadline, never a bare sleep.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from ring.core import CoreSettings, Effect, Node, RequestOutcome
from ring.io.facade import AsyncEngineBackend
from ring.io.memory import MemoryNetwork
from ring.io.runtime import Engine
from ring.io.transport import CallTimeouts

FAST = CoreSettings(ping_interval=0.05, failure_timeout=0.3, request_timeout=2.0)


class Recorder:
    """An EventSink that keeps what it is told."""

    def __init__(self) -> None:
        self.events: list[Effect] = []
        self.outcomes: list[RequestOutcome] = []
        self.notes: list[str] = []

    def ring_event(self, effect: Effect) -> None:
        self.events.append(effect)

    def outcome(self, effect: RequestOutcome, op: str = "", seconds: float = 0.0) -> None:
        self.outcomes.append(effect)

    def batch_sent(self, records: int) -> None:
        pass

    def note(self, kind: str, **fields: object) -> None:
        self.notes.append(kind)


class InProcessRing:
    def __init__(self, names: str = "abc", settings: CoreSettings = FAST) -> None:
        self.names = tuple(names)
        self.settings = settings
        self.network = MemoryNetwork(CallTimeouts.of(settings))
        self.engines: dict[str, Engine] = {}
        self.recorders: dict[str, Recorder] = {}
        self._incarnation = 0
        for name in self.names:
            self._build(name)

    def _build(self, name: str) -> Engine:
        self._incarnation += 1
        node = Node(name, self.names, self.settings, incarnation=self._incarnation,
                    now=time.monotonic(), wall_now=time.time())
        recorder = Recorder()
        engine = Engine(node, recorder, transport=lambda deliver: self.network.transport(name, deliver))
        self.engines[name], self.recorders[name] = engine, recorder
        self.network.attach(name, engine.handle)
        return engine

    async def start(self) -> None:
        for engine in self.engines.values():
            engine.bind()
            engine.start()
        assert await self.until(self.formed, 10.0), "the ring did not form"

    def formed(self) -> bool:
        return all(e.running and e.ready() and e.status().alive == self.live() for e in self.engines.values()
                   if e.running)

    def live(self) -> tuple[str, ...]:
        return tuple(n for n in self.names if self.engines[n].running)

    def backend(self, name: str) -> AsyncEngineBackend:
        return AsyncEngineBackend(self.engines[name])

    async def crash(self, name: str) -> None:
        self.network.detach(name)
        await self.engines[name].stop()

    async def restart(self, name: str) -> Engine:
        engine = self._build(name)
        engine.bind()
        engine.start()
        return engine

    async def until(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def stop(self) -> None:
        for engine in self.engines.values():
            if engine.running:
                await engine.stop()
