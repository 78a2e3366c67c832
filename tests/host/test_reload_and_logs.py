"""What a SIGHUP applies (ring.host.reload) and the JSON log lines (ring.host.logs)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from ring.errors import ConfigError
from ring.host.logs import JsonFormatter
from ring.host.reload import plan_reload, runtime_of
from ring.serverxml import parse_server_xml


def config(tmp_path: Path, settings: str = "", admin: str = "") -> object:
    return parse_server_xml(f"""<server><cluster>
      <instance><host>127.0.0.1</host><session-replication><port>2001</port><instance-id>a</instance-id>
      {admin}</session-replication></instance>
      <instance><host>127.0.0.1</host><session-replication><port>2002</port><instance-id>b</instance-id>
      </session-replication></instance>
      <session-replication>{settings}</session-replication></cluster></server>""", str(tmp_path / "s.xml"))


def test_log_level_and_admin_address_apply_the_rest_needs_a_restart(tmp_path: Path) -> None:
    started = config(tmp_path)
    running = runtime_of(started, "a")  # type: ignore[arg-type]
    assert running.admin is None and running.log_level == "info"
    new = config(tmp_path, "<log-level>debug</log-level><key>0123456789abcdef0123</key>",
                 "<admin-http>:9099</admin-http>")
    plan = plan_reload(started, running, new, "a")  # type: ignore[arg-type]
    assert plan.runtime.log_level == "debug" and plan.runtime.admin == ("127.0.0.1", 9099)
    assert plan.changed == ("<log-level>", "<admin-http>")
    assert plan.restart == ("<key>",)  # named, never its value


def test_an_unchanged_file_changes_nothing_and_the_cli_admin_address_wins(tmp_path: Path) -> None:
    started = config(tmp_path)
    override = ("127.0.0.1", 7000)
    running = runtime_of(started, "a", override)  # type: ignore[arg-type]
    plan = plan_reload(started, running, config(tmp_path, admin="<admin-http>:9099</admin-http>"), "a",
                       override)  # type: ignore[arg-type]
    assert plan.changed == () and plan.restart == () and plan.runtime.admin == override


def test_membership_changes_need_a_restart(tmp_path: Path) -> None:
    started = config(tmp_path)
    new = parse_server_xml("""<server><cluster>
      <instance><host>127.0.0.1</host><session-replication><port>2001</port><instance-id>a</instance-id>
      </session-replication></instance></cluster></server>""", str(tmp_path / "s.xml"))
    plan = plan_reload(started, runtime_of(started, "a"), new, "a")  # type: ignore[arg-type]
    assert plan.restart == ("<instance> (the ring's members)",)


@pytest.mark.parametrize("value, message", [
    ("nope", "<admin-http> must be HOST:PORT"), ("127.0.0.1:0", "port number"),
    ("http://h:1", "must be HOST:PORT"), ("[::1]:x", "not a number"),
])
def test_bad_admin_addresses_are_refused_with_the_element(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(tmp_path, f"<admin-http>{value}</admin-http>")


def test_bad_log_level_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="<log-level> must be one of debug, info, warning, error"):
        config(tmp_path, "<log-level>loud</log-level>")


def test_json_log_lines_are_one_object_with_four_fields() -> None:
    record = logging.LogRecord("ring.engine", logging.WARNING, __file__, 1, "declares %s dead", ("c",), None)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert set(entry) == {"time", "level", "logger", "message"}
    assert entry["level"] == "warning" and entry["message"] == "declares c dead" and entry["time"].endswith("Z")
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert "ValueError: boom" in json.loads(JsonFormatter().format(record))["exception"]
