"""`ring fuzz --config server.xml`: does this ring keep the promise under every schedule tried?

    ring fuzz --config server.xml                  500 examples (Hypothesis picks crashes, pauses,
                                                   partitions, lost and duplicated messages)
    ring fuzz --config server.xml --minutes 5      as many as fit in five minutes
    ring fuzz --config server.xml --seed 7         another seed (the default is drawn and printed)

It runs the state machine CI runs (ring.testing.machine) on a simulated ring built from the
file's enabled instances and its settings: nothing starts, no port opens. On a violation it prints
the shortest schedule Hypothesis found as a transcript (the narrator of `ring simulate`), the
assertion, and the command that replays it; exit 1. Otherwise it prints the figures measured in
simulation (time to detect a crash, to re-form the ring, to restore redundancy; p50 and p99 over
the crashes tried); exit 0. Needs Hypothesis: pip install 'ring-sessions[testing]'.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from typing import Any

from ring.errors import ConfigError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "fuzz", help="property-test your server.xml's ring in simulation (crashes, pauses, partitions)",
        description="Run the ring's stateful property test against a simulated ring built from a "
        "server.xml: exit 1 with a replayable transcript if the promise breaks.")
    parser.add_argument("--config", required=True, metavar="FILE", help="the server.xml to test")
    parser.add_argument("--examples", type=int, default=500, help="schedules to try (default 500)")
    parser.add_argument("--minutes", type=float, help="stop after this long (whichever comes first)")
    parser.add_argument("--seed", type=int, help="the first round's seed (default: drawn, printed)")
    parser.add_argument("--no-shrink", action="store_true",
                        help="report the first failing schedule as found (shrinking it can take minutes)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    if args.examples < 1 or (args.minutes is not None and args.minutes <= 0):
        raise ConfigError("--examples must be at least 1 and --minutes above 0")
    try:
        from ring.testing.fuzz import fuzz
    except ImportError as exc:
        raise ConfigError(f"ring fuzz needs Hypothesis: pip install 'ring-sessions[testing]' ({exc})") from exc
    from ring.serverxml import load_server_xml

    cluster = load_server_xml(args.config)
    order = tuple(cluster.ring)
    if len(order) < 2:
        raise ConfigError(f"{args.config}: a ring needs at least 2 enabled instances to fuzz, it has {len(order)}")
    core = cluster.replication.core_settings()
    first_seed = args.seed if args.seed is not None else secrets.randbits(32)
    print(f"fuzzing the ring {' -> '.join(order)} of {args.config} (seed {first_seed}, "
          f"{args.examples} examples{f', at most {args.minutes:g} min' if args.minutes else ''})")
    if len(order) > 6:
        print(f"note: {len(order)} instances make each schedule slow; 3 to 6 explore faster", file=sys.stderr)
    last = [0.0]

    def progress(examples: int, steps: int, seconds: float) -> None:
        if time.monotonic() - last[0] >= 2.0 or examples >= args.examples:
            last[0] = time.monotonic()
            print(f"  {examples} examples, {steps} steps, {examples / max(seconds, 1e-9):.1f} schedules/s",
                  flush=True)

    result = fuzz(order, core, examples=args.examples, seed=first_seed, minutes=args.minutes,
                  shrink=not args.no_shrink, progress=progress)
    if result.violation:
        found = "as found" if args.no_shrink else "the shortest Hypothesis found"
        print(f"\nVIOLATION: the promise broke on this schedule ({found}):")
        for line in result.transcript:
            print(f"  {line}")
        print("\n" + result.violation.split("\ntranscript tail:")[0])
        if result.steps_text:
            steps = result.steps_text.split("\nExplanation:")[0]
            print(f"\nthe schedule, as Hypothesis replays it:\n{steps}")
        print(f"\nreplay: ring fuzz --config {args.config} {result.replay}")
        return 1
    print(f"ok: {result.examples} examples, {result.steps} steps in {result.seconds:.0f} s; the promise held")
    names = {"detect": "detect a crash", "reform": "re-form the ring", "redundant": "two copies again"}
    for key, (p50, p99, n) in result.figures.summary().items():
        print(f"  time to {names[key]:<17} p50 {p50:5.2f} s   p99 {p99:5.2f} s   ({n} crashes)")
    return 0
