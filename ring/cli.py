"""The `ring` command line. Each sub-command lives in ring/commands/<name>.py with
`add_parser(subparsers)` (which sets `func`) and is imported here, statically: a command that
cannot be imported is an error of `ring` itself, never a silently missing command.

Exit codes: 0 success or clean stop, 2 configuration or usage error, 3 clock check refused,
1 anything else (a drill that found a violation, an unexpected error).
"""

from __future__ import annotations

import argparse
import logging
import sys

from ring import __version__
from ring.commands import check_config, drill, fuzz, serve, simulate, status
from ring.errors import RingError

COMMANDS = (serve, check_config, status, simulate, fuzz, drill)  # in the order `ring --help` lists them


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ring", description="Session replication for Python web clusters (an iPlanet-style backup ring).")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"ring {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except RingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
