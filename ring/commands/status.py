"""`ring status --config FILE [--json]`: ask every instance, show the ring at a glance.

JSON (DESIGN.md 6): {"instances": [{"id", "address", "state": "alive"|"unreachable",
"incarnation", "successor", "primaries", "backups": {owner: n}, "orphans": {owner: n},
"resyncing": bool}]}, the rows of ring.io.statusclient. Exit 0 even when some instances are
unreachable (that is the news).
"""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console
from rich.table import Table

from ring.io.statusclient import collect
from ring.serverxml import load_server_xml


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("status", help="show every instance of the ring and what it holds")
    p.add_argument("--config", required=True, help="the shared server.xml")
    p.add_argument("--json", action="store_true", help="one JSON object (for tools)")
    p.add_argument("--timeout", type=float, default=1.0, help="seconds to wait for each instance")
    p.set_defaults(func=run)


def _counts(d: dict[str, int]) -> str:
    return " ".join(f"{k}:{v}" for k, v in d.items()) or "-"


def run(args: argparse.Namespace) -> int:
    config = load_server_xml(args.config)
    rows = collect(config, args.timeout)
    if args.json:
        print(json.dumps({"instances": rows}, indent=2))
        return 0
    table = Table(title=f"ring {' -> '.join(config.ring)}", title_justify="left")
    for col in ("instance", "address", "state", "incarnation", "successor", "primaries",
                "backups (by owner)", "orphans (by owner)", "resyncing"):
        table.add_column(col)
    for r in rows:
        alive = r["state"] == "alive"
        table.add_row(
            r["id"], r["address"], "[green]alive[/]" if alive else "[red]unreachable[/]",
            str(r["incarnation"] or "-"), r["successor"] or "-", str(r["primaries"] if alive else "-"),
            _counts(r["backups"]), _counts(r["orphans"]), "yes" if r["resyncing"] else "")
    width = None if sys.stdout.isatty() else 160
    Console(file=sys.stdout, width=width).print(table)
    if not config.replication.key and not config.replication.encrypted:
        print("INSECURE: this ring has neither <key> nor <encrypted>: any process that reaches a "
              "replication port is a full peer (see README, Security)")
    down = [r["id"] for r in rows if r["state"] != "alive"]
    if down:
        print(f"unreachable: {', '.join(down)} (start it with: ring serve --config {args.config} "
              f"--local-host {down[0]})")
    return 0
