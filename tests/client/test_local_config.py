"""<local-socket> and <local-socket-mode> in server.xml."""

from __future__ import annotations

from pathlib import Path

import pytest

from ring.errors import ConfigError
from ring.serverxml import parse_server_xml


def config(tmp_path: Path, extra: str) -> str:
    return f"""<server><cluster>
  <instance><host>127.0.0.1</host><session-replication><port>17001</port><instance-id>a</instance-id>
  </session-replication></instance>
  <session-replication>{extra}</session-replication>
</cluster></server>"""


def test_off_unless_configured(tmp_path: Path) -> None:
    r = parse_server_xml(config(tmp_path, ""), str(tmp_path / "server.xml")).replication
    assert r.local_socket_for("a") is None and r.local_socket_permissions == 0o660


def test_a_relative_path_starts_at_server_xml_and_id_names_the_instance(tmp_path: Path) -> None:
    r = parse_server_xml(config(tmp_path, "<local-socket>run/{id}.sock</local-socket>"
                                          "<local-socket-mode>600</local-socket-mode>"),
                         str(tmp_path / "server.xml")).replication
    assert r.local_socket_for("a") == str(tmp_path / "run" / "a.sock")
    assert (r.local_socket_mode, r.local_socket_permissions) == ("0600", 0o600)


def test_a_bad_mode_names_the_element_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"server.xml:\d+: .*local-socket-mode.*octal"):
        parse_server_xml(config(tmp_path, "<local-socket-mode>rw-rw----</local-socket-mode>"),
                         str(tmp_path / "server.xml"))
