"""`ring status --config FILE [--json] [--check] [--watch [SECONDS]]`: ask every instance, show the ring.

JSON (DESIGN.md 6): {"instances": [{"id", "address", "state": "alive"|"unreachable",
"incarnation", "successor", "primaries", "backups": {owner: n}, "orphans": {owner: n},
"resyncing": bool, ...}]}, the rows of ring.io.statusclient (with version, uptime, HTTP and admin
addresses, ready and lease state of each live instance). The table shows the same rows (the
columns of the admin status page) and, below it, why the ring is degraded, if it is.

Exit 0, even when some instances are unreachable (that is the news), unless `--check`: then exit
1 when the ring is degraded (an instance down, sessions held once, a resync under way, an
instance without a serving lease), for scripts and probes. `--watch` redraws every SECONDS (2 by
default, at least 0.5) until Ctrl-C, which exits 0 (or `--count N` redraws).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ring.config import ClusterConfig
from ring.errors import ConfigError
from ring.host.statuspage import COLUMNS, table_cells
from ring.io.statusclient import collect, problems
from ring.serverxml import load_server_xml

MIN_INTERVAL = 0.5  # seconds: a watch never asks the ring more often than this
DEGRADED_EXIT = 1


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("status", help="show every instance of the ring and what it holds",
                       description="Ask every instance of the ring for its status and show it: a table, "
                       "or JSON for tools. With --check, exit 1 when the ring is degraded.")
    p.add_argument("--config", required=True, help="the shared server.xml")
    p.add_argument("--json", action="store_true", help="one JSON object (for tools)")
    p.add_argument("--timeout", type=float, default=1.0, help="seconds to wait for each instance")
    p.add_argument("--check", action="store_true",
                   help="exit 1 when the ring is degraded (instance down, unredundant sessions, resync)")
    p.add_argument("--watch", nargs="?", type=float, const=2.0, metavar="SECONDS",
                   help="redraw every SECONDS (default 2) until Ctrl-C")
    p.add_argument("--count", type=int, help="with --watch: stop after this many redraws")
    p.set_defaults(func=run)


def render(config: ClusterConfig, rows: list[dict[str, Any]], found: list[str], config_path: str) -> Group:
    """The table and what is wrong, as rich renderables."""
    table = Table(title=f"ring {' -> '.join(config.ring)}", title_justify="left")
    for col in COLUMNS:
        table.add_column(col)
    state = COLUMNS.index("state")
    for r in rows:
        cells: list[str | Text] = list(table_cells(r))
        cells[state] = Text(str(cells[state]), style="green" if r["state"] == "alive" else "red")
        table.add_row(*cells)
    lines: list[Table | Text] = [table]
    if found:
        lines.append(Text("degraded: " + "; ".join(found), style="red"))
    else:
        lines.append(Text("healthy: every instance up, every session held twice", style="green"))
    down = [r["id"] for r in rows if r["state"] != "alive"]
    if down:
        lines.append(Text(f"start {down[0]} with: ring serve --config {config_path} --local-host {down[0]}"))
    return Group(*lines)


def run(args: argparse.Namespace) -> int:
    config = load_server_xml(args.config)
    if args.watch is not None:
        if args.json:
            raise ConfigError("--watch draws a table; for JSON, run `ring status --json` repeatedly")
        return _watch(args, config)
    rows = collect(config, args.timeout)
    found = problems(rows)
    if args.json:
        print(json.dumps({"instances": rows}, indent=2))
    else:
        _console().print(render(config, rows, found, args.config))
    return DEGRADED_EXIT if args.check and found else 0


def _console() -> Console:
    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 200)


def _watch(args: argparse.Namespace, config: ClusterConfig) -> int:
    interval = max(MIN_INTERVAL, args.watch)
    console = _console()
    found: list[str] = []
    drawn = 0
    live = Live(console=console, auto_refresh=False) if console.is_terminal else None
    # Ctrl-C ends the watch after the redraw in progress (an interrupt inside the status
    # client's threads and gRPC calls could hang the exit)
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    try:
        if live is not None:
            live.start()
        while (args.count is None or drawn < args.count) and not stop.is_set():
            if drawn and stop.wait(interval):  # the pace of a display, or Ctrl-C
                break
            rows = collect(config, min(args.timeout, interval))
            found = problems(rows)
            view = render(config, rows, found, args.config)
            if live is not None:
                live.update(view, refresh=True)
            else:
                console.print(view)  # a pipe gets one table per redraw
            drawn += 1
    finally:
        signal.signal(signal.SIGINT, previous)
        if live is not None:
            live.stop()
    if stop.is_set():
        return 0
    if not config.replication.key and not config.replication.encrypted:
        print("INSECURE: this ring has neither <key> nor <encrypted>: any process that reaches a "
              "replication port is a full peer (see README, Security)")
    return DEGRADED_EXIT if args.check and found else 0
