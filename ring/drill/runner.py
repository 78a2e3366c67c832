"""One drill from start to report: cluster, balancer, users, faults, checks.

`run_drill(options, console)` checks the options and decides everything that can be decided
before anything starts (a `DrillPlan`: seed, fault kinds, schedule, replay command), then a
`Drill` carries the plan out in stages, each taking what the one before made:

    1. isolate        with --partition, a network namespace per instance
    2. start_cluster  the config copied into the work directory with free ports (namespace
                      addresses with --partition), every instance a real `ring serve` process
                      with the drill's app (ring.drill.app: the demo's counter with a hash chain);
                      wait until each is ready and the ring formed
    3. start_balancer the built-in sticky balancer, or HAProxy, in front
    4. start_users    the simulated users and the status watcher; the drill's clock starts
    5. inject_faults  after a short warm-up, the seeded schedule one fault at a time, waiting
                      until the ring healed after each, for as long as the duration leaves room
    6. wind_down      stop the users, restore everything (resume, restart, heal), let every user
                      read its session once more, collect the event logs

and `report` checks what was observed (ring.drill.report) and writes it to the work directory.

Whatever happens (an exception, SIGINT, SIGTERM, SIGHUP), every process, namespace and rule the
drill created is removed on the way out: each is registered on an ExitStack the moment it exists,
and the signals are turned into an exception that unwinds it (ring.drill.hygiene).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from ring.config import ClusterConfig, ReplicationSettings
from ring.drill import netns
from ring.drill.balancer import StickyBalancer
from ring.drill.checker import Fault, Op
from ring.drill.cluster import LocalCluster, StatusWatcher, poll
from ring.drill.configs import DEFAULT_CONFIG, local_copy
from ring.drill.faults import NETWORK_KINDS, Nemesis, PlannedFault, estimated_cost, parse_kinds, plan
from ring.drill.haproxy import HAProxy, find_haproxy
from ring.drill.hygiene import new_workdir, reap_leftovers, signals_unwind
from ring.drill.report import analyze
from ring.drill.schedule import DOUBLE_GAP, SOAK_MIX, soak_plan
from ring.drill.ui import Progress, status_line
from ring.drill.workload import Workload, WorkloadSpec
from ring.errors import ConfigError, DrillError
from ring.serverxml import load_server_xml

READY_TIMEOUT = 30.0  # seconds for an instance to answer /readyz, and for the ring to form after
TAIL = 2.0  # seconds of plain load the last fault leaves before the users stop
DRILL_APP = "ring.drill.app:app"  # the demo's counter with a hash chain, so that forks show (ring.drill.forks)


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
    logout_users: int | None = None  # None: users // 8
    idle_users: int | None = None  # None: users // 8
    idle_pause: float = 30.0
    double_gap: float = DOUBLE_GAP
    soak: bool = False
    soak_scale: float = 1.0


@dataclass(frozen=True, slots=True)
class DrillPlan:
    """What a drill will do, decided before anything starts (so that a seed replays it)."""

    options: DrillOptions
    seed: int
    kinds: tuple[str, ...]
    source: str  # the server.xml drilled (the drill runs a copy on free ports)
    config: ClusterConfig  # as loaded from `source`
    schedule: list[PlannedFault]
    replay: list[str]

    @property
    def ids(self) -> list[str]:
        return list(self.config.ring)

    @property
    def settings(self) -> ReplicationSettings:
        return self.config.replication

    @property
    def failure_timeout(self) -> float:
        return self.settings.failure_timeout

    @property
    def workload(self) -> WorkloadSpec:
        o = self.options
        return WorkloadSpec(users=o.users, rate=o.rate, timeout=self.settings.request_timeout + 10.0,
                            logout_users=o.users // 8 if o.logout_users is None else o.logout_users,
                            idle_users=o.users // 8 if o.idle_users is None else o.idle_users,
                            idle_pause=o.idle_pause)

    @property
    def threshold(self) -> float:
        """Seconds without an answer that count as unavailability: a healthy request plus the
        longest think time, twice."""
        return max(1.0, 3.0 * self.options.users / self.options.rate)


@dataclass(frozen=True, slots=True)
class Observed:
    """What a drill saw, for the checker: taken once everything it started was stopped."""

    history: list[Op]
    faults: list[Fault]
    executed: list[dict[str, Any]]  # the planned faults that were injected, as JSON
    events: list[dict[str, Any]]
    started: float
    ended: float
    unreplicated: int
    final_unread: list[int]
    problems: list[str]
    lb_transitions: list[dict[str, Any]]
    netns_prefix: str | None


def checked_kinds(opts: DrillOptions) -> tuple[str, ...]:
    """The fault kinds to inject; ConfigError for options that do not make a drill."""
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
    if opts.idle_pause <= 0 or opts.double_gap < 0 or opts.soak_scale <= 0:
        raise ConfigError("--idle-pause and --soak-scale must be positive, --double-gap at least 0")
    extra = (opts.logout_users or 0) + (opts.idle_users or 0)
    if min(opts.logout_users or 0, opts.idle_users or 0) < 0 or extra > opts.users:
        raise ConfigError(f"--logout-users and --idle-users ({extra} together) must be part of the {opts.users} users")
    if opts.soak:
        return tuple(SOAK_MIX)
    return kinds


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
    if opts.soak:
        cmd += ["--soak", "--soak-scale", f"{opts.soak_scale:g}"]
    defaults = DrillOptions()
    for flag, value, default in (("--logout-users", opts.logout_users, None), ("--idle-users", opts.idle_users, None),
                                 ("--idle-pause", opts.idle_pause, defaults.idle_pause),
                                 ("--double-gap", opts.double_gap, defaults.double_gap)):
        if value != default:
            cmd += [flag, f"{value:g}"]
    if opts.users != defaults.users:
        cmd += ["--users", str(opts.users)]
    if opts.rate != defaults.rate:
        cmd += ["--rate", f"{opts.rate:g}"]
    return cmd


def skipped_report(seed: int, reason: str) -> dict[str, Any]:
    return {"ok": True, "skipped": reason, "seed": seed, "lost": 0, "stale": 0, "faults": [], "violations": []}


def run_drill(opts: DrillOptions, console: Console, *, progress: bool = True) -> dict[str, Any]:
    seed = opts.seed if opts.seed is not None else random.SystemRandom().randrange(1, 2**31)
    kinds = checked_kinds(opts)
    if opts.partition:
        reason = netns.unavailable_reason()
        if reason is not None:
            console.print(f"[yellow]partition drill skipped:[/] {reason}")
            return skipped_report(seed, reason)
    if opts.lb == "haproxy":
        find_haproxy()  # before anything starts: a clear error when it is missing
    source = opts.config or str(DEFAULT_CONFIG)
    config = load_server_xml(source)
    ft = config.replication.failure_timeout
    if opts.soak:
        schedule = soak_plan(seed, list(config.ring), ft, opts.soak_scale)
        # the soak runs until its schedule is done: the duration is what it probably takes
        needed = 5.0 + TAIL + sum(p.gap + estimated_cost(p, len(config.ring), ft) for p in schedule)
        opts = dataclasses.replace(opts, duration=max(opts.duration, needed))
    else:
        schedule = plan(seed, kinds, list(config.ring), ft, double_gap=opts.double_gap)
    drill_plan = DrillPlan(opts, seed, kinds, source, config, schedule, replay_command(opts, seed, kinds))

    for pid in reap_leftovers():
        console.print(f"killed process {pid}, left behind by an earlier drill that did not clean up")
    workdir = Path(opts.workdir) if opts.workdir else new_workdir()
    workdir.mkdir(parents=True, exist_ok=True)
    observed = Drill(drill_plan, workdir, console, progress=progress).run()
    return report(drill_plan, observed, workdir)


class Drill:
    """One run of a plan. Each stage starts what the next needs and registers its cleanup on the
    run's ExitStack at once; the attributes are what the progress line shows."""

    def __init__(self, drill_plan: DrillPlan, workdir: Path, console: Console, *, progress: bool = True) -> None:
        self.plan = drill_plan
        self.opts = drill_plan.options
        self.workdir = workdir
        self.console = console
        self.progress = Progress(console, self._status_line, enabled=progress)
        self.faults: list[Fault] = []
        self.executed: list[dict[str, Any]] = []
        self.watcher: StatusWatcher | None = None  # from the cluster's start
        self.workload: Workload | None = None  # from the users' start

    def run(self) -> Observed:
        with contextlib.ExitStack() as stack:
            stack.enter_context(signals_unwind())
            ns = self.isolate(stack)
            cluster = self.start_cluster(stack, ns)
            watcher = self.watcher = StatusWatcher(cluster)
            stack.enter_context(self.progress)
            self.wait_formed(cluster)
            lb = self.start_balancer(stack, cluster)
            workload, started = self.start_users(stack, lb, watcher)
            nemesis = Nemesis(cluster, failure_timeout=self.plan.failure_timeout, namespaces=ns,
                              say=self.progress.say, ignore_orphans=self.opts.ignore_orphans,
                              orphan_timeout=self.plan.settings.request_timeout + 2.0,
                              served_since=workload.served_since, users=workload, double_gap=self.opts.double_gap)
            self.inject_faults(nemesis, watcher, deadline=started + self.opts.duration)
            unread, ended = self.wind_down(workload, nemesis, watcher)
            events = cluster.events()
            lb_transitions = list(getattr(lb, "transitions", []))
        return Observed(history=workload.snapshot(), faults=self.faults, executed=self.executed, events=events,
                        started=started, ended=ended, unreplicated=watcher.unreplicated, final_unread=unread,
                        problems=nemesis.problems, lb_transitions=lb_transitions,
                        netns_prefix=ns.tag if ns is not None else None)

    def isolate(self, stack: contextlib.ExitStack) -> netns.Namespaces | None:
        """With --partition: a network namespace per instance, removed on the way out."""
        if not self.opts.partition:
            return None
        for leftover in netns.cleanup_leftovers():
            self.console.print(f"removed a leftover of an earlier drill: {leftover}")
        ns = netns.Namespaces(self.plan.ids)
        stack.callback(ns.teardown)
        ns.setup()
        return ns

    def start_cluster(self, stack: contextlib.ExitStack, ns: netns.Namespaces | None) -> LocalCluster:
        config_path = self.workdir / "server.xml"
        local_copy(self.plan.source, config_path, hosts=ns.ip if ns else None)
        cluster = LocalCluster(config_path, self.workdir, app=DRILL_APP)
        stack.callback(cluster.close)
        for name, inst in cluster.instances.items():
            if ns is not None:
                inst.http_host = ns.ip[name]  # the port is free there too: the namespace is new
            cluster.start(name, prefix=ns.prefix(name) if ns else ())
        for name in cluster.instances:
            if not cluster.wait_ready(name, READY_TIMEOUT):
                raise DrillError(f"instance {name} did not become ready; see {cluster.instances[name].log_path}")
        return cluster

    def wait_formed(self, cluster: LocalCluster) -> None:
        if not poll(cluster.ring_healed, READY_TIMEOUT, interval=0.1):
            raise DrillError(f"the ring did not form within {READY_TIMEOUT:g} s of starting; "
                             f"see the logs in {self.workdir}")
        self.progress.say(f"ring {' -> '.join(self.plan.ids)} up (config {cluster.config_path})")

    def start_balancer(self, stack: contextlib.ExitStack, cluster: LocalCluster) -> StickyBalancer | HAProxy:
        backends = {name: (inst.http_host, inst.http_port) for name, inst in cluster.instances.items()}
        server_timeout = self.plan.settings.request_timeout + 3.0  # the instance answers (503 at worst) first
        lb: StickyBalancer | HAProxy
        if self.opts.lb == "haproxy":
            lb = HAProxy(self.workdir, backends, server_timeout=server_timeout)
        else:
            lb = StickyBalancer(backends, server_timeout=server_timeout)
        lb.start()
        stack.callback(lb.stop)
        return lb

    def start_users(self, stack: contextlib.ExitStack, lb: StickyBalancer | HAProxy,
                    watcher: StatusWatcher) -> tuple[Workload, float]:
        """The users and the status watcher start; returns them and the monotonic time they started."""
        host, port = lb.address
        spec = self.plan.workload
        workload = self.workload = Workload(host, port, spec, self.plan.seed)
        started = time.monotonic()
        self.progress.start_clock(started)
        # a soak runs its whole schedule, however long it takes: the users stop when it is done
        workload.start(started + self.opts.duration * (10 if self.opts.soak else 1))
        stack.callback(workload.stop, spec.timeout + 2.0)
        watcher.start()
        stack.callback(watcher.stop)
        roles = ", ".join(f"{n} {role}" for role, n in workload.roles().items())
        self.progress.say(f"{self.opts.users} users through the {self.opts.lb} balancer at {host}:{port} ({roles}); "
                          f"seed {self.plan.seed}")
        return workload, started

    def inject_faults(self, nemesis: Nemesis, watcher: StatusWatcher, *, deadline: float) -> None:
        """The schedule, one fault at a time, while the next one probably ends before the tail."""
        time.sleep(min(3.0, self.opts.duration / 10))  # warm-up: every user has a session first
        for planned in self.plan.schedule[:self.opts.max_faults]:
            cost = estimated_cost(planned, len(self.plan.ids), self.plan.failure_timeout)
            if time.monotonic() + planned.gap + cost > deadline - TAIL and not self.opts.soak:
                break
            time.sleep(planned.gap)  # plain load between faults, as planned
            watcher.poll_once()
            fault = nemesis.inject(planned)
            if fault is not None:
                self.faults += fault if isinstance(fault, list) else [fault]
                self.executed.append(planned.to_json())
            if nemesis.problems:
                self.progress.say("stopping the faults: " + nemesis.problems[-1])
                break
        remaining = TAIL if self.opts.soak else deadline - time.monotonic()  # a soak ends with its schedule
        if remaining > 0:
            self.progress.phase = "load only"
            time.sleep(remaining)

    def wind_down(self, workload: Workload, nemesis: Nemesis, watcher: StatusWatcher) -> tuple[list[int], float]:
        """Users stopped, every fault undone, one more read each; (users never read, end time)."""
        self.progress.say("stopping the users")
        workload.stop(self.plan.workload.timeout + 2.0)
        nemesis.restore()
        if nemesis.wait_healed("the last fault") is not None:
            self.progress.say("ring healed; every user reads its session once more")
        unread = workload.final_reads(timeout=3 * self.plan.failure_timeout + 15.0)
        ended = time.monotonic()
        watcher.poll_once()
        return unread, ended

    def _status_line(self, progress: Progress) -> str:
        return status_line(elapsed=progress.elapsed(), duration=self.opts.duration, phase=progress.phase,
                           faults=len(self.faults), history=self.workload.snapshot() if self.workload else [],
                           rows=self.watcher.rows if self.watcher else [])


def report(drill_plan: DrillPlan, observed: Observed, workdir: Path) -> dict[str, Any]:
    """The checked figures (ring.drill.report), also written to the work directory with the
    history; the directory is removed after a clean drill unless it was asked for."""
    opts = drill_plan.options
    result = analyze(
        seed=drill_plan.seed, history=observed.history, faults=observed.faults, events=observed.events,
        schedule=observed.executed, started=observed.started, ended=observed.ended,
        options={**asdict(opts), "seed": drill_plan.seed, "faults": list(drill_plan.kinds),
                 "config": drill_plan.source, "instances": drill_plan.ids},
        unreplicated=observed.unreplicated, final_unread=observed.final_unread, problems=observed.problems,
        failure_timeout=drill_plan.failure_timeout, threshold=drill_plan.threshold, replay=drill_plan.replay,
        strict_goals=opts.strict_goals, lb_transitions=observed.lb_transitions)
    result["workdir"] = str(workdir)
    if observed.netns_prefix is not None:
        result["netns_prefix"] = observed.netns_prefix
    started = observed.started
    with open(workdir / "history.jsonl", "w") as f:  # for a closer look (and for the checker's tests)
        for op in observed.history:
            f.write(json.dumps({**op.to_json(), "invoke": op.invoke - started, "complete": op.complete - started})
                    + "\n")
    (workdir / "report.json").write_text(json.dumps(result, default=str, indent=1))
    if result["ok"] and not opts.keep and not opts.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
        result["workdir"] = None
    return result
