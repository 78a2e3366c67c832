"""Issue 11: the security settings of server.xml: per-instance certificates and certificate names,
admission and HTTP limits, each with a clear error at its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ring.errors import ConfigError
from ring.host.http import HttpLimits
from ring.serverxml import parse_server_xml


def config(tmp_path: Path, instance_extra: str = "", settings: str = "", encrypted: bool = True) -> str:
    for name in ("ca.pem", "cluster.pem", "cluster.key", "a.pem", "a.key"):
        (tmp_path / name).write_text("x")
    tls = ("<encrypted>true</encrypted><tls-cert-file>cluster.pem</tls-cert-file>"
           "<tls-key-file>cluster.key</tls-key-file><tls-ca-file>ca.pem</tls-ca-file>") if encrypted else ""
    return f"""<server><cluster>
  <instance><host>10.0.0.1</host>
    <session-replication><instance-id>a</instance-id>{instance_extra}</session-replication>
  </instance>
  <instance><host>10.0.0.2</host><session-replication><instance-id>b</instance-id></session-replication>
  </instance>
  <session-replication>{tls}{settings}</session-replication>
</cluster></server>"""


def test_an_instance_has_its_own_certificate_and_a_certificate_name(tmp_path: Path) -> None:
    text = config(tmp_path, "<certificate-name>spiffe://ring/a</certificate-name>"
                            "<tls-cert-file>a.pem</tls-cert-file><tls-key-file>a.key</tls-key-file>")
    parsed = parse_server_xml(text, str(tmp_path / "server.xml"))
    a = parsed.instance("a")
    assert a.tls_cert_file == str(tmp_path / "a.pem") and a.tls_key_file == str(tmp_path / "a.key")
    assert parsed.certificate_names() == {"a": "a", "b": "b", "spiffe://ring/a": "a"}
    assert parsed.instance("b").tls_cert_file is None


@pytest.mark.parametrize("extra, settings, encrypted, message", [
    ("<certificate-name>b</certificate-name>", "", True, "also names instance 'b'"),
    ("<tls-cert-file>a.pem</tls-cert-file>", "", True, "go together"),
    ("<tls-cert-file>nope.pem</tls-cert-file><tls-key-file>a.key</tls-key-file>", "", True, "no such file"),
    ("<certificate-name>a b</certificate-name>", "", True, "<certificate-name> must be"),
    ("<certificate-name>x</certificate-name>", "<key>0123456789abcdef</key>", False, "<encrypted> is false"),
    ("", "<max-calls-per-address>2</max-calls-per-address>", True, "<max-calls-per-address> must be from 4"),
    ("", "<first-message-timeout>0</first-message-timeout>", True, "<first-message-timeout> must be"),
    ("", "<http-connection-limit>0</http-connection-limit>", True, "<http-connection-limit> must be"),
    ("", "<http-channel-timeout>0.5</http-channel-timeout>", True, "<http-channel-timeout> must be from 1"),
    ("", "<http-max-request-body>10</http-max-request-body>", True, "<http-max-request-body> must be"),
])
def test_bad_security_settings_name_the_element(tmp_path: Path, extra: str, settings: str, encrypted: bool,
                                                message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")) as info:
        parse_server_xml(config(tmp_path, extra, settings, encrypted), str(tmp_path / "server.xml"))
    assert ":" in str(info.value).split(" ")[0]  # file:line first


def test_http_limits_come_from_server_xml(tmp_path: Path) -> None:
    text = config(tmp_path, settings="<http-connection-limit>50</http-connection-limit>"
                                     "<http-channel-timeout>7</http-channel-timeout>"
                                     "<http-max-request-body>4096</http-max-request-body>")
    parsed = parse_server_xml(text, str(tmp_path / "server.xml"))
    assert HttpLimits.of(parsed.replication) == HttpLimits(50, 7.0, 4096)
    default = parse_server_xml(config(tmp_path), str(tmp_path / "server.xml")).replication
    assert HttpLimits.of(default) == HttpLimits()


def test_waitress_refuses_a_body_over_the_limit() -> None:
    import http.client
    import socket

    from ring.host.http import HttpServer

    def app(environ: dict, start_response: object) -> list[bytes]:  # type: ignore[type-arg]
        start_response("200 OK", [("Content-Type", "text/plain")])  # type: ignore[operator]
        return [b"ok"]

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = HttpServer(app, "127.0.0.1", port, threads=1, limits=HttpLimits(10, 5.0, 1024))
    server.start()
    try:
        statuses = []
        for size in (100, 4096):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("POST", "/", body=b"x" * size)
            statuses.append(conn.getresponse().status)
            conn.close()
        assert statuses == [200, 413]
    finally:
        server.stop()


def test_metrics_are_for_loopback_members_and_metrics_allow(tmp_path: Path) -> None:
    from ring.host.http import metrics_readers, with_health

    settings = parse_server_xml(config(tmp_path, settings="<metrics-allow>192.0.2.0/24</metrics-allow>"
                                                          "<metrics-allow>2001:db8::7</metrics-allow>"),
                                str(tmp_path / "server.xml")).replication
    allowed = metrics_readers(settings, {"10.0.0.1", "10.0.0.2"})
    assert [allowed(a) for a in ("127.0.0.1", "::1", "10.0.0.2", "192.0.2.77", "2001:db8::7")] == [True] * 5
    assert [allowed(a) for a in ("10.0.0.3", "198.51.100.1", "", "unix", "2001:db8::8")] == [False] * 5
    everyone = parse_server_xml(config(tmp_path, settings="<metrics-allow>any</metrics-allow>"),
                                str(tmp_path / "server.xml")).replication
    assert metrics_readers(everyone, ())("198.51.100.1")
    with pytest.raises(ConfigError, match="<metrics-allow> must be"):
        parse_server_xml(config(tmp_path, settings="<metrics-allow>web1</metrics-allow>"), "server.xml")

    statuses: list[str] = []
    app = with_health(lambda e, s: [], lambda: True, lambda: b"m 1\n", allowed)
    for address in ("127.0.0.1", "198.51.100.1"):
        app({"PATH_INFO": "/metrics", "REMOTE_ADDR": address}, lambda status, headers: statuses.append(status))
    assert statuses == ["200 OK", "403 Forbidden"]
