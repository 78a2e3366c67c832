"""`ring drill`: a failover drill on a local cluster of real instances (DESIGN.md 6).

    ring drill [--config FILE] [--duration S] [--faults LIST|new] [--seed N] [--lb builtin|haproxy]
               [--partition] [--logout-users N] [--idle-users N] [--idle-pause S] [--double-gap S]
               [--soak [--soak-scale X]] [--json]

Starts every instance of the config (default: the packaged server.xml.example, moved onto free
ports) with the demo app, drives simulated users through a sticky balancer, injects a seeded fault
schedule, checks that no acknowledged increment was lost and no read went stale, and reports.
The users include logout users (`--logout-users`: they log out, keep the old cookie and read
with it again: the session must stay gone) and idle users (`--idle-users`, `--idle-pause`: their
sessions sit without traffic across faults); the instances run ring.drill.app, whose hash chain
of increments lets the checker see forked histories. `--faults new` runs the faults of the
integrity and redundancy issues (ring.drill.schedule lists every fault); `--soak` runs the soak
mix (`--soak-scale 0.05` for a short one).
Progress goes to stderr; the report to stdout (a table, or with --json one JSON object).
Exit 0: no violation; 1: a violation (the report shows the seed and the replay command);
2: a usage or configuration error; 130/143: interrupted (everything was cleaned up).
"""

from __future__ import annotations

import argparse
import json
import sys

from ring.drill.schedule import ALL_KINDS, DEFAULT_KINDS, DOUBLE_GAP, SOAK_MIX


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "drill", help="run load and faults against a local cluster and check no session update is lost",
        description="Start the cluster's instances as real processes with the demo app, drive simulated "
                    "users through a sticky load balancer, inject a seeded fault schedule, check, report.")
    p.add_argument("--config", help="server.xml to drill (default: the packaged server.xml.example); "
                   "instances are moved onto free loopback ports")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    p.add_argument("--faults", help=f"comma list from {', '.join(ALL_KINDS)}, or `new` for the faults of "
                   f"issues 9 and 10 (default {','.join(DEFAULT_KINDS)}; with --partition: "
                   "partition,partition-oneway,loss,kill); each is described at the top of ring/drill/schedule.py)")
    p.add_argument("--seed", type=int, help="seed of the fault schedule and the users (default: random, printed)")
    p.add_argument("--lb", choices=("builtin", "haproxy"), default="builtin",
                   help="load balancer: the built-in sticky one, or the real haproxy from PATH")
    p.add_argument("--partition", action="store_true",
                   help="run every instance in its own network namespace and cut links (root only)")
    p.add_argument("--users", type=int, default=16, help="simulated users (default 16)")
    p.add_argument("--rate", type=float, default=100.0, help="total target operations per second (default 100)")
    p.add_argument("--max-faults", type=int, help="inject at most this many faults (default: as many as fit)")
    p.add_argument("--ignore-orphans", action="store_true",
                   help="between faults wait only until the ring re-formed, not until orphaned sessions (single "
                        "copies) were adopted: a second failure then loses them")
    p.add_argument("--logout-users", type=int,
                   help="users that log out every few increments and try their old cookie again (default users/8)")
    p.add_argument("--idle-users", type=int, help="users that stop for --idle-pause seconds after a short "
                   "burst, so their sessions sit through faults (default users/8)")
    p.add_argument("--idle-pause", type=float, default=30.0, help="seconds an idle user stays away (default 30)")
    p.add_argument("--double-gap", type=float, default=DOUBLE_GAP,
                   help=f"double-failure: seconds between the revival and the second kill (default {DOUBLE_GAP:g})")
    p.add_argument("--soak", action="store_true",
                   help="run the soak schedule instead of --faults: " + ", ".join(f"{n} {k}" for k, n in SOAK_MIX.items())
                        + " (shuffled), for as long as it takes; --duration is a minimum")
    p.add_argument("--soak-scale", type=float, default=1.0,
                   help="scale the soak's fault counts (0.05: a short soak of 1/20th; default 1)")
    p.add_argument("--workdir", help="keep configs, logs and event logs here (default: a temporary "
                   "directory, removed after a clean drill)")
    p.add_argument("--keep", action="store_true", help="keep the temporary work directory after a clean drill")
    p.add_argument("--strict-goals", action="store_true",
                   help="a missed timing goal (detection, unavailability) is a violation too")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout (the table goes to stderr)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ring.drill.hygiene import Interrupted
    from ring.drill.report import render
    from ring.drill.runner import DrillOptions, run_drill

    opts = DrillOptions(config=args.config, duration=args.duration, faults=args.faults, seed=args.seed,
                        lb=args.lb, partition=args.partition, users=args.users, rate=args.rate,
                        workdir=args.workdir, keep=args.keep, strict_goals=args.strict_goals,
                        max_faults=args.max_faults, ignore_orphans=args.ignore_orphans,
                        logout_users=args.logout_users, idle_users=args.idle_users, idle_pause=args.idle_pause,
                        double_gap=args.double_gap, soak=args.soak, soak_scale=args.soak_scale)
    err = Console(file=sys.stderr, highlight=False, width=None if sys.stderr.isatty() else 140)
    try:
        report = run_drill(opts, err)
    except Interrupted as exc:
        err.print(f"drill {exc}; everything it started was stopped and removed")
        return 128 + exc.signum
    if args.json:
        if not report.get("skipped"):
            render(report, err)
        print(json.dumps(report, default=str))
    elif not report.get("skipped"):
        width = None if sys.stdout.isatty() else 140
        render(report, Console(file=sys.stdout, width=width, highlight=False))
    if report.get("workdir"):
        err.print(f"work directory (configs, logs, event logs): {report['workdir']}")
    return 0 if report["ok"] else 1
