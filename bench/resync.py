"""Rows 4 and 5: streaming every session to a new successor, and what a backup copy costs in RAM.

One round, in a fresh 2-instance ring a -> b (a in this process with an event log, b a process):

  1. b up and idle: its RSS (VmRSS) is the baseline.
  2. Fill: `sessions` sessions of `payload` bytes written through the async API (`engine.write`
     from 256 tasks), each acknowledged by b. b's RSS again: (after - before) / sessions is the
     resident cost of one backup copy (row 5).
  3. SIGKILL b; wait until a declares it dead (a is alone; its sessions stay primaries).
  4. Start a new b. Row 4 is the time from the new b's "started" event (its ring is running) to
     a's "resync_finished" (every primary acknowledged by b); also shown from a's
     "resync_started" (a noticed b) and from the spawn of the process. Event times are
     time.monotonic() of each process (one clock on one host).
  5. Stop both; the next round starts from scratch.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from bench.loophost import Engine, LoopThread
from bench.procs import Procs, check_exited, rss_bytes, write_server_xml
from ring.core import WriteFailed
from ring.drill.cluster import poll
from ring.io.statusclient import collect

FILL_TASKS = 256


def read_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def first_event(path: Path, kind: str, after: float, **fields: Any) -> dict[str, Any] | None:
    for e in read_events(path):
        if e.get("event") == kind and e.get("mono", 0.0) >= after and all(e.get(k) == v for k, v in fields.items()):
            return e
    return None


async def fill(engine: Engine, sessions: int, payload: int) -> int:
    """Write `sessions` new sessions; returns how many were acknowledged without a backup."""
    base = os.urandom(payload - 8)
    unreplicated = 0

    async def writer(w: int) -> None:
        nonlocal unreplicated
        for j in range(w, sessions, FILL_TASKS):
            result = await engine.write(secrets.token_urlsafe(32), 0, base + j.to_bytes(8, "big"))
            if isinstance(result, WriteFailed):
                raise RuntimeError(f"fill write failed: {result.reason}")
            if not result.replicated:
                unreplicated += 1

    await asyncio.gather(*(writer(w) for w in range(FILL_TASKS)))
    return unreplicated


def backups_held(config: Any, instance: str, owner: str) -> int:
    for row in collect(config, 2.0):
        if row["id"] == instance and row["state"] == "alive":
            return int(row["backups"].get(owner, 0))
    return -1


def resync_round(procs: Procs, loop: LoopThread, workdir: Path, round_no: int, sessions: int,
                 payload: int = 2048) -> dict[str, Any]:
    tag = f"resync{round_no}"
    config = workdir / f"{tag}.xml"
    write_server_xml(config, ["a", "b"])
    a_events, b1_events, b2_events = (workdir / f"{tag}-{n}.events" for n in ("a", "b1", "b2"))
    for p in (a_events, b1_events, b2_events):
        p.unlink(missing_ok=True)
    b1 = procs.ring_serve(f"{tag}-b1", config, "b", event_log=b1_events)
    b2 = None
    engine: Engine | None = None
    try:
        engine = loop.start_engine(config, "a", event_log=a_events)
        if not poll(lambda: loop.call(engine.ready), 30):  # type: ignore[union-attr]
            check_exited(b1, f"{tag}-b1", procs.logdir)
            raise RuntimeError("the resync ring did not become ready")
        time.sleep(1.0)  # b's start-up allocations are done
        rss_before = rss_bytes(b1.pid)
        bench_before = rss_bytes(os.getpid())

        t0 = time.perf_counter()
        unreplicated = loop.run(fill(engine, sessions, payload), 600)
        fill_s = time.perf_counter() - t0
        if not poll(lambda: backups_held(engine.config, "b", "a") == sessions, 30):  # type: ignore[union-attr]
            raise RuntimeError(f"b does not hold the {sessions} backups after the fill")
        time.sleep(0.5)
        rss_after = rss_bytes(b1.pid)
        bench_after = rss_bytes(os.getpid())

        t_kill = time.monotonic()
        procs.kill(b1)
        if not poll(lambda: first_event(a_events, "declared_dead", t_kill, peer="b") is not None, 30):
            raise RuntimeError("a did not declare the killed b dead")
        t_spawn = time.monotonic()
        b2 = procs.ring_serve(f"{tag}-b2", config, "b", event_log=b2_events)

        def finished() -> bool:
            check_exited(b2, f"{tag}-b2", procs.logdir)  # type: ignore[arg-type]
            return first_event(a_events, "resync_finished", t_spawn, successor="b") is not None

        if not poll(finished, 300, interval=0.02):
            raise RuntimeError("the resync to the new b did not finish within 300 s")
        done = first_event(a_events, "resync_finished", t_spawn, successor="b")
        began = first_event(a_events, "resync_started", t_spawn, successor="b")
        b_started = first_event(b2_events, "started", 0.0)
        assert done is not None and began is not None and b_started is not None
        held = backups_held(engine.config, "b", "a")
        rss_resynced = rss_bytes(b2.pid)
        return {
            "sessions": sessions,
            "payload": payload,
            "fill_s": fill_s,
            "fill_ops_s": sessions / fill_s,
            "fill_unreplicated": unreplicated,
            "resync_s": done["mono"] - b_started["mono"],
            "resync_stream_s": done["mono"] - began["mono"],
            "resync_from_spawn_s": done["mono"] - t_spawn,
            "resync_sessions": began.get("sessions"),
            "resync_mb_s": sessions * payload / (done["mono"] - began["mono"]) / 1e6,
            "backups_after_resync": held,
            "rss_before": rss_before,
            "rss_after": rss_after,
            "bytes_per_copy": (rss_after - rss_before) / sessions,
            "rss_after_resync": rss_resynced,
            "bytes_per_copy_resync": (rss_resynced - rss_before) / sessions,
            "primary_bytes_per_session": (bench_after - bench_before) / sessions,
        }
    finally:
        if engine is not None:
            loop.stop_engine(engine)
        procs.stop([p for p in (b1, b2) if p is not None])
        engine = None
        gc.collect()
