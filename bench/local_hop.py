"""The local hop: a web worker's save through the instance on its host, and the protocol choice.

    python -m bench.local_hop [--ops N]

Part 1, the protocol alone (the choice of issue 12): a child process serves one save-shaped
operation (1 KB of data in, a small result out, no engine behind it) on two Unix sockets, with
ring.client.wire frames (msgspec, asyncio streams; what ring.host.local speaks) and with
grpc.aio (a generic unary method, the payload a msgspec message as well). This process calls
each in a loop from one thread, as a sync gunicorn worker would; p50/p99 of the round trip.

Part 2, end to end: a ring a -> b of two `ring serve` processes; this process saves through a's
local socket (worker -> instance -> successor -> ack -> worker) with RingClient and
AsyncRingClient, next to the in-process save of `ring serve --app` (an Engine on a loop thread of
this process, EngineBackend.save from a worker thread, its successor a `ring serve` process).
Target: the local hop's p50 at most 1.3x the in-process save's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import msgspec

from ring.backend import LoadedSession, Locator, SaveResult
from ring.client import AsyncRingClient, RingClient, wire
from ring.drill.cluster import poll

DATA = os.urandom(1024)
_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder()


class InstantBackend:
    """An AsyncSessionBackend that answers at once: the protocol's cost and nothing else."""

    instance_id = "bench"
    max_session_size = 1 << 20

    async def load(self, session_id: str, hint: Locator | None) -> LoadedSession | None:
        return None

    async def save(self, session_id: str, base_version: int, data: bytes, *, touch_only: bool = False, lifetime: float | None = None) -> SaveResult:
        return SaveResult(base_version + 1, Locator("bench", ""), True)

    async def invalidate(self, session_id: str, base_version: int) -> None:
        return None

    def new_session_id(self) -> str:
        return secrets.token_urlsafe(32)

    def replicate_on_read(self) -> bool:
        return False


async def _serve_both(directory: str) -> None:
    from ring.host.local import LocalServer

    backend = InstantBackend()
    framed = LocalServer(backend, os.path.join(directory, "framed.sock"))
    await framed.start()

    async def save(request: bytes, context: Any) -> bytes:
        sid, base, data, touch = _dec.decode(request)
        return _enc.encode(wire.saved_value(await backend.save(sid, base, data, touch_only=touch)))

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "ring.Local", {"Save": grpc.unary_unary_rpc_method_handler(save)}),))
    server.add_insecure_port("unix:" + os.path.join(directory, "grpc.sock"))
    await server.start()
    Path(directory, "ready").write_text("1")
    await asyncio.Event().wait()


def _timed(fn: Callable[[int], object], ops: int, warmup: int = 200) -> list[float]:
    for i in range(warmup):
        fn(i)
    out = []
    for i in range(ops):
        t = time.perf_counter_ns()
        fn(i)
        out.append((time.perf_counter_ns() - t) / 1000)
    return out


def _row(name: str, us: list[float]) -> tuple[str, float, float]:
    us = sorted(us)
    p50, p99 = statistics.median(us), us[int(len(us) * 0.99) - 1]
    print(f"  {name:<44} p50 {p50:8.1f} us   p99 {p99:8.1f} us   ({len(us)} ops)")
    return name, p50, p99


def protocol_rows(ops: int) -> None:
    import subprocess

    print("part 1: the protocol alone (a save-shaped call, 1 KB, an instant backend)")
    directory = tempfile.mkdtemp(prefix="ringhop")
    child = subprocess.Popen([sys.executable, "-m", "bench.local_hop", "--serve", directory])
    try:
        if not poll(lambda: Path(directory, "ready").exists(), 20):
            raise RuntimeError("the protocol server did not start")
        sid = secrets.token_urlsafe(32)
        client = RingClient(os.path.join(directory, "framed.sock"))
        _row("framed msgspec (RingClient, sync)", _timed(lambda i: client.save(sid, i + 1, DATA), ops))

        async def async_rows() -> list[float]:
            aclient = AsyncRingClient(os.path.join(directory, "framed.sock"))
            out = []
            for i in range(ops + 200):
                t = time.perf_counter_ns()
                await aclient.save(sid, i + 1, DATA)
                out.append((time.perf_counter_ns() - t) / 1000)
            await aclient.aclose()
            return out[200:]

        _row("framed msgspec (AsyncRingClient, asyncio)", asyncio.run(async_rows()))
        channel = grpc.insecure_channel("unix:" + os.path.join(directory, "grpc.sock"))
        call = channel.unary_unary("/ring.Local/Save")
        _row("gRPC unary over the same kind of socket (sync)",
             _timed(lambda i: _dec.decode(call(_enc.encode([sid, i + 1, DATA, False]), timeout=5)), ops))
        channel.close()
    finally:
        child.kill()
        child.wait(10)


def end_to_end_rows(ops: int) -> None:
    from bench.loophost import LoopThread
    from bench.procs import Procs, write_server_xml

    print("part 2: end to end, 1 KB saves, a 2-instance ring (each save acknowledged by the successor)")
    work = Path(tempfile.mkdtemp(prefix="ringhop"))
    procs = Procs(work / "logs")
    try:
        ring = work / "hop.xml"
        write_server_xml(ring, ["a", "b"])
        text = ring.read_text().replace("</cluster>", "<session-replication><local-socket>"
                                        f"{work}/{{id}}.sock</local-socket></session-replication></cluster>")
        ring.write_text(text)
        procs.ring_serve("hop-b", ring, "b")
        procs.ring_serve("hop-a", ring, "a")
        if not poll(lambda: os.path.exists(work / "a.sock"), 30):
            raise RuntimeError("instance a did not open its local socket")
        client = RingClient(str(work / "a.sock"))
        sid = client.new_session_id()
        version = [client.save(sid, 0, DATA).version]
        if not poll(lambda: client.save(sid, version[0], DATA).replicated or False, 30):
            raise RuntimeError("a's successor never acknowledged")
        version[0] = client.load(sid, None).version  # type: ignore[union-attr]

        def save(_: int) -> None:
            version[0] = client.save(sid, version[0], DATA).version

        hop = _row("local hop, RingClient -> a -> b -> a -> client", _timed(save, ops))

        inproc = work / "inproc.xml"
        write_server_xml(inproc, ["x", "y"])
        procs.ring_serve("inproc-y", inproc, "y")
        loop = LoopThread()
        engine = loop.start_engine(inproc, "x")
        loop.wait_ready(engine)
        backend = engine.backend
        isid = backend.new_session_id()
        iversion = [backend.save(isid, 0, DATA).version]

        def isave(_: int) -> None:
            iversion[0] = backend.save(isid, iversion[0], DATA).version

        base = _row("in-process save, EngineBackend (ring serve --app)", _timed(isave, ops))
        print(f"  local hop / in-process p50: {hop[1] / base[1]:.2f}x (target <= 1.3x)")
        loop.stop_engine(engine)
    finally:
        procs.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=3000)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve_both(args.serve))
        return
    protocol_rows(args.ops)
    end_to_end_rows(args.ops)


if __name__ == "__main__":
    main()
