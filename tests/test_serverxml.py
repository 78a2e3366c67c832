"""server.xml: the example loads, defaults and overrides land, and every mistake names its line."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

import ring.serverxml
from ring.config import ClusterConfig, InstanceSpec, ReplicationSettings
from ring.errors import ConfigError
from ring.serverxml import REPLICATION_ELEMENTS, load_server_xml, parse_server_xml

EXAMPLE = Path(__file__).resolve().parent.parent / "server.xml.example"

TWO_INSTANCES = """\
<server>
  <cluster>
    <instance>
      <host>h1</host>
    </instance>
    <instance>
      <host>h2</host>
    </instance>
    <session-replication>
      {}
    </session-replication>
  </cluster>
</server>
"""


def with_replication(body: str) -> str:
    """A valid two-instance file whose cluster <session-replication> holds `body` on line 10."""
    return TWO_INSTANCES.format(body)


def parse(text: str) -> ClusterConfig:
    return parse_server_xml(text, "server.xml")


# -- valid files ----------------------------------------------------------------------------------


def test_the_example_is_a_four_instance_ring_on_loopback() -> None:
    config = load_server_xml(str(EXAMPLE))
    assert config.ring == ("a", "b", "c", "d")
    assert [spec.address for spec in config.instances] == [
        f"127.0.0.1:{port}" for port in range(17101, 17105)
    ]
    assert [config.successor_in_full_ring(id) for id in config.ring] == ["b", "c", "d", "a"]
    assert config.local_host is None
    assert config.replication == ReplicationSettings()


def test_the_packaged_default_is_the_example() -> None:
    packaged = Path(ring.serverxml.__file__).parent / "data" / "default-server.xml"
    assert packaged.read_text(encoding="utf-8") == EXAMPLE.read_text(encoding="utf-8")


def test_omitted_elements_take_ipLanet_and_documented_defaults() -> None:
    config = parse("<server><cluster><instance><host>web1</host></instance></cluster></server>")
    settings = config.replication
    assert (settings.enabled, settings.port, settings.protocol, settings.encrypted) == (
        True,
        1099,
        "grpc",
        False,
    )
    assert (settings.key, settings.async_, settings.get_attribute_triggers_replication) == (None, False, True)
    assert (settings.replica_discovery_max_hops, settings.startup_discovery_timeout) == (-1, 0.0)
    assert settings.cookie_name == "CLUSTERSESSIONLOCATOR"
    assert (settings.ping_interval, settings.failure_timeout, settings.session_timeout) == (0.5, 2.0, 1800.0)
    assert (settings.max_session_size, settings.ntp_servers, settings.max_clock_skew) == (1048576, (), 1.0)
    assert settings.max_sessions == 100_000
    assert (settings.request_timeout, settings.session_cookie_name, settings.cookie_secure) == (
        10.0,
        "RINGSESSION",
        False,
    )
    assert config.instances == (InstanceSpec("web1:1099", "web1", 1099, True, 1),)


def test_every_replication_element_sets_its_field(tmp_path: Path) -> None:
    for name in ("cert.pem", "key.pem", "ca.pem"):
        (tmp_path / name).write_text("pem")
    body = """
      <enabled>off</enabled> <port>2000</port> <protocol>grpc</protocol> <encrypted>YES</encrypted>
      <key>0123456789abcdef-secret</key> <async>1</async>
      <getAttribute-triggers-replication>false</getAttribute-triggers-replication>
      <replica-discovery-max-hops>3</replica-discovery-max-hops>
      <startup-discovery-timeout>2.5</startup-discovery-timeout> <cookie-name>LOC</cookie-name>
      <ping-interval>0.25</ping-interval> <failure-timeout>1</failure-timeout>
      <session-timeout>600</session-timeout> <max-session-size>4096</max-session-size>
      <max-sessions>250</max-sessions>
      <ntp-server>ntp1.example</ntp-server> <ntp-server>10.0.0.1:1123</ntp-server>
      <max-clock-skew>0.5</max-clock-skew> <request-timeout>3</request-timeout>
      <session-cookie-name>SID</session-cookie-name> <cookie-secure>on</cookie-secure>
      <tls-cert-file>cert.pem</tls-cert-file> <tls-key-file>key.pem</tls-key-file>
      <tls-ca-file>{ca}</tls-ca-file>
    """.format(ca=tmp_path / "ca.pem")
    path = tmp_path / "server.xml"
    path.write_text(with_replication(body))
    config = load_server_xml(str(path))
    assert config.replication == ReplicationSettings(
        enabled=False,
        port=2000,
        encrypted=True,
        key="0123456789abcdef-secret",
        async_=True,
        get_attribute_triggers_replication=False,
        replica_discovery_max_hops=3,
        startup_discovery_timeout=2.5,
        cookie_name="LOC",
        ping_interval=0.25,
        failure_timeout=1.0,
        session_timeout=600.0,
        max_session_size=4096,
        max_sessions=250,
        ntp_servers=("ntp1.example", "10.0.0.1:1123"),
        max_clock_skew=0.5,
        request_timeout=3.0,
        session_cookie_name="SID",
        cookie_secure=True,
        tls_cert_file=str(tmp_path / "cert.pem"),  # relative paths start at the file's directory
        tls_key_file=str(tmp_path / "key.pem"),
        tls_ca_file=str(tmp_path / "ca.pem"),
    )
    assert [spec.address for spec in config.instances] == ["h1:2000", "h2:2000"]
    fields = {f.name for f in dataclasses.fields(ReplicationSettings)}
    assert {element.field for element in REPLICATION_ELEMENTS} == fields


def test_instance_id_defaults_to_host_and_effective_port() -> None:
    config = parse("""\
<server><cluster>
  <instance><host>web1</host><session-replication><port>2001</port></session-replication></instance>
  <instance><host>web2</host></instance>
  <instance><host>::1</host><session-replication><instance-id>v6</instance-id></session-replication></instance>
  <session-replication><port>3000</port></session-replication>
</cluster></server>""")
    assert config.ring == ("web1:2001", "web2:3000", "v6")
    assert config.instance("v6").address == "[::1]:3000"
    assert config.instance("web1:2001").line == 2


def test_disabled_instances_are_listed_but_skipped_by_the_ring() -> None:
    config = parse("""\
<server><cluster>
  <instance><host>a</host></instance>
  <instance><enabled>false</enabled><host>b</host></instance>
  <instance><host>c</host></instance>
</cluster></server>""")
    assert [spec.id for spec in config.instances] == ["a:1099", "b:1099", "c:1099"]
    assert config.ring == ("a:1099", "c:1099")
    assert config.successor_in_full_ring("a:1099") == "c:1099"
    assert config.successor_in_full_ring("c:1099") == "a:1099"
    assert config.successor_in_full_ring("b:1099") is None


def test_a_lone_instance_has_no_successor() -> None:
    config = parse("<server><cluster><instance><host>a</host></instance></cluster></server>")
    assert config.successor_in_full_ring("a:1099") is None


def test_local_host_accepts_an_id_an_address_or_a_unique_host() -> None:
    config = load_server_xml(str(EXAMPLE))
    assert config.with_local_host("b").local_host == "b"
    assert config.with_local_host("127.0.0.1:17103").local_host == "c"
    assert config.local_host is None  # with_local_host returns a copy
    with pytest.raises(ConfigError, match=r"host of 4 instances \(a, b, c, d\)"):
        config.with_local_host("127.0.0.1")
    with pytest.raises(ConfigError, match="names no instance; known ids: a, b, c, d"):
        config.with_local_host("e")
    with pytest.raises(ConfigError, match="no instance 'e'; known: a, b, c, d"):
        config.instance("e")
    multi_host = parse(
        "<server><cluster><local-host>web2</local-host><instance><host>web1</host></instance>"
        "<instance><host>web2</host></instance></cluster></server>"
    )
    assert multi_host.local_host == "web2:1099"
    assert multi_host.local_instance == multi_host.instances[1]


def test_text_with_an_encoding_declaration_and_a_missing_file(tmp_path: Path) -> None:
    text = '<?xml version="1.0" encoding="ISO-8859-1"?>\n<server><cluster><instance><host>h</host></instance></cluster></server>'
    assert parse(text).ring == ("h:1099",)
    with pytest.raises(ConfigError, match="cannot read the configuration: No such file") as caught:
        load_server_xml(str(tmp_path / "absent.xml"))
    assert caught.value.path == str(tmp_path / "absent.xml")


def test_core_settings_carries_what_the_core_needs() -> None:
    core = ReplicationSettings(ping_interval=0.1, failure_timeout=0.5, async_=True).core_settings()
    assert (core.ping_interval, core.failure_timeout, core.async_replication) == (0.1, 0.5, True)
    assert (core.max_discovery_hops, core.replicate_on_read, core.max_session_size) == (-1, True, 1048576)
    assert (core.session_timeout, core.request_timeout) == (1800.0, 10.0)
    assert core.max_sessions == 100_000 and ReplicationSettings(max_sessions=7).core_settings().max_sessions == 7


# -- every mistake, with its line -----------------------------------------------------------------

INSTANCE_WITH = """\
<server>
  <cluster>
    <instance>
      {}
    </instance>
  </cluster>
</server>
"""

# fmt: off
BAD = [
    # (case, xml, expected substring, expected line)
    ("not xml", "<server>\n  <cluster>\n</server>\n", "not well-formed XML: mismatched tag", 3),
    ("empty file", "", "not well-formed XML: no element found", 1),
    ("doctype", '<?xml version="1.0"?>\n<!DOCTYPE server>\n<server/>', "<!DOCTYPE> and entity declarations", 2),
    ("undeclared entity", "<server>\n&lol;</server>", "undefined entity", 2),
    ("wrong root", "\n<sever/>", "root element must be <server>, found <sever>: did you mean <server>?", 2),
    ("no cluster", "<server>\n</server>", "<server> has no <cluster>", 1),
    ("two clusters", "<server>\n<cluster><instance><host>a</host></instance></cluster>\n<cluster/>\n</server>",
     "<cluster> appears twice in <server> (first at line 2)", 3),
    ("no instance", "<server>\n  <cluster>\n  </cluster>\n</server>", "<cluster> has no <instance>", 2),
    ("instance without host", INSTANCE_WITH.format("<enabled>true</enabled>"), "<cluster><instance> has no <host>", 3),
    ("unknown in cluster", "<server><cluster>\n<instance><host>h</host></instance>\n<nodes/></cluster></server>",
     "unknown element <nodes> in <cluster>; it may contain: <local-host>, <instance>, <session-replication>", 3),
    ("misspelled instance", "<server><cluster>\n<instanse><host>h</host></instanse></cluster></server>",
     "unknown element <instanse> in <cluster>: did you mean <instance>?", 2),
    ("misspelled host", INSTANCE_WITH.format("<hots>h</hots>"), "<hots> in <cluster><instance>: did you mean <host>?", 4),
    ("misspelled setting", with_replication("<failure-timout>3</failure-timout>"), "did you mean <failure-timeout>?", 10),
    ("zero max-sessions", with_replication("<max-sessions>0</max-sessions>"), "<max-sessions> must be a positive number, got 0", 10),
    ("negative max-sessions", with_replication("<max-sessions>-5</max-sessions>"), "<max-sessions> must be a positive number", 10),
    ("max-sessions not a number", with_replication("<max-sessions>lots</max-sessions>"), "<max-sessions>", 10),
    ("wrong case", with_replication("<getattribute-triggers-replication>1</getattribute-triggers-replication>"),
     "did you mean <getAttribute-triggers-replication>?", 10),
    ("instance-id at cluster level", with_replication("<instance-id>a</instance-id>"),
     "<instance-id> is not allowed in <cluster><session-replication>; it belongs in <cluster><instance><session-replication>", 10),
    ("key per instance", INSTANCE_WITH.format("<host>h</host><session-replication>\n<key>x</key></session-replication>"),
     "<key> is not allowed in <cluster><instance><session-replication>", 5),
    ("port not a number", with_replication("<port>rmi</port>"), "<port> must be a whole number, got 'rmi'", 10),
    ("port out of range", with_replication("<port>65536</port>"), "<port> must be a port number from 1 to 65535, got 65536", 10),
    ("instance port zero", INSTANCE_WITH.format("<host>h</host>\n<session-replication><port>0</port></session-replication>"),
     "<port> must be a port number from 1 to 65535, got 0", 5),
    ("bad boolean", with_replication("<async>sometimes</async>"), "<async> must be true or false (or yes/no, on/off, 1/0)", 10),
    ("bad instance boolean", INSTANCE_WITH.format("<enabled>nope</enabled><host>h</host>"), "<enabled> must be true or false", 4),
    ("negative timeout", with_replication("<session-timeout>-1</session-timeout>"),
     "<session-timeout> must be a positive number of seconds, got -1", 10),
    ("non-numeric timeout", with_replication("<failure-timeout>2s</failure-timeout>"),
     "<failure-timeout> must be a number of seconds, got '2s'", 10),
    ("infinite timeout", with_replication("<request-timeout>inf</request-timeout>"), "must be a number of seconds, got 'inf'", 10),
    ("failure timeout too short", with_replication("<ping-interval>1</ping-interval>"),
     "<failure-timeout> (2 s) must be more than twice <ping-interval> (1 s)", 10),
    ("request timeout too short", with_replication("<request-timeout>1</request-timeout>"),
     "<request-timeout> (1 s) must be more than <failure-timeout> (2 s)", 10),
    ("hops zero", with_replication("<replica-discovery-max-hops>0</replica-discovery-max-hops>"),
     "must be -1 (no limit) or 1 to 2147483647, got 0", 10),
    ("startup discovery too long", with_replication("<startup-discovery-timeout>3601</startup-discovery-timeout>"),
     "must be 0 or from 0.001 to 3600 seconds", 10),
    ("session too large", with_replication("<max-session-size>8388609</max-session-size>"), "<max-session-size> must be from 1 to 8388608 bytes (8 MiB)", 10),
    ("bad ntp server", with_replication("<ntp-server>ntp.example:abc</ntp-server>"), "<ntp-server> has a port that is not a number", 10),
    ("same cookie names", with_replication("<session-cookie-name>CLUSTERSESSIONLOCATOR</session-cookie-name>"),
     "need two cookies", 10),
    ("bad cookie name", with_replication("<cookie-name>my cookie</cookie-name>"), "<cookie-name> must be a cookie name", 10),
    ("short key", with_replication("<key>secret</key>"), "<key> must be at least 16 characters", 10),
    ("jrmp", with_replication("<protocol>jrmp</protocol>"),
     "iPlanet's jrmp/http transports are not supported; ring replicates over grpc: remove <protocol> or set it to grpc", 10),
    ("http", with_replication("<protocol>HTTP</protocol>"), "<protocol> must be grpc, got 'HTTP'", 10),
    ("http lower case", with_replication("<protocol>http</protocol>"), "jrmp/http transports are not supported", 10),
    ("encrypted without files", with_replication("<encrypted>true</encrypted>"),
     "<encrypted> is true, so <tls-cert-file>, <tls-key-file>, <tls-ca-file> must be set", 10),
    ("tls file without encryption", with_replication("<tls-ca-file>ca.pem</tls-ca-file>"),
     "<tls-ca-file> is set but <encrypted> is false", 10),
    ("tls file missing", with_replication(
        "<encrypted>true</encrypted>\n<tls-cert-file>/nonexistent/c.pem</tls-cert-file>"
        "<tls-key-file>/nonexistent/k.pem</tls-key-file><tls-ca-file>/nonexistent/ca.pem</tls-ca-file>"),
     "<tls-cert-file> /nonexistent/c.pem: no such file", 11),
    ("repeated setting", with_replication("<port>1</port>\n      <port>2</port>"),
     "<port> appears twice in <cluster><session-replication> (first at line 10); only one is allowed", 11),
    ("repeated host", INSTANCE_WITH.format("<host>a</host>\n<host>b</host>"), "<host> appears twice in <cluster><instance>", 5),
    ("repeated local-host", "<server><cluster>\n<local-host>a</local-host>\n<local-host>b</local-host></cluster></server>",
     "<local-host> appears twice", 3),
    ("text in cluster", "<server>\n<cluster>\n  oops\n<instance><host>h</host></instance></cluster></server>",
     "<cluster> contains elements, not text: found 'oops'", 3),
    ("text in instance", INSTANCE_WITH.format("<host>h</host>\n stray"), "<instance> contains elements, not text", 5),
    ("text after a child", with_replication("<port>1</port>\n tail"), "<session-replication> contains elements", 11),
    ("element in a value", with_replication("<port>\n<value>1</value></port>"), "<port> holds a value, not elements: found <value>", 11),
    ("empty value", INSTANCE_WITH.format("<host></host>"), "<host> must not be empty", 4),
    ("host with port", INSTANCE_WITH.format("<host>h:8080</host>"), "put the port in <session-replication><port>", 4),
    ("host as url", INSTANCE_WITH.format("<host>http://h</host>"), "<host> must be a host name or address, not a URL", 4),
    ("bad instance id", INSTANCE_WITH.format("<host>h</host><session-replication>\n<instance-id>a b</instance-id></session-replication>"),
     "<instance-id> must be 1-255 letters", 5),
    ("attribute", "<server>\n<cluster name='x'/></server>", "<cluster> takes no attributes, found name='x'", 2),
    ("duplicate id", "<server><cluster>\n<instance><host>a</host></instance>\n"
     "<instance><host>b</host><session-replication><instance-id>a:1099</instance-id></session-replication></instance>"
     "</cluster></server>", "duplicate <instance> id 'a:1099' (first at line 2)", 3),
    ("duplicate address", "<server><cluster>\n"
     "<instance><host>h</host><session-replication><instance-id>a</instance-id></session-replication></instance>\n"
     "<instance><host>h</host><session-replication><instance-id>b</instance-id></session-replication></instance>"
     "</cluster></server>", "duplicate <instance> address h:1099 (first at line 2, id 'a')", 3),
    ("no enabled instance", "<server><cluster>\n<instance><enabled>no</enabled><host>a</host></instance>\n</cluster></server>",
     "<cluster> has no enabled instance", 2),
    ("unknown local-host", "<server><cluster>\n<instance><host>a</host></instance>\n<local-host>b</local-host></cluster></server>",
     "<local-host> 'b' names no instance; known ids: a:1099", 3),
    ("ambiguous local-host", "<server><cluster>\n<local-host>h</local-host>\n"
     "<instance><host>h</host><session-replication><port>1</port></session-replication></instance>"
     "<instance><host>h</host><session-replication><port>2</port></session-replication></instance></cluster></server>",
     "<local-host> 'h' is the host of 2 instances (h:1, h:2)", 2),
]
# fmt: on


@pytest.mark.parametrize(
    ("xml", "expected", "line"), [case[1:] for case in BAD], ids=[case[0] for case in BAD]
)
def test_a_mistake_is_a_config_error_naming_the_element_and_line(xml: str, expected: str, line: int) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_server_xml(xml, "/etc/ring/server.xml")
    error = caught.value
    message = str(error)
    assert expected in message
    assert (error.path, error.line) == ("/etc/ring/server.xml", line), message
    assert message.startswith(f"/etc/ring/server.xml:{line}: ")
    assert "\n" not in message


def billion_laughs() -> str:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">' for level in range(1, 10)
    ]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE server [\n'
        + "\n".join(entities)
        + "\n]>\n<server>&lol9;</server>\n"
    )


def test_an_xml_bomb_is_rejected_at_once() -> None:
    started = time.perf_counter()
    with pytest.raises(ConfigError, match="DOCTYPE> and entity declarations are not allowed") as caught:
        parse(billion_laughs())
    assert time.perf_counter() - started < 0.5
    assert caught.value.line == 2


def test_an_external_entity_is_rejected() -> None:
    xxe = '<?xml version="1.0"?>\n<!DOCTYPE server [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<server>&x;</server>'
    with pytest.raises(ConfigError, match="not allowed in server.xml"):
        parse(xxe)


def test_settings_built_in_code_are_checked_too() -> None:
    with pytest.raises(ConfigError, match="<failure-timeout>"):
        ReplicationSettings(ping_interval=1.0, failure_timeout=1.5)
    with pytest.raises(ConfigError, match="<port>"):
        InstanceSpec("a", "h", 0, True, 1)
    with pytest.raises(ConfigError, match="no <instance>"):
        ClusterConfig(path="x", instances=())
    spec = InstanceSpec("a", "h", 1, True, 1)
    with pytest.raises(ConfigError, match="'b' is not an instance id"):
        ClusterConfig(path="x", instances=(spec,), local_host="b")
