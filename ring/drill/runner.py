"""One drill from start to report: cluster, balancer, users, faults, checks.

    1. copy the config into the work directory with free ports (and namespace addresses with
       --partition), start every instance as a real `ring serve` process with the demo app, wait
       until the ring formed;
    2. put the balancer in front (built-in, or HAProxy) and start the users;
    3. after a short warm-up, inject the seeded schedule one fault at a time, waiting until the
       ring healed after each, for as long as the duration leaves room;
    4. stop the users, restore everything (resume, restart, heal), let every user read its
       session once more, collect the event logs and check.

Whatever happens (an exception, SIGINT, SIGTERM, SIGHUP), every process, namespace and rule the
drill created is removed on the way out: each is registered on an ExitStack the moment it exists,
and the signals are turned into an exception that unwinds it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ring.drill import DrillError
from ring.drill.balancer import StickyBalancer
from ring.drill.checker import Fault
from ring.drill.cluster import LocalCluster
from ring.drill.configs import DEFAULT_CONFIG, local_copy
from ring.drill.faults import NETWORK_KINDS, Nemesis, estimated_cost, parse_kinds, plan
from ring.drill.netns import pid_alive
from ring.drill.report import analyze
from ring.drill.workload import Workload, WorkloadSpec
from ring.errors import ConfigError
from ring.serverxml import load_server_xml


class Interrupted(BaseException):
    """A signal asked the drill to stop; unwinding cleans up."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum


@dataclass(frozen=True, slots=True)
class DrillOptions:
    config: str | None = None
    duration: float = 60.0
    faults: str | None = None
    seed: int | None = None
    lb: str = "builtin"
    partition: bool = False
    users: int = 16
    rate: float = 100.0
    workdir: str | None = None
    keep: bool = False
    strict_goals: bool = False
    max_faults: int | None = None
    ignore_orphans: bool = False


class StatusWatcher:
    """Polls `ring status` of the drill's cluster: the newest rows, and unreplicated writes per process."""

    def __init__(self, cluster: LocalCluster, interval: float = 0.5) -> None:
        self.cluster = cluster
        self.interval = interval
        self.rows: list[dict[str, Any]] = []
        self._unreplicated: dict[tuple[str, int], int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="drill-status", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def poll_once(self) -> None:
        rows = self.cluster.status(0.3)
        self.rows = rows
        for r in rows:
            if r["state"] == "alive" and r.get("unreplicated_writes") is not None:
                key = (r["id"], r["incarnation"])
                self._unreplicated[key] = max(self._unreplicated.get(key, 0), int(r["unreplicated_writes"]))

    def _loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # a status poll must never end the drill
                self.poll_once()
            self._stop.wait(self.interval)

    @property
    def unreplicated(self) -> int:
        return sum(self._unreplicated.values())


class Progress:
    """One status line on stderr, refreshed while the drill runs (rich Live on a terminal)."""

    def __init__(self, console: Any, line: Callable[[], str], enabled: bool = True) -> None:
        self.console = console
        self.line = line
        self.enabled = enabled
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live: Any = None

    def say(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def __enter__(self) -> Progress:
        if not self.enabled:
            return self
        if self.console.is_terminal:
            from rich.live import Live
            from rich.text import Text

            self._live = Live(Text(""), console=self.console, refresh_per_second=4, transient=True)
            self._live.start()
            target = self._refresh_live
        else:
            target = self._print_now_and_then
        self._thread = threading.Thread(target=target, name="drill-progress", daemon=True)
        self._thread.start()
        return self

    def _refresh_live(self) -> None:
        from rich.text import Text

        while not self._stop.wait(0.25):
            with contextlib.suppress(Exception):
                self._live.update(Text(self.line()))

    def _print_now_and_then(self) -> None:
        while not self._stop.wait(10.0):
            with contextlib.suppress(Exception):
                self.say(self.line())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        if self._live is not None:
            self._live.stop()


@contextlib.contextmanager
def signals_unwind() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP raise Interrupted in the main thread; later ones are ignored so
    that they cannot cut the cleanup short (it is bounded: a few seconds)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def handler(signum: int, frame: object) -> None:
        for s in caught:
            signal.signal(s, signal.SIG_IGN)
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in caught}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


WORKDIR_PREFIX = "ring-drill-"


def reap_leftovers() -> list[int]:
    """SIGKILL processes a drill that died without cleaning up left behind (it was SIGKILLed).

    A drill's default work directory is named ring-drill-<its pid>-..., and every process it starts
    (`ring serve`, haproxy) names a file in it on its command line; such processes naming the
    directory of a drill whose pid is gone are leftovers. Nothing else is touched.
    """
    pattern = re.compile(rb"/" + re.escape(WORKDIR_PREFIX.encode()) + rb"(\d+)-")
    killed: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path("/proc", entry, "cmdline").read_bytes()
        except OSError:
            continue
        m = pattern.search(cmdline)
        if m is None or pid_alive(int(m.group(1))):
            continue
        argv = cmdline.split(b"\0")
        ours = (b"ring" in argv and b"serve" in argv) or argv[0].endswith(b"haproxy")
        if not ours:
            continue
        with contextlib.suppress(OSError):
            os.kill(int(entry), signal.SIGKILL)
            killed.append(int(entry))
    return killed


def replay_command(opts: DrillOptions, seed: int, kinds: tuple[str, ...]) -> list[str]:
    cmd = ["ring", "drill", "--seed", str(seed), "--duration", f"{opts.duration:g}", "--faults", ",".join(kinds)]
    if opts.config:
        cmd += ["--config", opts.config]
    if opts.lb != "builtin":
        cmd += ["--lb", opts.lb]
    if opts.partition:
        cmd.append("--partition")
    if opts.max_faults is not None:
        cmd += ["--max-faults", str(opts.max_faults)]
    if opts.ignore_orphans:
        cmd.append("--ignore-orphans")
    defaults = DrillOptions()
    if opts.users != defaults.users:
        cmd += ["--users", str(opts.users)]
    if opts.rate != defaults.rate:
        cmd += ["--rate", f"{opts.rate:g}"]
    return cmd


def skipped_report(seed: int, reason: str) -> dict[str, Any]:
    return {"ok": True, "skipped": reason, "seed": seed, "lost": 0, "stale": 0, "faults": [], "violations": []}


def run_drill(opts: DrillOptions, console: Any, *, progress: bool = True) -> dict[str, Any]:
    seed = opts.seed if opts.seed is not None else random.SystemRandom().randrange(1, 2**31)
    try:
        kinds = parse_kinds(opts.faults, partition=opts.partition)
    except ValueError as exc:
        raise ConfigError(f"--faults: {exc}") from None
    network = [k for k in kinds if k in NETWORK_KINDS]
    if network and not opts.partition:
        raise ConfigError(f"--faults {','.join(network)} cut network links: add --partition (root only)")
    if opts.lb not in ("builtin", "haproxy"):
        raise ConfigError(f"--lb must be builtin or haproxy, got {opts.lb!r}")
    if opts.duration <= 0 or opts.users < 1 or opts.rate <= 0:
        raise ConfigError("--duration, --users and --rate must be positive")
    if opts.partition:
        from ring.drill.netns import unavailable_reason

        reason = unavailable_reason()
        if reason is not None:
            console.print(f"[yellow]partition drill skipped:[/] {reason}")
            return skipped_report(seed, reason)
    if opts.lb == "haproxy":
        from ring.drill.haproxy import find_haproxy

        find_haproxy()  # before anything starts: a clear error when it is missing
    source = opts.config or str(DEFAULT_CONFIG)
    original = load_server_xml(source)
    ids = list(original.ring)
    settings = original.replication
    ft = settings.failure_timeout
    schedule = plan(seed, kinds, ids, ft)
    replay = replay_command(opts, seed, kinds)

    for pid in reap_leftovers():
        console.print(f"killed process {pid}, left behind by an earlier drill that did not clean up")
    workdir = Path(opts.workdir) if opts.workdir else Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    spec = WorkloadSpec(users=opts.users, rate=opts.rate, timeout=settings.request_timeout + 10.0)
    threshold = max(1.0, 3.0 * opts.users / opts.rate)  # a healthy request plus the longest think time, twice

    faults: list[Fault] = []
    executed: list[dict[str, Any]] = []
    state: dict[str, Any] = {"phase": "starting", "started": None}

    with contextlib.ExitStack() as stack:
        stack.enter_context(signals_unwind())
        ns = None
        if opts.partition:
            from ring.drill.netns import Namespaces, cleanup_leftovers

            for leftover in cleanup_leftovers():
                console.print(f"removed a leftover of an earlier drill: {leftover}")
            ns = Namespaces(ids)
            state["netns_prefix"] = ns.tag
            stack.callback(ns.teardown)
            ns.setup()
        config_path = workdir / "server.xml"
        local_copy(source, config_path, hosts=ns.ip if ns else None)
        cluster = LocalCluster(config_path, workdir)
        stack.callback(cluster.close)
        for name, inst in cluster.instances.items():
            if ns is not None:
                inst.http_host = ns.ip[name]  # the port is free there too: the namespace is new
            cluster.start(name, prefix=ns.prefix(name) if ns else ())
        for name in cluster.instances:
            if not cluster.wait_ready(name, 30.0):
                raise DrillError(f"instance {name} did not become ready; see {cluster.instances[name].log_path}")

        watcher = StatusWatcher(cluster)
        workload_holder: dict[str, Workload] = {}

        def line() -> str:
            elapsed = time.monotonic() - (state["started"] or time.monotonic())
            w = workload_holder.get("w")
            hist = w.snapshot() if w else []
            n = {"ok": 0, "failed": 0, "indeterminate": 0}
            for op in hist:
                n[op.outcome] += 1
            alive = " ".join(r["id"] if r["state"] == "alive" else f"[{r['id']}]" for r in watcher.rows)
            return (f"{elapsed:5.1f}/{opts.duration:g} s | {state['phase']:<24} | faults {len(faults)} | "
                    f"ok {n['ok']} fail {n['failed']} indet {n['indeterminate']} | {alive}")

        prog = stack.enter_context(Progress(console, line, enabled=progress))

        def say(text: str) -> None:
            at = f"{time.monotonic() - state['started']:6.1f} s" if state["started"] else "   start"
            prog.say(f"[{at}] {text}")
            state["phase"] = text[:24]

        served: dict[str, Callable[[float], bool]] = {"since": lambda t: True}  # the users exist later
        nemesis = Nemesis(cluster, failure_timeout=ft, namespaces=ns, say=say, ignore_orphans=opts.ignore_orphans,
                          orphan_timeout=settings.request_timeout + 2.0, served_since=lambda t: served["since"](t))
        if nemesis.wait_healed("start", required=False) is None:
            raise DrillError(f"the ring did not form within 30 s of starting; see the logs in {workdir}")
        say(f"ring {' -> '.join(ids)} up (config {config_path})")

        backends = {name: (inst.http_host, inst.http_port) for name, inst in cluster.instances.items()}
        server_timeout = settings.request_timeout + 3.0  # the instance answers (503 at worst) first
        lb: Any
        if opts.lb == "haproxy":
            from ring.drill.haproxy import HAProxy

            lb = HAProxy(workdir, backends, server_timeout=server_timeout)
        else:
            lb = StickyBalancer(backends, server_timeout=server_timeout)
        lb.start()
        stack.callback(lb.stop)
        host, port = lb.address

        workload = Workload(host, port, spec, seed)
        workload_holder["w"] = workload
        served["since"] = workload.served_since
        started = state["started"] = time.monotonic()
        deadline = started + opts.duration
        workload.start(deadline)
        stack.callback(workload.stop, spec.timeout + 2.0)
        watcher.start()
        stack.callback(watcher.stop)
        say(f"{opts.users} users through the {opts.lb} balancer at {host}:{port}; seed {seed}")

        time.sleep(min(3.0, opts.duration / 10))
        tail = 2.0
        for p in schedule[:opts.max_faults]:
            cost = estimated_cost(p, len(ids), ft)
            if time.monotonic() + p.gap + cost > deadline - tail:
                break
            time.sleep(p.gap)
            watcher.poll_once()
            fault = nemesis.inject(p)
            if fault is not None:
                faults.append(fault)
                executed.append(p.to_json())
            if nemesis.problems:
                say("stopping the faults: " + nemesis.problems[-1])
                break
        remaining = deadline - time.monotonic()
        if remaining > 0:
            state["phase"] = "load only"
            time.sleep(remaining)
        say("stopping the users")
        workload.stop(spec.timeout + 2.0)
        nemesis.restore()
        if nemesis.wait_healed("the last fault") is not None:
            say("ring healed; every user reads its session once more")
        unread = workload.final_reads(timeout=3 * ft + 15.0)
        ended = time.monotonic()
        watcher.poll_once()
        events = cluster.events()
        lb_transitions = list(getattr(lb, "transitions", []))

    report = analyze(
        seed=seed, history=workload.snapshot(), faults=faults, events=events, schedule=executed,
        started=started, ended=ended, options={**asdict(opts), "seed": seed, "faults": list(kinds),
                                               "config": source, "instances": ids},
        unreplicated=watcher.unreplicated, final_unread=unread, problems=nemesis.problems,
        failure_timeout=ft, threshold=threshold, replay=replay, strict_goals=opts.strict_goals,
        lb_transitions=lb_transitions)
    report["workdir"] = str(workdir)
    if "netns_prefix" in state:
        report["netns_prefix"] = state["netns_prefix"]
    with open(workdir / "history.jsonl", "w") as f:  # for a closer look (and for the checker's tests)
        for op in workload.snapshot():
            f.write(json.dumps({**op.to_json(), "invoke": op.invoke - started, "complete": op.complete - started}) + "\n")
    (workdir / "report.json").write_text(json.dumps(report, default=str, indent=1))
    if report["ok"] and not opts.keep and not opts.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
        report["workdir"] = None
    return report


def main_console(stderr: bool = True) -> Any:
    from rich.console import Console

    return Console(file=sys.stderr if stderr else sys.stdout, highlight=False)
