"""One asyncio event loop in a background thread, hosting the in-process primary Engines.

This is the shape `ring serve --http` has: the engine on its loop, WSGI-style worker threads
handing calls to it through EngineBackend.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from ring.backend import SaveResult
from ring.drill.cluster import poll
from ring.host.instance import Instance
from ring.io.facade import AsyncEngineBackend, EngineBackend
from ring.serverxml import load_server_xml

T = TypeVar("T")


class Engine:
    """The bench's handle on one in-process instance (the engine API in one place)."""

    def __init__(self, instance: Instance) -> None:
        assert instance.engine is not None
        self.instance = instance
        self.me = instance.me
        self.config = instance.config
        self.node = instance.node
        self.backend = EngineBackend(instance.engine)  # for threads
        self._async = AsyncEngineBackend(instance.engine)  # on the loop

    def ready(self) -> bool:
        return self.instance.ready()

    async def write(self, session_id: str, base_version: int, data: bytes) -> SaveResult:
        return await self._async.save(session_id, base_version, data)


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="bench-engine-loop", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """fn() on the loop thread (the engine's state is only touched there)."""
        async def wrapper() -> T:
            return fn()

        return self.run(wrapper(), timeout)

    def start_engine(self, config_path: Path, me: str, *, event_log: Path | None = None) -> Engine:
        instance = Instance(load_server_xml(str(config_path)), me, event_log=str(event_log) if event_log else None)

        async def start() -> None:
            await instance.listen()
            instance.start()

        self.run(start(), 30)
        return Engine(instance)

    def wait_ready(self, engine: Engine, timeout: float = 30.0) -> None:
        if not poll(lambda: self.call(engine.ready), timeout):
            raise RuntimeError(f"engine {engine.me} did not become ready (its successor did not answer)")

    def stop_engine(self, engine: Engine) -> None:
        try:
            self.run(engine.instance.stop(), 15)
        except Exception:  # noqa: BLE001 - stopping is best effort; the run goes on
            pass

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
