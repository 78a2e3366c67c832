"""`python -m bench [--quick] [--rounds N] [--ops N] [--only ROWS]`: set up, run the rounds, report.

Rows (for --only, comma-separated names or numbers): 1 save (the engine, with the bare-gRPC floor
rows), 2 redis (redis-py SET and SET+WAIT), 3 http, 4 resync, 5 memory (4 and 5 are one
experiment), 6 scaling, 7 asgi (`ring serve --asgi` and uvicorn workers on the local socket, each
against redis.asyncio on the same server; load from wrk, or the Python generator without it).
Progress goes to stderr; the markdown table to stdout; JSON to --out (bench/results/latest.json).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procs import REPO

GROUPS = {"1": "save", "2": "redis", "3": "http", "4": "resync", "5": "resync", "6": "scaling", "7": "asgi",
          "save": "save", "engine": "save", "redis": "redis", "http": "http", "resync": "resync",
          "memory": "resync", "scaling": "scaling", "asgi": "asgi"}
DEFAULT_OUT = REPO / "bench" / "results" / "latest.json"


@dataclass
class Unit:
    key: str
    label: str
    run: Callable[[int], dict[str, Any]]  # round number -> metrics


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0] if __doc__ else "")
    p.add_argument("--quick", action="store_true", help="tiny counts (a smoke run, well under a minute)")
    p.add_argument("--rounds", type=int, help="interleaved rounds (default 3; quick 1)")
    p.add_argument("--ops", type=int, help="ops (or HTTP requests) per repeat (default 10000; quick 200)")
    p.add_argument("--warmup", type=int, help="warm-up ops per repeat (default min(1000, ops/10))")
    p.add_argument("--only", help="rows to run: save,redis,http,resync,memory,scaling,asgi or 1-7 (default all)")
    p.add_argument("--sessions", type=int, help="sessions for resync/memory (default 100000; quick 2000)")
    p.add_argument("--ring-sizes", help="ring sizes for scaling (default 4,8,16; quick 3,4)")
    p.add_argument("--users", type=int, default=8, help="HTTP users (default 8)")
    p.add_argument("--threads", type=int, default=8, help="waitress threads of every HTTP server (default 8)")
    p.add_argument("--payloads", default="1KB,4KB", help="payloads of rows 1-2 (default 1KB,4KB)")
    p.add_argument("--asgi-seconds", type=int, help="seconds of wrk load per row 7 repeat (default 10; quick 1)")
    p.add_argument("--asgi-workers", type=int, default=2, help="uvicorn workers of row 7's worker rows (default 2)")
    p.add_argument("--asgi-load", choices=("auto", "wrk", "python"), default="auto",
                   help="row 7's load generator: wrk, or the Python one of row 3 (default: wrk when installed)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output (default bench/results/latest.json)")
    p.add_argument("--workdir", type=Path, help="configs, event logs and process logs (default: next to --out)")
    args = p.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.ops = args.ops or (200 if args.quick else 10_000)
    args.warmup = args.warmup if args.warmup is not None else min(1000, args.ops // 10)
    args.sessions = args.sessions or (2_000 if args.quick else 100_000)
    args.asgi_seconds = args.asgi_seconds or (1 if args.quick else 10)
    if args.asgi_seconds < 1:
        p.error("--asgi-seconds: wrk runs whole seconds, at least 1")
    args.ring_sizes = [int(s) for s in (args.ring_sizes or ("3,4" if args.quick else "4,8,16")).split(",")]
    if any(n < 2 for n in args.ring_sizes):
        p.error("--ring-sizes: every ring needs at least 2 instances")
    try:
        args.groups = ({GROUPS[g.strip().lower()] for g in args.only.split(",") if g.strip()} if args.only
                       else set(GROUPS.values()))
    except KeyError as exc:
        p.error(f"--only: unknown row {exc.args[0]!r}; use save,redis,http,resync,memory,scaling,asgi or 1-7")
    from bench.saves import PAYLOADS

    args.payloads = [s.strip() for s in args.payloads.split(",")]
    if any(s not in PAYLOADS for s in args.payloads):
        p.error(f"--payloads: choose from {','.join(PAYLOADS)}")
    args.workdir = args.workdir or args.out.parent / "logs"
    return args


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if args.workdir.exists():
        shutil.rmtree(args.workdir)
    args.workdir.mkdir(parents=True)
    logging.basicConfig(level=logging.WARNING, filename=args.workdir / "bench-process.log",
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _terminate)

    from bench.loophost import LoopThread
    from bench.procs import Procs

    procs = Procs(args.workdir)
    loop = LoopThread()
    closers: list[Callable[[], None]] = []
    results: dict[str, dict[str, Any]] = {}
    started, t_start = time.strftime("%Y-%m-%d %H:%M:%S"), time.monotonic()
    redis_version = "-"
    status = 0
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=False) as progress:
            setup = progress.add_task("setting up", total=None)
            units, redis_version = build_units(args, procs, loop, closers, progress, setup)
            progress.update(setup, description="set up", total=1, completed=1)
            task = progress.add_task("rounds", total=len(units) * args.rounds)
            for r in range(args.rounds):
                for unit in units:
                    progress.update(task, description=f"round {r + 1}/{args.rounds}: {unit.label}")
                    t_unit = time.monotonic()
                    metrics = unit.run(r)
                    if not console.is_terminal:  # no live bar: one line per finished unit
                        console.print(f"round {r + 1}/{args.rounds}: {unit.label}: {time.monotonic() - t_unit:.1f} s",
                                      highlight=False)
                    slot = results.setdefault(unit.key, {"label": unit.label, "rounds": []})
                    slot["rounds"].append(metrics)
                    progress.advance(task)
                    gc.collect()
    except KeyboardInterrupt:
        console.print("[red]interrupted: stopping every process[/]")
        status = 130
    except Exception:  # noqa: BLE001 - report what was measured so far, then fail
        console.print(f"[red]bench failed:[/]\n{traceback.format_exc()}logs: {args.workdir}")
        status = 1
    finally:
        for close in reversed(closers):
            try:
                close()
            except Exception:  # noqa: BLE001
                pass
        procs.close()
        loop.close()

    if not results:
        return status or 1
    return write_report(args, results, started, time.monotonic() - t_start, redis_version) or status


def build_units(args: argparse.Namespace, procs: Any, loop: Any, closers: list[Callable[[], None]],
                progress: Any, setup: Any) -> tuple[list[Unit], str]:
    from bench.resync import resync_round
    from bench.saves import EngineRig, RedisRig, scaling_row

    g, ops, warm = args.groups, args.ops, args.warmup
    units: list[Unit] = []
    redis_rig = engine_rig = web_rig = floor_rig = None
    redis_version = "-"
    if g & {"redis", "http", "asgi"}:
        progress.update(setup, description="setting up: redis-servers (standalone, primary + replica)")
        redis_rig = RedisRig(procs)
        redis_version = redis_rig.plain.version()
    if "save" in g:
        progress.update(setup, description="setting up: ring a (in-process) -> b (process)")
        engine_rig = EngineRig(procs, loop, args.workdir)
        closers.append(engine_rig.close)
        progress.update(setup, description="setting up: bare gRPC stream server (the transport floor)")
        from bench.floor import FloorRig

        floor_rig = FloorRig(procs, loop, args.workdir)
        closers.append(floor_rig.close)
    if "http" in g:
        progress.update(setup, description="setting up: HTTP servers (ring, Redis-backed, in-memory)")
        from bench.web import VARIANTS, WebRig

        assert redis_rig is not None
        web_rig = WebRig(procs, args.workdir, redis_rig, args.threads)

    asgi_rig = None
    if "asgi" in g:
        from bench.asgi_rows import AsgiRig, load_generator

        args.asgi_load = load_generator(args.asgi_load)
        if args.asgi_load == "python":
            progress.console.print("[yellow]row 7 (asgi): wrk not found, using the Python load generator of row 3 "
                                   "(scripts/install-system-deps bench installs wrk)[/]")
        progress.update(setup, description="setting up: ASGI servers (ring serve --asgi, uvicorn workers, Redis-backed)")
        assert redis_rig is not None
        asgi_rig = AsgiRig(procs, args.workdir, redis_rig.plain.port, redis_rig.plain.pid,
                           workers=args.asgi_workers, connections=args.users, load=args.asgi_load)
        closers.append(asgi_rig.close)

    from bench.report import save_label

    for p in args.payloads:
        for n in (1, 8, 32):
            if engine_rig is not None:
                units.append(Unit(f"save/{p}/engine-sync/{n}", f"{p} {save_label('engine-sync', n)}",
                                  each_round(engine_rig.sync_row, p, n, ops, warm)))
            if redis_rig is not None and "redis" in g:
                units.append(Unit(f"save/{p}/redis-set/{n}", f"{p} {save_label('redis-set', n)}",
                                  each_round(redis_rig.set_row, p, n, ops, warm, wait=False)))
                units.append(Unit(f"save/{p}/redis-wait/{n}", f"{p} {save_label('redis-wait', n)}",
                                  each_round(redis_rig.set_row, p, n, ops, warm, wait=True)))
            if engine_rig is not None:
                units.append(Unit(f"save/{p}/engine-async/{n}", f"{p} {save_label('engine-async', n)}",
                                  each_round(engine_rig.async_row, p, n, ops, warm)))
            if floor_rig is not None and engine_rig is not None and n == 1:
                data = engine_rig.work.data[p]
                units.append(Unit(f"save/{p}/grpc-floor-sync/1", f"{p} {save_label('grpc-floor-sync', 1)}",
                                  each_round(floor_rig.sync_row, data, ops, warm)))
                units.append(Unit(f"save/{p}/grpc-floor-async/1", f"{p} {save_label('grpc-floor-async', 1)}",
                                  each_round(floor_rig.async_row, data, ops, warm)))
    if web_rig is not None:
        for v in VARIANTS:
            units.append(Unit(f"http/{v}", f"HTTP {VARIANTS[v]}",
                              each_round(web_rig.row, v, args.users, ops, max(warm, args.users))))
    if asgi_rig is not None:
        from bench.asgi_rows import VARIANTS as ASGI_VARIANTS

        for v in ASGI_VARIANTS:
            units.append(Unit(f"asgi/{v}", f"ASGI {v}",
                              each_round(asgi_rig.row, v, args.asgi_seconds, ops, max(warm, args.users))))
    if "resync" in g:
        def resync(r: int) -> dict[str, Any]:
            return resync_round(procs, loop, args.workdir, r, args.sessions)

        units.append(Unit("resync", f"resync + memory, {args.sessions:,} x 2 KB", resync))
    if "scaling" in g:
        for n in args.ring_sizes:
            units.append(Unit(f"scaling/{n}", f"scaling: ring of {n}",
                              each_round(scaling_row, procs, loop, args.workdir, n, ops, warm)))
    return units, redis_version


def each_round(fn: Callable[..., dict[str, Any]], *args: Any, **kwargs: Any) -> Callable[[int], dict[str, Any]]:
    """A unit that runs fn(*args, **kwargs) in every round (the round number is not needed)."""
    def run(_round: int) -> dict[str, Any]:
        return fn(*args, **kwargs)

    return run


def write_report(args: argparse.Namespace, results: dict[str, dict[str, Any]], started: str, took: float,
                 redis_version: str) -> int:
    import grpc
    import redis

    from bench.report import markdown, medians, targets

    for slot in results.values():
        slot["median"] = medians(slot["rounds"])
    meta = {
        "started": started, "took_s": took, "cpus": os.cpu_count(), "python": sys.version.split()[0],
        "grpcio": grpc.__version__, "redis_py": redis.__version__, "redis_server": redis_version,
        "rounds": args.rounds, "ops": args.ops, "warmup": args.warmup, "payloads": args.payloads,
        "sessions": args.sessions, "ring_sizes": args.ring_sizes, "users": args.users, "threads": args.threads,
        "quick": args.quick, "only": sorted(args.groups), "argv": sys.argv[1:],
        "asgi_load": args.asgi_load, "asgi_seconds": args.asgi_seconds, "asgi_workers": args.asgi_workers,
    }
    goals = targets({k: v["median"] for k, v in results.items()}, args.payloads)
    text = markdown(meta, results, goals)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "rows": results, "targets": [t.as_json() for t in goals]},
                                   indent=2) + "\n")
    print(f"JSON: {args.out}", file=sys.stderr)
    return 0
