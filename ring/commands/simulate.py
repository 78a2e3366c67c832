"""`ring simulate`: play the iPlanet stories (ring.testing.stories) on a simulated ring and print them.

    ring simulate                        every scenario on the ring a,b,c,d
    ring simulate --scenario failover    one scenario
    ring simulate --list                 the scenarios and what each tells
    ring simulate --config server.xml    on the enabled instances of that file, in ring order,
                                         with its timing settings

Nothing starts: the instances are pure state machines on a manual clock, so the output is the same
on every run. Exit 0 when every story came true, 1 when one did not (its assertion is printed after
its transcript), 2 for a bad argument or configuration.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ring.core import CoreSettings
from ring.errors import ConfigError, ScenarioFailed
from ring.testing import DEFAULT_ORDER, SCENARIOS, run_scenario


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "simulate",
        help="play the iPlanet stories (failover, rejoin, adoption...) on a simulated ring",
        description="Play scenario scripts on a simulated ring (manual clock, no network) and print "
        "their transcripts. Each scenario checks its own story: exit 1 if one does not come true.",
    )
    parser.add_argument(
        "--config", metavar="FILE",
        help="use the enabled instances of this server.xml as the ring (default: a,b,c,d)",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--scenario", metavar="NAME", choices=sorted(SCENARIOS),
                       help="play only this scenario (see --list); default: all of them")
    which.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    if getattr(args, "list", False):
        width = max(len(name) for name in SCENARIOS)
        for scenario in SCENARIOS.values():
            print(f"{scenario.name:<{width}}  {scenario.title}")
        return 0
    try:
        order, settings = _ring(getattr(args, "config", None))
    except ConfigError as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return error.exit_code
    chosen = [args.scenario] if getattr(args, "scenario", None) else list(SCENARIOS)
    if len(chosen) == 1:
        too_small = _too_small(chosen[0], order)
        if too_small:
            print(f"error: {too_small}", file=sys.stderr)
            return 2
    failed, skipped = [], []
    for number, name in enumerate(chosen):
        if number:
            print()
        outcome = _play(name, order, settings)
        if outcome == "skipped":
            skipped.append(name)
        elif outcome == "failed":
            failed.append(name)
    if failed:
        print(f"\nFAILED: {', '.join(failed)} ({len(failed)} of {len(chosen)} scenarios)")
        return 1
    if len(skipped) == len(chosen):
        print(f"error: no scenario fits a ring of {len(order)} instance(s)", file=sys.stderr)
        return 2
    return 0


def _play(name: str, order: tuple[str, ...], settings: CoreSettings | None) -> str:
    """Print one scenario; "ok", "failed" (its story did not come true) or "skipped" (ring too small)."""
    scenario = SCENARIOS[name]
    print(f"== {name}: {scenario.title}")
    too_small = _too_small(name, order)
    if too_small:
        print(f"   skipped: {too_small}")
        return "skipped"
    print(f"   {_roles(order)}")
    try:
        lines = run_scenario(name, order, settings)
    except ScenarioFailed as failure:
        for line in failure.transcript:
            print(line)
        print(f"FAILED: {failure}")
        return "failed"
    for line in lines:
        print(line)
    print("ok: the story came true")
    return "ok"


def _too_small(name: str, order: tuple[str, ...]) -> str:
    needed = SCENARIOS[name].min_instances
    if len(order) >= needed:
        return ""
    return f"scenario {name!r} needs a ring of at least {needed} instances; this one has {len(order)}"


def _roles(order: tuple[str, ...]) -> str:
    """Who plays whom (ring.testing.actors: by position; D is A's predecessor)."""
    roles = {"A": order[0], "B": order[1 % len(order)]}
    if len(order) >= 3:
        roles["C"] = order[2]
    roles["D"] = order[-1]
    cast = " ".join(f"{role}={name}" for role, name in roles.items())
    return f"ring {'->'.join(order + order[:1])}; roles {cast}"


def _ring(config: str | None) -> tuple[tuple[str, ...], CoreSettings | None]:
    """The ring order and the core settings: from server.xml, or a,b,c,d with the defaults."""
    if not config:
        return DEFAULT_ORDER, None
    try:
        from ring.serverxml import load_server_xml
    except ImportError as error:  # the server.xml reader is not installed in this tree
        raise ConfigError(f"cannot read {config}: server.xml support is unavailable ({error})") from error
    cluster = load_server_xml(config)
    try:
        settings = cluster.replication.core_settings()
    except ValueError as error:
        raise ConfigError(f"{config}: {error}") from error
    return tuple(cluster.ring), settings
