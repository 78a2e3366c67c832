"""`ring check-config`: load server.xml, print the ring and the effective settings, or the error.

Exit 0 when the file is valid, 2 (with one line on stderr, never a traceback) when it is not.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ring.config import ClusterConfig, setting_defaults
from ring.errors import ConfigError
from ring.serverxml import REPLICATION_ELEMENTS, load_server_xml

HIDDEN = "(hidden)"  # the key is a secret: say whether it is set, never what it is


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "check-config",
        help="check server.xml and print the ring and the effective settings",
        description="Check server.xml; print each instance with its successor, then every setting "
        "with its value. Exit 2 on any error.",
    )
    parser.add_argument("--config", required=True, metavar="FILE", help="the server.xml to check")
    parser.add_argument(
        "--local-host", metavar="ID", help="mark this instance as local (an id, host:port or unique host)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        config = load_server_xml(args.config)
        if getattr(args, "local_host", None):
            config = config.with_local_host(args.local_host)
    except ConfigError as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return error.exit_code
    if getattr(args, "json", False):
        print(json.dumps(as_json(config), indent=2))
    else:
        _print_tables(config)
    return 0


def setting_values(config: ClusterConfig) -> list[tuple[str, Any, bool, str]]:
    """(element, value, is_default, meaning) for every cluster-wide setting, in schema order."""
    defaults = setting_defaults()
    rows = []
    for element in REPLICATION_ELEMENTS:
        assert element.field is not None
        value = getattr(config.replication, element.field)
        is_default = value == defaults[element.field]
        if element.field == "key" and value is not None:
            value = HIDDEN
        rows.append((element.name, value, is_default, element.meaning))
    return rows


def as_json(config: ClusterConfig) -> dict[str, Any]:
    return {
        "path": config.path,
        "local_host": config.local_host,
        "instances": [
            {
                "id": spec.id,
                "address": spec.address,
                "enabled": spec.enabled,
                "successor": config.successor_in_full_ring(spec.id),
            }
            for spec in config.instances
        ],
        "settings": {
            name: list(value) if isinstance(value, tuple) else value
            for name, value, _, _ in setting_values(config)
        },
    }


def _shown(value: Any) -> str:
    """A value as it would be written in server.xml."""
    if value is None or value == ():
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ", ".join(value)
    return str(value)


def _print_tables(config: ClusterConfig) -> None:
    console = Console(file=sys.stdout, markup=False, emoji=False, highlight=False)
    plain = not console.is_terminal
    if plain:
        # a pipe or a file: no colours, no box lines, no wrapping of the meaning column
        console = Console(markup=False, emoji=False, highlight=False, width=200, no_color=True)
        with console.capture() as captured:
            _print_to(console, config, plain=True)
        lines = captured.get().splitlines()
        sys.stdout.write("".join(line.rstrip() + "\n" for line in lines))
    else:
        _print_to(console, config, plain=False)


def _print_to(console: Console, config: ClusterConfig, *, plain: bool) -> None:
    table_box = None if plain else box.SIMPLE_HEAD
    enabled = sum(spec.enabled for spec in config.instances)
    console.print(Text(f"ring of {config.path}: {enabled} enabled of {len(config.instances)} instances"))
    ring = Table(box=table_box, pad_edge=False, show_edge=False)
    for header in ("pos", "id", "address", "enabled", "successor", ""):
        ring.add_column(header)
    position = 0
    for spec in config.instances:
        position += spec.enabled
        ring.add_row(
            str(position) if spec.enabled else "-",
            spec.id,
            spec.address,
            "yes" if spec.enabled else "no",
            config.successor_in_full_ring(spec.id) or "-",
            "<- local" if spec.id == config.local_host else "",
            style=None if spec.enabled or plain else "dim",
        )
    console.print(ring)
    console.print()

    console.print(Text("settings (cluster-wide <session-replication>)"))
    settings = Table(box=table_box, pad_edge=False, show_edge=False)
    for header in ("element", "value", "", "meaning"):
        settings.add_column(header)
    for name, value, is_default, meaning in setting_values(config):
        settings.add_row(
            name,
            _shown(value),
            "(default)" if is_default else "",
            meaning,
            style="dim" if is_default and not plain else None,
        )
    console.print(settings)
