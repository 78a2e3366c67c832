"""Medians over rounds, the targets of issues #5 and #13 (ASGI), and the markdown and JSON output.

Every ratio is computed from medians of this run only: rows of another run (or of
reference/perf-anchors.md) were measured under other conditions.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from bench.asgi_rows import BASELINE as ASGI_BASELINE
from bench.asgi_rows import VARIANTS as ASGI_VARIANTS
from bench.web import VARIANTS


@dataclass
class Target:
    name: str
    measured: float
    limit: float
    ok: bool
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {"target": self.name, "measured": self.measured, "limit": self.limit, "pass": self.ok,
                "detail": self.detail}


def medians(rounds: list[dict[str, Any]]) -> dict[str, float]:
    keys = {k for r in rounds for k, v in r.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    return {k: statistics.median([r[k] for r in rounds if k in r]) for k in sorted(keys)}


# ------------------------------------------------------------------ labels

SAVE_ROWS = [
    ("engine-sync", "engine save via EngineBackend (sync threads)"),
    ("engine-async", "engine.write (async API, tasks on the loop)"),
    ("redis-set", "redis-py SET"),
    ("redis-wait", "redis-py SET + WAIT 1 (1 replica)"),
    ("grpc-floor-sync", "floor, no engine: bare grpc.aio bidi ping-pong, thread -> loop"),
    ("grpc-floor-async", "floor, no engine: bare grpc.aio bidi ping-pong, task on the loop"),
]


def save_label(kind: str, n: int) -> str:
    base = dict(SAVE_ROWS)[kind]
    if kind.startswith("grpc-floor"):
        return base
    if kind == "engine-async":
        who = f"{n} task" + ("s" if n > 1 else "")
    elif kind.startswith("redis") and n == 1:
        who = "1 client"
    elif kind.startswith("redis"):
        who = f"{n} threads, one pool"
    else:
        who = f"{n} writer" + ("s" if n > 1 else "")
    return f"{base}, {who}" + ("  [BASELINE]" if kind == "redis-set" and n == 1 else "")


def _f(x: float | None, digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}x"


# ------------------------------------------------------------------ targets


def targets(med: dict[str, dict[str, float]], payloads: list[str]) -> list[Target]:
    out: list[Target] = []
    for p in payloads:
        e1, s1, w1 = (med.get(f"save/{p}/{k}/1") for k in ("engine-sync", "redis-set", "redis-wait"))
        if e1 and s1:
            ratio = e1["p50_us"] / s1["p50_us"]
            extra = f"; vs SET+WAIT {e1['p50_us'] / w1['p50_us']:.2f}x ({w1['p50_us']:.0f} us)" if w1 else ""
            out.append(Target(f"{p}: replicated save p50 at 1 writer <= 3.5x redis-py SET", ratio, 3.5,
                              ratio <= 3.5, f"{e1['p50_us']:.0f} us vs {s1['p50_us']:.0f} us{extra}"))
        e32 = med.get(f"save/{p}/engine-sync/32")
        best = [m["ops_s"] for m in (s1, med.get(f"save/{p}/redis-set/8")) if m]
        if e32 and best:
            out.append(Target(f"{p}: throughput at 32 writers >= redis-py's best (1 client or 8 threads)",
                              e32["ops_s"], max(best), e32["ops_s"] >= max(best),
                              f"{e32['ops_s']:,.0f} vs {max(best):,.0f} ops/s"))
    ring, redis = med.get("http/ring"), med.get("http/redis")
    if ring and redis:
        ratio = ring["ops_s"] / redis["ops_s"]
        out.append(Target("HTTP: replicated req/s >= 0.8x Redis-backed", ratio, 0.8, ratio >= 0.8,
                          f"{ring['ops_s']:,.0f} vs {redis['ops_s']:,.0f} req/s"))
    for row, name, limit in (("hosted", "ASGI `ring serve --asgi`: req/s >= 1.3x redis.asyncio on the same uvicorn, "
                                        "p50 no worse", 1.3),
                             ("workers", "ASGI uvicorn workers, async local client: req/s >= 1.0x redis.asyncio on "
                                         "the same workers", 1.0)):
        ring_m, redis_m = med.get(f"asgi/{row}"), med.get(f"asgi/{row}-redis")
        if ring_m and redis_m and redis_m["ops_s"]:
            ratio, p50 = ring_m["ops_s"] / redis_m["ops_s"], ring_m["p50_us"] / redis_m["p50_us"]
            ok = ratio >= limit and (row != "hosted" or p50 <= 1.0)
            out.append(Target(name, ratio, limit, ok, f"{ring_m['ops_s']:,.0f} vs {redis_m['ops_s']:,.0f} req/s; "
                                                      f"p50 {ring_m['p50_us']:.0f} vs {redis_m['p50_us']:.0f} µs "
                                                      f"({p50:.2f}x)"))
    rs = med.get("resync")
    if rs:
        n = int(rs["sessions"])
        out.append(Target(f"resync of {n:,} x {int(rs['payload'])} B to a new successor <= 5 s",
                          rs["resync_s"], 5.0, rs["resync_s"] <= 5.0,
                          f"from b's start; streaming part {rs['resync_stream_s']:.2f} s"))
        limit = 1.5 * rs["payload"] + 300
        out.append(Target("memory per backup copy <= 1.5x payload + 300 B", rs["bytes_per_copy"], limit,
                          rs["bytes_per_copy"] <= limit,
                          f"{rs['bytes_per_copy']:,.0f} B per {int(rs['payload'])} B payload"))
    sizes = sorted(int(k.split("/")[1]) for k in med if k.startswith("scaling/"))
    if len(sizes) >= 2:
        small, large = med[f"scaling/{sizes[0]}"], med[f"scaling/{sizes[-1]}"]
        ratio = large["p50_us"] / small["p50_us"]
        out.append(Target(f"{sizes[-1]}-instance save p50 within 1.1x of {sizes[0]}-instance", ratio, 1.1,
                          ratio <= 1.1, f"{large['p50_us']:.0f} us vs {small['p50_us']:.0f} us"))
    return out


# ------------------------------------------------------------------ markdown


def markdown(meta: dict[str, Any], rows: dict[str, dict[str, Any]], goals: list[Target]) -> str:
    med = {k: v["median"] for k, v in rows.items()}
    lines = [
        f"# ring bench ({meta['started']})",
        "",
        f"{meta['cpus']} CPUs, Python {meta['python']}, grpcio {meta['grpcio']}, redis-py {meta['redis_py']}, "
        f"redis-server {meta['redis_server']}. {meta['rounds']} interleaved round(s), median shown; "
        f"{meta['ops']} ops per repeat (+{meta['warmup']} warm-up). Took {meta['took_s']:.0f} s.",
        "",
    ]
    for p in meta["payloads"]:
        base = med.get(f"save/{p}/redis-set/1")
        present = [(k, n) for k, _ in SAVE_ROWS for n in (1, 8, 32) if f"save/{p}/{k}/{n}" in med]
        if not present:
            continue
        lines += [
            f"## 1-2. One synchronous session write, payload {p} (ratios vs redis-py SET, 1 client)",
            "",
            "| benchmark | ops/s | p50 µs | p99 µs | ops/s ÷ SET | p50 ÷ SET | CPU µs/op bench+srv | notes |",
            "|---|--:|--:|--:|--:|--:|--:|---|",
        ]
        for kind, n in sorted(present, key=lambda kn: (kn[1], [k for k, _ in SAVE_ROWS].index(kn[0]))):
            m = med[f"save/{p}/{kind}/{n}"]
            notes = []
            if m.get("unreplicated"):
                notes.append(f"{m['unreplicated']:.0f} unreplicated")
            if m.get("wait_short"):
                notes.append(f"{m['wait_short']:.0f} WAIT short")
            lines.append(
                f"| {save_label(kind, n)} | {_f(m['ops_s'])} | {_f(m['p50_us'])} | {_f(m['p99_us'])} | "
                f"{_ratio(m['ops_s'], base and base['ops_s'])} | {_ratio(m['p50_us'], base and base['p50_us'])} | "
                f"{_f(m['cpu_bench_us_op'])}+{_f(m['cpu_server_us_op'])} | {', '.join(notes)} |")
        sync1, async1 = med.get(f"save/{p}/engine-sync/1"), med.get(f"save/{p}/engine-async/1")
        if sync1 and async1:
            lines += ["", f"Thread hop (EngineBackend from a thread vs engine.write on the loop), 1 writer: "
                          f"+{sync1['p50_us'] - async1['p50_us']:.0f} µs p50."]
        fsync, fasync = med.get(f"save/{p}/grpc-floor-sync/1"), med.get(f"save/{p}/grpc-floor-async/1")
        if sync1 and async1 and fsync and fasync:
            lines += ["", f"The engine over the bare gRPC stream of the same shape, 1 writer: "
                          f"+{sync1['p50_us'] - fsync['p50_us']:.0f} µs p50 from a thread, "
                          f"+{async1['p50_us'] - fasync['p50_us']:.0f} µs p50 on the loop "
                          f"(CPU +{sync1['cpu_bench_us_op'] - fsync['cpu_bench_us_op']:.0f} µs/op in this process, "
                          f"+{sync1['cpu_server_us_op'] - fsync['cpu_server_us_op']:.0f} µs/op in the backup)."]
        lines.append("")

    http = [v for v in VARIANTS if f"http/{v}" in med]
    if http:
        any_m = med[f"http/{http[0]}"]
        base = med.get("http/redis")
        lines += [
            f"## 3. End to end over HTTP: ring.demo:app, POST /incr, {any_m['users']:.0f} keep-alive users, "
            f"waitress {any_m['threads']:.0f} threads",
            "",
            "| session store | req/s | p50 µs | p99 µs | req/s ÷ Redis-backed | CPU µs/req client+servers | errors | lost |",
            "|---|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for v in http:
            m = med[f"http/{v}"]
            lines.append(
                f"| {VARIANTS[v]} | {_f(m['ops_s'])} | {_f(m['p50_us'])} | {_f(m['p99_us'])} | "
                f"{_ratio(m['ops_s'], base and base['ops_s'])} | {_f(m['cpu_bench_us_op'])}+{_f(m['cpu_server_us_op'])} | "
                f"{m['errors']:.0f} | {m['lost']:.0f} |")
        lines.append("")

    asgi = [v for v in ASGI_VARIANTS if f"asgi/{v}" in med]
    if asgi:
        any_m = med[f"asgi/{asgi[0]}"]
        if meta.get("asgi_load") == "wrk":
            load = f"wrk (Debian), {any_m['connections']:.0f} connections x {meta['asgi_seconds']:g} s per round"
        else:
            load = (f"the Python load generator of row 3, {any_m['connections']:.0f} keep-alive users x "
                    f"{meta['ops']} requests (wrk not found: scripts/install-system-deps bench installs it)")
        lines += [
            "## 7. ASGI: bench/asgi_app.py POST /incr on uvicorn (uvloop, httptools), each ring row against "
            "redis.asyncio (hiredis) on the same server",
            "",
            f"Load: {load}; the same generator for every row. The ring rows count their backup "
            "instance's CPU, on the same cores here (on its own host in a deployment); the Redis rows "
            "have no replica. On a loaded machine, CPU µs/req varies less than req/s.",
            "",
            "| sessions, server | req/s (rounds) | p50 µs | p99 µs | req/s ÷ Redis, same server | p50 ÷ Redis | "
            "CPU µs/req servers | errors |",
            "|---|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for v in asgi:
            m = med[f"asgi/{v}"]
            base = med.get(f"asgi/{ASGI_BASELINE.get(v, v)}")
            spread = "/".join(f"{r['ops_s']:.0f}" for r in rows[f"asgi/{v}"]["rounds"])
            lines.append(
                f"| {ASGI_VARIANTS[v].format(w=meta.get('asgi_workers', '?'))} | {_f(m['ops_s'])} ({spread}) | "
                f"{_f(m['p50_us'])} | {_f(m['p99_us'])} | {_ratio(m['ops_s'], base and base['ops_s'])} | "
                f"{_ratio(m['p50_us'], base and base['p50_us'])} | {_f(m['cpu_server_us_op'])} | {m['errors']:.0f} |")
        lines.append("")

    rs = rows.get("resync")
    if rs:
        m = rs["median"]
        per_round = rs["rounds"]

        def each(key: str, fmt: str) -> str:
            return ", ".join(format(r[key], fmt) for r in per_round)

        lines += [
            f"## 4-5. Resync of {m['sessions']:,.0f} sessions x {m['payload']:.0f} B, and memory per backup copy",
            "",
            "| metric | median | rounds |",
            "|---|--:|---|",
            f"| resync: new successor's start -> primary's resync_finished (s) | {m['resync_s']:.2f} | {each('resync_s', '.2f')} |",
            f"| resync: primary's resync_started -> resync_finished (s) | {m['resync_stream_s']:.2f} | {each('resync_stream_s', '.2f')} |",
            f"| resync: successor process spawned -> resync_finished (s) | {m['resync_from_spawn_s']:.2f} | {each('resync_from_spawn_s', '.2f')} |",
            f"| resync rate (payload MB/s) | {m['resync_mb_s']:.1f} | {each('resync_mb_s', '.1f')} |",
            f"| fill through engine.write, {256} tasks, replicated (sessions/s) | {m['fill_ops_s']:,.0f} | {each('fill_ops_s', ',.0f')} |",
            f"| backup RSS before -> after the fill (MiB) | {m['rss_before'] / 2**20:.0f} -> {m['rss_after'] / 2**20:.0f} | |",
            f"| **resident bytes per backup copy** (same process) | {m['bytes_per_copy']:,.0f} | {each('bytes_per_copy', ',.0f')} |",
            f"| ... per copy after a resync (new process vs the first one's baseline) | {m['bytes_per_copy_resync']:,.0f} | {each('bytes_per_copy_resync', ',.0f')} |",
            f"| per copy / payload | {m['bytes_per_copy'] / m['payload']:.2f}x | |",
            f"| primary: bench process RSS per session (incl. its payload object) | {m['primary_bytes_per_session']:,.0f} | {each('primary_bytes_per_session', ',.0f')} |",
            "",
        ]

    sizes = sorted(int(k.split("/")[1]) for k in med if k.startswith("scaling/"))
    if sizes:
        small = med[f"scaling/{sizes[0]}"]
        lines += [
            "## 6. Save latency by ring size (1 writer, 1 KB, primary in-process, the rest processes)",
            "",
            "| instances | p50 µs | p99 µs | ops/s | p50 ÷ smallest | idle instances' CPU (cores) before / during |",
            "|--:|--:|--:|--:|--:|--:|",
        ]
        for n in sizes:
            m = med[f"scaling/{n}"]
            lines.append(f"| {n} | {_f(m['p50_us'])} | {_f(m['p99_us'])} | {_f(m['ops_s'])} | "
                         f"{_ratio(m['p50_us'], small['p50_us'])} | {m['idle_instances_cores_before']:.2f} / "
                         f"{m['idle_instances_cores_during']:.2f} |")
        lines.append("")

    if goals:
        lines += ["## Targets (issue #5)", "", "| target | measured | limit | result | detail |", "|---|--:|--:|---|---|"]
        for g in goals:
            lines.append(f"| {g.name} | {g.measured:,.2f} | {g.limit:,.2f} | {'PASS' if g.ok else '**FAIL**'} | {g.detail} |")
        lines.append("")
    return "\n".join(lines)
