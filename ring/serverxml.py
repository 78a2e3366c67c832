"""Reading server.xml into a ClusterConfig, with the line of every mistake.

Three steps, each owning one kind of error:

1. read: defusedxml's expat parser builds a small tree of Node, each with its line. Not XML,
   a DOCTYPE (the door to entity bombs) or an entity is rejected here, with the parser's line.
2. check: the tree is walked against SERVER, a data table of elements (name, converter, the config
   field it sets, what it means). Unknown or misplaced elements, repeats, text in containers and
   values that do not convert (not a number, not a boolean) are rejected here, at the element.
3. build: the converted values become InstanceSpec, ReplicationSettings and ClusterConfig, which
   check ranges and relations themselves and know no lines; _relocated gives their errors the line
   of the first element the message names.

Defaults are not repeated here: an element that is absent leaves its config field at the default
declared (with its reason) in ring.config.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ring.config import ClusterConfig, InstanceSpec, ReplicationSettings, format_address
from ring.errors import ConfigError
from ring.xmlfile import Node, read_bytes, read_tree

__all__ = ["Element", "REPLICATION_ELEMENTS", "SERVER", "load_server_xml", "parse_server_xml"]

MAX_VALUE_LENGTH = 4096  # the longest value is a path or a key; more is a mistake (or an attack)

# -- converters: text of a leaf element -> value; ValueError says what was expected ---------------

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def boolean(text: str) -> bool:
    word = text.lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"must be true or false (or yes/no, on/off, 1/0), got {text!r}")


def whole_number(text: str) -> int:
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise ValueError(f"must be a whole number, got {text!r}")
    return int(text)


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"must be a number of seconds, got {text!r}")
    return value


def octal_mode(text: str) -> str:
    if not re.fullmatch(r"0?[0-7]{3}", text.strip()):
        raise ValueError(f"must be octal permissions such as 0660, got {text!r}")
    return "0" + text.strip()[-3:]


def nonempty(text: str) -> str:
    if not text:
        raise ValueError("must not be empty")
    return text


# -- the schema -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Element:
    """One element server.xml may contain: a container (convert is None) or a value."""

    name: str
    meaning: str
    convert: Callable[[str], Any] | None = None
    field: str | None = None  # the config field the value sets (ReplicationSettings or InstanceSpec)
    children: tuple[Element, ...] = ()
    repeatable: bool = False
    required: bool = False

    def child(self, name: str) -> Element | None:
        return next((child for child in self.children if child.name == name), None)


def _setting(name: str, convert: Callable[[str], Any], meaning: str, *, repeatable: bool = False) -> Element:
    renamed = {
        "async": "async_",
        "getAttribute-triggers-replication": "get_attribute_triggers_replication",
        "ntp-server": "ntp_servers",
        "metrics-allow": "metrics_allow",
    }
    return Element(name, meaning, convert, renamed.get(name, name.replace("-", "_")), repeatable=repeatable)


REPLICATION_ELEMENTS: tuple[Element, ...] = (
    # iPlanet's elements (Config File Reference, session-replication)
    _setting("enabled", boolean, "replicate sessions at all (false: each instance keeps its own)"),
    _setting("port", whole_number, "replication port of every instance that has no <port> of its own"),
    _setting("protocol", nonempty, "transport between instances: grpc only (not iPlanet's jrmp/http)"),
    _setting("encrypted", boolean, "gRPC over mutual TLS between instances (needs the tls-* files)"),
    _setting("key", nonempty, "shared secret: authenticates peers, signs locator cookies (>= 16 chars)"),
    _setting("async", boolean, "respond before the backup acknowledges (faster; a crash can lose writes)"),
    _setting(
        "getAttribute-triggers-replication", boolean, "a request that only reads a session replicates it"
    ),
    _setting("replica-discovery-max-hops", whole_number, "instances asked for a session's copy; -1: all"),
    _setting("startup-discovery-timeout", seconds, "seconds to wait at start for the backup; 0: don't"),
    _setting("cookie-name", nonempty, "locator cookie: names a session's primary and backup"),
    # ours
    _setting("ping-interval", seconds, "seconds between pings to each peer"),
    _setting("failure-timeout", seconds, "seconds of failed pings before a peer is declared dead"),
    _setting("session-timeout", seconds, "seconds a session may stay unused before it expires"),
    _setting("max-session-size", whole_number, "bytes; a larger encoded session is refused"),
    _setting("max-sessions", whole_number, "sessions one instance owns; a new one beyond is refused (503)"),
    _setting("ntp-server", nonempty, "NTP server (host or host:port) checked at start", repeatable=True),
    _setting("max-clock-skew", seconds, "seconds of clock offset (NTP or peers) that refuse a start"),
    _setting("request-timeout", seconds, "seconds a request may wait for its backup's ack or an adoption"),
    _setting("session-cookie-name", nonempty, "cookie that carries the session id"),
    _setting("cookie-secure", boolean, "mark both cookies Secure (sent over HTTPS only)"),
    _setting("tls-cert-file", nonempty, "PEM certificate of this instance (relative to server.xml)"),
    _setting("tls-key-file", nonempty, "PEM private key of that certificate (relative to server.xml)"),
    _setting("tls-ca-file", nonempty, "PEM CA certificate that signed every peer's (relative to server.xml)"),
    _setting("admin-http", nonempty, "HOST:PORT (:PORT = loopback) for /metrics, /livez, /readyz, status page"),
    _setting("log-level", nonempty, "debug, info, warning or error (SIGHUP applies a change)"),
    _setting("local-socket", nonempty, "Unix socket for this host's web workers ({id}: the instance id)"),
    _setting("local-socket-mode", octal_mode, "permissions of the local socket, octal (e.g. 0660)"),
    _setting("max-calls-per-address", whole_number, "replication calls one address and member may hold open at once"),
    _setting("first-message-timeout", seconds, "seconds a replication call may stay without a message"),
    _setting("http-connection-limit", whole_number, "HTTP connections open at once (more wait)"),
    _setting("http-channel-timeout", seconds, "seconds an idle HTTP connection stays open"),
    _setting("http-max-request-body", whole_number, "bytes; a larger HTTP request body is refused (413)"),
    _setting("metrics-allow", nonempty, "address or network that may read /metrics (besides loopback and "
             "members); any: everyone", repeatable=True),
)

_TLS_FIELDS = ("tls_cert_file", "tls_key_file", "tls_ca_file")

INSTANCE_OVERRIDES = Element(
    "session-replication",
    "per-instance overrides",
    children=(
        Element("port", "this instance's replication port", whole_number, "port"),
        Element("instance-id", "the instance's id (default host:port)", nonempty, "id"),
        Element("admin-http", "this instance's admin address (HOST:PORT)", nonempty, "admin_http"),
        Element("certificate-name", "with mutual TLS: a CN, DNS or URI name of its certificate (default: "
                "its id)", nonempty, "certificate_name"),
        Element("tls-cert-file", "its own PEM certificate (default the cluster's)", nonempty, "tls_cert_file"),
        Element("tls-key-file", "the PEM private key of its own certificate", nonempty, "tls_key_file"),
    ),
)
INSTANCE = Element(
    "instance",
    "a member of the ring, in ring order",
    repeatable=True,
    required=True,
    children=(
        Element("enabled", "false: listed, but not in the ring", boolean, "enabled"),
        Element("host", "host name or IP address of the instance", nonempty, "host", required=True),
        INSTANCE_OVERRIDES,
    ),
)
CLUSTER_REPLICATION = Element("session-replication", "cluster-wide settings", children=REPLICATION_ELEMENTS)
SERVER = Element(
    "server",
    "the root",
    children=(
        Element(
            "cluster",
            "the ring",
            required=True,
            children=(
                Element("local-host", "this process's instance: an id, host:port or host", nonempty),
                INSTANCE,
                CLUSTER_REPLICATION,
            ),
        ),
    ),
)


def _places(spec: Element, where: str = "") -> Iterator[tuple[str, str]]:
    """(element name, where it may appear) for every element under `spec`."""
    for child in spec.children:
        yield child.name, where or f"<{spec.name}>"
        yield from _places(child, f"{where}<{child.name}>")


def _index_places() -> dict[str, list[str]]:
    places: dict[str, list[str]] = {}
    for name, where in _places(SERVER):
        places.setdefault(name, []).append(where)
    return places


_PLACES = _index_places()  # for "<key> is not allowed here; it belongs in <cluster><session-replication>"

# -- step 2: check --------------------------------------------------------------------------------


def _unknown(node: Node, parent: Element, where: str, path: str) -> ConfigError:
    where = where or "<server>"
    message = f"unknown element <{node.tag}> in {where}"
    elsewhere = _PLACES.get(node.tag)
    if elsewhere:
        message = f"<{node.tag}> is not allowed in {where}; it belongs in {' or '.join(elsewhere)}"
    else:
        names = {child.name.lower(): child.name for child in parent.children}
        close = difflib.get_close_matches(node.tag.lower(), list(names), n=1)
        if close:
            message += f": did you mean <{names[close[0]]}>?"
        else:
            message += f"; it may contain: {', '.join(f'<{name}>' for name in names.values())}"
    return ConfigError(message, path=path, line=node.line)


def _check(node: Node, spec: Element, where: str, path: str) -> None:
    if node.attributes:
        name, value = next(iter(node.attributes.items()))
        raise ConfigError(
            f"<{node.tag}> takes no attributes, found {name}={value!r}: write settings as elements",
            path=path,
            line=node.line,
        )
    if spec.convert is not None:
        if node.children:
            raise ConfigError(
                f"<{node.tag}> holds a value, not elements: found <{node.children[0].tag}> in it",
                path=path,
                line=node.children[0].line,
            )
        if len(node.text) > MAX_VALUE_LENGTH:
            raise ConfigError(f"<{node.tag}> holds {len(node.text)} characters; a value has at most "
                              f"{MAX_VALUE_LENGTH}", path=path, line=node.line)
        try:
            node.value = spec.convert(node.text.strip())
        except ValueError as error:
            raise ConfigError(f"<{node.tag}> {error}", path=path, line=node.line) from None
        return
    if node.text_line is not None:
        raise ConfigError(
            f"<{node.tag}> contains elements, not text: found {node.text.strip()[:40]!r}",
            path=path,
            line=node.text_line,
        )
    first_of: dict[str, Node] = {}
    for child in node.children:
        child_spec = spec.child(child.tag)
        if child_spec is None:
            raise _unknown(child, spec, where, path)
        earlier = first_of.setdefault(child.tag, child)
        if earlier is not child and not child_spec.repeatable:
            raise ConfigError(
                f"<{child.tag}> appears twice in {where or '<server>'} (first at line {earlier.line}); only one is allowed",
                path=path,
                line=child.line,
            )
        _check(child, child_spec, f"{where}<{child.tag}>", path)
    for child_spec in spec.children:
        if child_spec.required and child_spec.name not in first_of:
            raise ConfigError(
                f"{where or '<server>'} has no <{child_spec.name}>: it needs one", path=path, line=node.line
            )


# -- step 3: build --------------------------------------------------------------------------------


def _values(node: Node | None, spec: Element) -> dict[str, Any]:
    """field -> value of the value elements present under `node` (a tuple for repeatable ones)."""
    values: dict[str, Any] = {}
    for child_spec in spec.children:
        if child_spec.field is None or node is None:
            continue
        found = [child.value for child in node.all(child_spec.name)]
        if child_spec.repeatable and found:
            values[child_spec.field] = tuple(found)
        elif found:
            values[child_spec.field] = found[0]
    return values


def _relocated(error: ConfigError, scope: Node, path: str) -> ConfigError:
    """Give an error from ring.config (which knows no lines) the line of the first element it names."""
    if error.line is not None:
        return error
    message = str(error)
    if error.path is not None:
        message = message.removeprefix(f"{error.path}: ")
    for name in re.findall(r"<([A-Za-z][\w-]*)>", message):
        named = scope.find(name)
        if named is not None:
            return ConfigError(message, path=path, line=named.line)
    return ConfigError(message, path=path, line=scope.line)


def _instance(node: Node, cluster_port: int, path: str) -> InstanceSpec:
    values = _values(node, INSTANCE)
    overrides = _values(node.first("session-replication"), INSTANCE_OVERRIDES)
    host = values["host"]
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # an IPv6 address written as in a URL
    port = overrides.get("port", cluster_port)
    base = os.path.dirname(os.path.abspath(path))
    files = {name: os.path.join(base, overrides[name]) for name in ("tls_cert_file", "tls_key_file")
             if name in overrides}  # relative to server.xml, as the cluster's
    for name, file in files.items():
        if not os.path.isfile(file):
            element = name.replace("_", "-")
            raise ConfigError(f"<{element}> {file}: no such file (relative paths start at the directory "
                              "of server.xml)", path=path, line=(node.find(element) or node).line)
    try:
        return InstanceSpec(
            id=overrides.get("id") or format_address(host, port),
            host=host,
            port=port,
            enabled=values.get("enabled", True),  # iPlanet default: a listed instance is in the ring
            line=node.line,
            admin_http=overrides.get("admin_http"),
            certificate_name=overrides.get("certificate_name"),
            **files,
        )
    except ConfigError as error:
        raise _relocated(error, node, path) from None


def _replication(node: Node | None, scope: Node, path: str) -> ReplicationSettings:
    values = _values(node, CLUSTER_REPLICATION)
    base = os.path.dirname(os.path.abspath(path))
    for name in (*_TLS_FIELDS, "local_socket"):
        if name in values:
            values[name] = os.path.join(base, values[name])  # an absolute path stays as it is
    try:
        settings = ReplicationSettings(**values)
    except ConfigError as error:
        raise _relocated(error, node or scope, path) from None
    for name in _TLS_FIELDS:
        file = getattr(settings, name)
        if file is not None and not os.path.isfile(file):
            element = name.replace("_", "-")
            line = (node.find(element) if node else scope) or scope
            raise ConfigError(
                f"<{element}> {file}: no such file (relative paths start at the directory of server.xml)",
                path=path,
                line=line.line,
            )
    return settings


def _build(root: Node, path: str) -> ClusterConfig:
    if root.tag != "server":
        hint = ": did you mean <server>?" if difflib.get_close_matches(root.tag.lower(), ["server"]) else ""
        raise ConfigError(
            f"the root element must be <server>, found <{root.tag}>{hint}", path=path, line=root.line
        )
    _check(root, SERVER, "", path)
    cluster = root.all("cluster")[0]
    replication = _replication(cluster.first("session-replication"), cluster, path)
    instances = tuple(_instance(node, replication.port, path) for node in cluster.all("instance"))
    try:
        config = ClusterConfig(path=path, instances=instances, local_host=None, replication=replication)
    except ConfigError as error:
        raise _relocated(error, cluster, path) from None
    local = cluster.first("local-host")
    if local is not None:
        try:
            config = config.with_local_host(local.value)
        except ConfigError as error:
            raise _relocated(error, local, path) from None
    return config


def parse_server_xml(text: str, path: str) -> ClusterConfig:
    """The ClusterConfig that `text` describes; `path` is used in messages and for relative paths."""
    return _build(read_tree(text, path), path)


def load_server_xml(path: str) -> ClusterConfig:
    """Read and check the server.xml at `path`. Every problem is a ConfigError with file and line."""
    return _build(read_tree(read_bytes(path), path), path)
