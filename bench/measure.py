"""Load drivers and statistics.

A repeat runs `ops` operations split over N concurrent writers (threads, or tasks on the engine's
loop), each writer first doing its share of the warm-up. The timed section starts when every
writer has warmed up and ends when the last one finishes. Latency is issue -> answer of each op
(perf_counter_ns); p50/p99 are over all ops of the repeat (nearest rank). CPU: this process's CPU
time over the timed section (every thread: clients, and the in-process primary when there is one)
and the CPU time of the named server processes, both per op.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from array import array
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bench.procs import cpu_of

Op = Callable[[int], object]
AsyncOp = Callable[[int], Awaitable[object]]


@dataclass
class Sample:
    ops: int
    seconds: float
    latencies_ns: array  # type: ignore[type-arg]
    cpu_bench: float
    cpu_servers: float

    def metrics(self) -> dict[str, float]:
        lat = sorted(self.latencies_ns)
        return {
            "ops": self.ops,
            "seconds": self.seconds,
            "ops_s": self.ops / self.seconds if self.seconds > 0 else 0.0,
            "p50_us": percentile(lat, 0.50) / 1000,
            "p99_us": percentile(lat, 0.99) / 1000,
            "cpu_bench_us_op": 1e6 * self.cpu_bench / max(1, self.ops),
            "cpu_server_us_op": 1e6 * self.cpu_servers / max(1, self.ops),
        }


def percentile(sorted_values: Sequence[int], q: float) -> float:
    if not sorted_values:
        return float("nan")
    rank = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return float(sorted_values[rank])


def shares(total: int, n: int) -> list[int]:
    return [total // n + (1 if w < total % n else 0) for w in range(n)]


def run_threads(n: int, ops: int, warmup: int, make_op: Callable[[int, int], Op],
                server_pids: Sequence[int] = ()) -> Sample:
    """n threads; make_op(w, n) builds writer w's op (called in its thread)."""
    counts, warm = shares(ops, n), shares(warmup, n)
    lats = [array("q") for _ in range(n)]
    errors: list[BaseException] = []
    ready = threading.Barrier(n + 1)
    go = threading.Event()

    def writer(w: int) -> None:
        try:
            op = make_op(w, n)
            for i in range(warm[w]):
                op(i)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
            ready.abort()
            return
        ready.wait()
        go.wait()
        lat, clock = lats[w], time.perf_counter_ns
        try:
            for i in range(warm[w], warm[w] + counts[w]):
                t = clock()
                op(i)
                lat.append(clock() - t)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,), name=f"bench-writer-{w}", daemon=True)
               for w in range(n)]
    for t in threads:
        t.start()
    try:
        ready.wait()
    except threading.BrokenBarrierError:
        for t in threads:
            t.join()
        raise errors[0] from None
    cpu0, srv0, t0 = time.process_time(), cpu_of(server_pids), time.perf_counter()
    go.set()
    for t in threads:
        t.join()
    t1, cpu1, srv1 = time.perf_counter(), time.process_time(), cpu_of(server_pids)
    if errors:
        raise errors[0]
    merged = array("q")
    for lat in lats:
        merged.extend(lat)
    return Sample(ops, t1 - t0, merged, cpu1 - cpu0, srv1 - srv0)


async def run_tasks(n: int, ops: int, warmup: int, make_op: Callable[[int, int], AsyncOp],
                    server_pids: Sequence[int] = ()) -> Sample:
    """n tasks on the running loop; make_op(w, n) builds task w's op."""
    counts, warm = shares(ops, n), shares(warmup, n)
    lats = [array("q") for _ in range(n)]

    async def warm_up(w: int) -> AsyncOp:
        op = make_op(w, n)
        for i in range(warm[w]):
            await op(i)
        return op

    ops_by_writer = await asyncio.gather(*(warm_up(w) for w in range(n)))

    async def timed(w: int) -> None:
        op, lat, clock = ops_by_writer[w], lats[w], time.perf_counter_ns
        for i in range(warm[w], warm[w] + counts[w]):
            t = clock()
            await op(i)
            lat.append(clock() - t)

    cpu0, srv0, t0 = time.process_time(), cpu_of(server_pids), time.perf_counter()
    await asyncio.gather(*(timed(w) for w in range(n)))
    t1, cpu1, srv1 = time.perf_counter(), time.process_time(), cpu_of(server_pids)
    merged = array("q")
    for lat in lats:
        merged.extend(lat)
    return Sample(ops, t1 - t0, merged, cpu1 - cpu0, srv1 - srv0)
