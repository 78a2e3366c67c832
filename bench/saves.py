"""Rows 1, 2 and 6: one synchronous session write, through the engine and through redis-py.

Engine (row 1): a 2-instance ring a -> b; `a` is an Engine in this process (LoopThread), `b` a
`ring serve` process. Writers are threads calling `engine.backend.save(sid, base, data)` as
the WSGI middleware does, or tasks on the loop awaiting `engine.write(...)` (the async API, no
thread hop). Session ids rotate over 1000 per payload, split between the writers so no two
writers touch one id; the first save of an id has base version 0, later ones the version returned.

Redis (row 2): redis-py SET to a standalone redis-server, and SET + `WAIT 1 1000` to a primary
with one replica (its synchronous-replication equivalent). One client object (one connection
pool) is shared by all the threads of a row.

Scaling (row 6): the engine row at 1 writer, 1 KB, in rings of 4, 8 and 16 instances: the primary
in this process, every other instance a `ring serve` process (idle but for the successor).
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

from bench.loophost import Engine, LoopThread
from bench.measure import AsyncOp, Op, run_tasks, run_threads
from bench.procs import Procs, RedisServer, check_exited, cpu_of, instance_ids, write_server_xml
from ring.core import WriteFailed
from ring.core.topology import is_single_cycle
from ring.drill.cluster import poll

PAYLOADS = {"1KB": 1024, "4KB": 4096}
KEYS = 1000
WAIT_TIMEOUT_MS = 1000


class Workload:
    """Payloads and session ids (1000 per payload) with the version each id is at."""

    def __init__(self) -> None:
        self.data = {name: os.urandom(size) for name, size in PAYLOADS.items()}
        self.ids = {name: [secrets.token_urlsafe(32) for _ in range(KEYS)] for name in PAYLOADS}
        self.versions: dict[str, int] = {}


class EngineRig:
    """Row 1's ring: primary `a` in this process, backup `b` as a process."""

    def __init__(self, procs: Procs, loop: LoopThread, workdir: Path) -> None:
        self.loop = loop
        config = workdir / "save-ring.xml"
        write_server_xml(config, ["a", "b"])
        self.backup = procs.ring_serve("save-b", config, "b")
        self.engine: Engine | None = loop.start_engine(config, "a")
        if not poll(lambda: self.engine is not None and loop.call(self.engine.ready), 30):
            check_exited(self.backup, "save-b", procs.logdir)
            raise RuntimeError("the save ring did not become ready")
        self.backend = self.engine.backend
        self.work = Workload()

    def close(self) -> None:
        if self.engine is not None:
            self.loop.stop_engine(self.engine)
            self.engine = None

    def sync_row(self, payload: str, writers: int, ops: int, warmup: int) -> dict[str, Any]:
        ids, data, versions, backend = self.work.ids[payload], self.work.data[payload], self.work.versions, self.backend
        unreplicated = [0]

        def make(w: int, n: int) -> Op:
            mine = ids[w::n]

            def op(i: int) -> None:
                sid = mine[i % len(mine)]
                result = backend.save(sid, versions.get(sid, 0), data)
                versions[sid] = result.version
                if not result.replicated:
                    unreplicated[0] += 1

            return op

        m = run_threads(writers, ops, warmup, make, [self.backup.pid]).metrics()
        return {**m, "unreplicated": unreplicated[0]}

    def async_row(self, payload: str, tasks: int, ops: int, warmup: int) -> dict[str, Any]:
        ids, data, versions = self.work.ids[payload], self.work.data[payload], self.work.versions
        engine = self.engine
        assert engine is not None
        unreplicated = [0]

        def make(w: int, n: int) -> AsyncOp:
            mine = ids[w::n]

            async def op(i: int) -> None:
                sid = mine[i % len(mine)]
                result = await engine.write(sid, versions.get(sid, 0), data)
                if isinstance(result, WriteFailed):
                    raise RuntimeError(f"write failed: {result.reason}")
                versions[sid] = result.version
                if not result.replicated:
                    unreplicated[0] += 1

            return op

        m = self.loop.run(run_tasks(tasks, ops, warmup, make, [self.backup.pid])).metrics()
        return {**m, "unreplicated": unreplicated[0]}


class RedisRig:
    """Row 2's servers: one standalone (SET), one primary with one replica (SET + WAIT)."""

    def __init__(self, procs: Procs) -> None:
        self.plain = RedisServer(procs, "redis-set")
        self.primary = RedisServer(procs, "redis-primary")
        self.plain.wait_ready(procs.logdir)
        self.primary.wait_ready(procs.logdir)
        self.replica = RedisServer(procs, "redis-replica", replica_of=self.primary)
        self.replica.wait_ready(procs.logdir)
        self.work = Workload()

    def set_row(self, payload: str, threads: int, ops: int, warmup: int, *, wait: bool) -> dict[str, Any]:
        server = self.primary if wait else self.plain
        pids = [self.primary.pid, self.replica.pid] if wait else [self.plain.pid]
        keys = [f"s:{sid}".encode() for sid in self.work.ids[payload]]
        data = self.work.data[payload]
        client = server.client()  # one connection pool for every thread of the row
        short = [0]

        def make(w: int, n: int) -> Op:
            mine = keys[w::n]
            if not wait:
                def op(i: int) -> None:
                    client.set(mine[i % len(mine)], data)
            else:
                def op(i: int) -> None:
                    client.set(mine[i % len(mine)], data)
                    if client.execute_command("WAIT", 1, WAIT_TIMEOUT_MS) < 1:
                        short[0] += 1
            return op

        try:
            m = run_threads(threads, ops, warmup, make, pids).metrics()
        finally:
            client.close()
        return {**m, "wait_short": short[0]} if wait else m


def scaling_row(procs: Procs, loop: LoopThread, workdir: Path, size: int, ops: int, warmup: int,
                settle: float = 1.0) -> dict[str, Any]:
    """Save latency at 1 writer, 1 KB, with the primary in a ring of `size` instances."""
    ids = instance_ids(size)
    config = workdir / f"scale-{size}.xml"
    write_server_xml(config, ids)
    others = {i: procs.ring_serve(f"scale{size}-{i}", config, i) for i in ids[1:]}
    successor, idle = others[ids[1]], [p for i, p in others.items() if i != ids[1]]
    engine: Engine | None = None
    try:
        engine = loop.start_engine(config, ids[0])
        from ring.io.statusclient import collect

        def healed() -> bool:
            for name, p in others.items():
                check_exited(p, f"scale{size}-{name}", procs.logdir)
            st = loop.call(lambda: engine.node.inspect(time.monotonic()))  # type: ignore[union-attr]
            if len(st.alive) != size or st.resyncing or not st.lease_valid:
                return False
            rows = collect(engine.config, 0.5)
            if any(r["state"] != "alive" or r["resyncing"] for r in rows):
                return False
            return is_single_cycle({r["id"]: r["successor"] for r in rows})

        if not poll(healed, 60 + 2 * size, interval=0.25):
            raise RuntimeError(f"the ring of {size} did not settle; see {procs.logdir}/scale{size}-*.log")
        time.sleep(settle)  # the last joins' resyncs and view changes are over
        t0, idle0 = time.perf_counter(), cpu_of([p.pid for p in idle])
        time.sleep(settle)
        idle_cores = (cpu_of([p.pid for p in idle]) - idle0) / (time.perf_counter() - t0)

        backend = engine.backend
        data = os.urandom(1024)
        sids = [secrets.token_urlsafe(32) for _ in range(KEYS)]
        versions: dict[str, int] = {}

        def make(w: int, n: int) -> Op:
            def op(i: int) -> None:
                sid = sids[i % KEYS]
                versions[sid] = backend.save(sid, versions.get(sid, 0), data).version
            return op

        others0 = cpu_of([p.pid for p in idle])
        sample = run_threads(1, ops, warmup, make, [successor.pid])
        others_cores = (cpu_of([p.pid for p in idle]) - others0) / sample.seconds
        return {**sample.metrics(), "instances": size, "idle_instances_cores_before": idle_cores,
                "idle_instances_cores_during": others_cores}
    finally:
        if engine is not None:
            loop.stop_engine(engine)
        procs.stop(list(others.values()))
