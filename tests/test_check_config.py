"""`ring check-config`: the ring and the settings for a good file, one line and exit 2 for a bad one."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from ring.commands import check_config

EXAMPLE = Path(__file__).resolve().parent.parent / "server.xml.example"


def check(config: Path | str, *, local_host: str | None = None, as_json: bool = False) -> int:
    return check_config.run(argparse.Namespace(config=str(config), local_host=local_host, json=as_json))


def rows(output: str) -> list[list[str]]:
    return [line.split() for line in output.splitlines()]


def test_the_example_prints_the_ring_in_order_with_successors(capsys: pytest.CaptureFixture[str]) -> None:
    assert check(EXAMPLE, local_host="c") == 0
    out, err = capsys.readouterr()
    assert err == ""
    table = rows(out)
    assert ["pos", "id", "address", "enabled", "successor"] in table
    assert ["1", "a", "127.0.0.1:17101", "yes", "b"] in table
    assert ["2", "b", "127.0.0.1:17102", "yes", "c"] in table
    assert ["3", "c", "127.0.0.1:17103", "yes", "d", "<-", "local"] in table
    assert ["4", "d", "127.0.0.1:17104", "yes", "a"] in table
    assert all(line == line.rstrip() for line in out.splitlines())  # plain text when not a terminal


def test_the_settings_show_values_defaults_and_meanings(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "server.xml"
    path.write_text(
        "<server><cluster><instance><host>web1</host></instance><instance><enabled>no</enabled>"
        "<host>web2</host></instance><session-replication><ping-interval>0.25</ping-interval>"
        "<key>0123456789abcdef0123</key></session-replication></cluster></server>"
    )
    assert check(path) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "(default)" not in lines["ping-interval"]
    assert lines["ping-interval"].split()[1] == "0.25"
    assert "seconds between pings" in lines["ping-interval"]
    assert lines["failure-timeout"].split()[1:3] == ["2", "(default)"]
    assert "0123456789abcdef0123" not in out  # the key is a secret
    assert lines["key"].split()[1] == "(hidden)"
    assert ["-", "web2:1099", "web2:1099", "no", "-"] in rows(out)
    assert ["1", "web1:1099", "web1:1099", "yes", "-"] in rows(out)  # alone in the ring


def test_json_lists_instances_and_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert check(EXAMPLE, as_json=True) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["instances"][0] == {
        "id": "a",
        "address": "127.0.0.1:17101",
        "enabled": True,
        "successor": "b",
    }
    assert [instance["successor"] for instance in report["instances"]] == ["b", "c", "d", "a"]
    assert report["settings"]["cookie-name"] == "CLUSTERSESSIONLOCATOR"
    assert report["settings"]["failure-timeout"] == 2.0
    assert report["settings"]["ntp-server"] == []
    assert report["settings"]["key"] is None


BAD_FILES = [
    ("<server>\n<cluster>\n<instance><host>h</host></instance>\n<session-replication><port>x</port>", 4),
    (
        "<server><cluster>\n<instance><host>h</host></instance>\n<session-replication><port>x</port>"
        "</session-replication></cluster></server>",
        3,
    ),
    ("<server><cluster>\n<instance><host>h</host></instance>\n<bogus/></cluster></server>", 3),
    ("<server><cluster>\n<instance><host>h</host><enabled>false</enabled></instance></cluster></server>", 2),
    ("<server><cluster>\n<instance><host>h</host></instance>\n<session-replication>"
     "<max-sessions>0</max-sessions></session-replication></cluster></server>", 3),
]


@pytest.mark.parametrize(("xml", "line"), BAD_FILES)
def test_a_bad_file_is_one_line_on_stderr_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, xml: str, line: int
) -> None:
    path = tmp_path / "server.xml"
    path.write_text(xml)
    assert check(path) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"error: {path}:{line}: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_a_missing_file_and_an_unknown_local_host_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert check(tmp_path / "absent.xml") == 2
    assert "cannot read the configuration" in capsys.readouterr().err
    assert check(EXAMPLE, local_host="zz") == 2
    err = capsys.readouterr().err
    assert "'zz' names no instance; known ids: a, b, c, d" in err
    assert err.count("\n") == 1


def test_add_parser_wires_the_subcommand() -> None:
    parser = argparse.ArgumentParser(prog="ring")
    check_config.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["check-config", "--config", "x.xml", "--local-host", "a", "--json"])
    assert (args.func, args.config, args.local_host, args.json) == (check_config.run, "x.xml", "a", True)
