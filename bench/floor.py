"""The transport floor: a bare grpc.aio bidi stream ping-pong, no engine (context for row 1).

`python -m bench.floor --port P` serves one generic bidi method that answers every message with
a 2-byte ack. The client side runs on the bench's LoopThread, one stream, one message in flight,
called either from a thread through run_coroutine_threadsafe (the shape of EngineBackend) or from
a task on the loop (the shape of engine.write). Raw bytes, no protobuf, no core, no store: the
engine's save row minus this row is what the engine itself adds per write.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc

from bench.loophost import LoopThread
from bench.measure import AsyncOp, Op, run_tasks, run_threads
from bench.procs import Procs, check_exited
from ring.drill.cluster import free_port, poll

METHOD = "/bench.Echo/Stream"


async def _echo(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
    async for _ in requests:
        yield b"ok"


async def _serve(port: int) -> None:
    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Stream": grpc.stream_stream_rpc_method_handler(_echo)})
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(0.2)


class FloorRig:
    def __init__(self, procs: Procs, loop: LoopThread, workdir: Path) -> None:
        del workdir
        self.loop = loop
        port = free_port()
        self.server = procs.spawn("grpc-floor", [sys.executable, "-m", "bench.floor", "--port", str(port)])
        self.channel: Any = None
        self.call: Any = None

        async def connect() -> bool:
            if self.channel is None:
                self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
            try:
                await asyncio.wait_for(self.channel.channel_ready(), 0.5)
            except TimeoutError:
                return False
            self.call = self.channel.stream_stream(METHOD)()
            return True

        def up() -> bool:
            check_exited(self.server, "grpc-floor", procs.logdir)
            return loop.run(connect(), 5)

        if not poll(up, 30):
            raise RuntimeError("the gRPC floor server did not come up")

    async def _roundtrip(self, data: bytes) -> None:
        await self.call.write(data)
        await self.call.read()

    def sync_row(self, data: bytes, ops: int, warmup: int) -> dict[str, Any]:
        loop = self.loop.loop

        def make(w: int, n: int) -> Op:
            def op(i: int) -> None:
                asyncio.run_coroutine_threadsafe(self._roundtrip(data), loop).result(10)
            return op

        return run_threads(1, ops, warmup, make, [self.server.pid]).metrics()

    def async_row(self, data: bytes, ops: int, warmup: int) -> dict[str, Any]:
        def make(w: int, n: int) -> AsyncOp:
            async def op(i: int) -> None:
                await self._roundtrip(data)
            return op

        return self.loop.run(run_tasks(1, ops, warmup, make, [self.server.pid])).metrics()

    def close(self) -> None:
        async def close() -> None:
            if self.call is not None:
                self.call.cancel()
            if self.channel is not None:
                await self.channel.close()

        try:
            self.loop.run(close(), 5)
        except Exception:  # noqa: BLE001 - best effort at the end of the run
            pass


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.floor")
    p.add_argument("--port", type=int, required=True)
    asyncio.run(_serve(p.parse_args().port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
