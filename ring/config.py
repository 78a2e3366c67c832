"""The cluster configuration: what server.xml says, validated once, then never changed.

Three frozen records: InstanceSpec (one <instance>), ReplicationSettings (the cluster-wide
<session-replication>, iPlanet's elements plus ours) and ClusterConfig (all of it, plus which
instance is this one). Each checks its own values when built, so a config that exists is a valid
config, whether it came from ring.serverxml or from a test.

Errors raised here know no line numbers. Every message starts with the element it is about, in
angle brackets ("<port> must be ..."); the loader puts the file and the line of the first element
named in the message that the file contains in front (ring.serverxml).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass, field

from ring.core.settings import CoreSettings, InvalidSettings
from ring.core.topology import successor_of
from ring.errors import ConfigError

_CORE = CoreSettings()  # the core's defaults: ReplicationSettings takes them from here

# server.xml's element for each setting of the core, for messages about the core's rules
CORE_ELEMENTS = {
    "ping_interval": "<ping-interval>", "failure_timeout": "<failure-timeout>",
    "session_timeout": "<session-timeout>", "request_timeout": "<request-timeout>",
    "max_discovery_hops": "<replica-discovery-max-hops>", "max_session_size": "<max-session-size>",
    "async_replication": "<async>", "replicate_on_read": "<getAttribute-triggers-replication>",
    "max_sessions": "<max-sessions>",
}

MAX_SESSION_SIZE_LIMIT = 8 * 1024 * 1024  # above this one session is a blob store, not a session
MAX_HOPS_LIMIT = 2147483647  # iPlanet's documented upper bound for replica-discovery-max-hops
STARTUP_DISCOVERY_MAX = 3600.0  # iPlanet's documented range for startup-discovery-timeout
LOG_LEVELS = ("debug", "info", "warning", "error")  # <log-level>, also changed by SIGHUP
MAX_CALLS_LIMIT = 1024  # half the replication port's 2048 calls (ring.io.server): others must get in
MIN_KEY_LENGTH = 16  # the key signs locators and authenticates peers: it must not be guessable

_INSTANCE_ID = re.compile(r"[A-Za-z0-9._:\[\]-]{1,255}")  # travels in the locator cookie
_HOST = re.compile(r"[A-Za-z0-9._%:-]{1,255}")  # a DNS name, an IPv4 or an IPv6 address
_CERT_NAME = re.compile(r"[!-~]{1,255}")  # what a CN, DNS or URI name of a certificate can be, printable
_COOKIE_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")  # RFC 6265 cookie-name (token)


def _seconds(value: float) -> str:
    return f"{value:g}"


def check_port(value: int, element: str = "port") -> None:
    if not 1 <= value <= 65535:
        raise ConfigError(f"<{element}> must be a port number from 1 to 65535, got {value}")


def check_host(value: str, element: str = "host") -> None:
    if "://" in value or "/" in value:
        raise ConfigError(f"<{element}> must be a host name or address, not a URL: {value!r}")
    if value.count(":") == 1:
        raise ConfigError(
            f"<{element}> must be a host without a port, got {value!r}: "
            "put the port in <session-replication><port>"
        )
    if not _HOST.fullmatch(value):
        raise ConfigError(f"<{element}> must be a host name or IP address, got {value!r}")


def split_host_port(value: str, default_port: int, element: str) -> tuple[str, int]:
    """Split "host", "host:port", "[v6]:port" or a bare IPv6 address into (host, port)."""
    host, port_text = value, None
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ConfigError(f"<{element}> must be host or host:port, got {value!r}")
            port_text = rest[1:]
    elif value.count(":") == 1:
        host, port_text = value.split(":")
    check_host(host, element)
    if port_text is None:
        return host, default_port
    if not port_text.isdigit():
        raise ConfigError(f"<{element}> has a port that is not a number: {value!r}")
    check_port(int(port_text), element)
    return host, int(port_text)


def parse_admin_http(value: str, element: str = "admin-http") -> tuple[str, int]:
    """An admin address: "HOST:PORT", "[v6]:PORT", or ":PORT" / "PORT" for loopback (127.0.0.1)."""
    text = value.strip()
    if text.isdigit() or (text.startswith(":") and text[1:].isdigit()):
        text = "127.0.0.1:" + text.lstrip(":")
    if not (text.startswith("[") and "]:" in text) and text.count(":") != 1:
        raise ConfigError(f"<{element}> must be HOST:PORT (or :PORT for loopback), got {value!r}")
    return split_host_port(text, 0, element)


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class InstanceSpec:
    """One <instance>: a member of the ring, in document order."""

    id: str  # <instance-id>, else "host:port"; names the instance in locators and status
    host: str
    port: int  # the instance's replication port: its override, else the cluster's
    enabled: bool  # false: listed but not in the ring
    line: int  # where the <instance> starts in server.xml, for error messages
    admin_http: str | None = None  # this instance's admin address; else the cluster's <admin-http>
    certificate_name: str | None = None  # with mutual TLS: a name its certificate has; default its id
    tls_cert_file: str | None = None  # its own certificate (default the cluster's <tls-cert-file>)
    tls_key_file: str | None = None  # the key of that certificate

    def __post_init__(self) -> None:
        check_host(self.host)
        check_port(self.port)
        if self.admin_http is not None:
            parse_admin_http(self.admin_http)
        if not _INSTANCE_ID.fullmatch(self.id):
            raise ConfigError(f"<instance-id> must be 1-255 letters, digits or . _ : - [ ], got {self.id!r}")
        if self.certificate_name is not None and not _CERT_NAME.fullmatch(self.certificate_name):
            raise ConfigError(f"<certificate-name> must be a DNS name, a URI or a common name (1-255 "
                              f"printable characters, no spaces), got {self.certificate_name!r}")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ConfigError("<tls-cert-file> and <tls-key-file> of an <instance> go together: set both or neither")

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)


@dataclass(frozen=True, slots=True)
class ReplicationSettings:
    """The cluster-wide <session-replication>: iPlanet's elements first, then ours."""

    enabled: bool = True  # iPlanet default: a cluster replicates unless told not to
    port: int = 1099  # iPlanet default replication port; instances may override it
    protocol: str = "grpc"  # the one transport ring speaks (iPlanet's default jrmp is Java RMI)
    encrypted: bool = False  # iPlanet default; true means mutual TLS, which needs the tls-* files
    key: str | None = None  # iPlanet has no default secret; without one locators are unsigned
    # the settings the core uses take their defaults (and reasons) from ring.core.settings
    async_: bool = _CORE.async_replication
    get_attribute_triggers_replication: bool = _CORE.replicate_on_read
    replica_discovery_max_hops: int = _CORE.max_discovery_hops
    startup_discovery_timeout: float = 0.0  # iPlanet default: do not wait for the backup at start
    cookie_name: str = "CLUSTERSESSIONLOCATOR"  # iPlanet's locator cookie name
    ping_interval: float = _CORE.ping_interval
    failure_timeout: float = _CORE.failure_timeout
    session_timeout: float = _CORE.session_timeout
    max_session_size: int = _CORE.max_session_size
    max_sessions: int = _CORE.max_sessions
    ntp_servers: tuple[str, ...] = ()  # no NTP query unless asked; peers' clocks are compared anyway
    max_clock_skew: float = 1.0  # well under the failure timeout, so expiry agrees across instances
    request_timeout: float = _CORE.request_timeout
    session_cookie_name: str = "RINGSESSION"  # distinct from frameworks' own "session" cookies
    cookie_secure: bool = False  # plain-HTTP development works; set true behind HTTPS
    tls_cert_file: str | None = None  # required when encrypted: this instance's certificate
    tls_key_file: str | None = None  # required when encrypted: its private key
    tls_ca_file: str | None = None  # required when encrypted: the CA that signed every peer
    # operators: off unless asked (two instances on one host cannot share an admin port)
    admin_http: str | None = None
    log_level: str = "info"  # warnings and ring events, without a line per request
    local_socket: str | None = None  # no local socket unless asked: web workers of other servers use it
    local_socket_mode: str = "0660"  # owner and group (the web server's) only; other users cannot connect
    # admission: what a stranger (or a broken peer) can hold before it is refused
    max_calls_per_address: int = 320  # per address and member: the core's 256 eager claims, and more
    first_message_timeout: float = 5.0  # a member writes at once; an idle call is closed after this
    http_connection_limit: int = 500  # waitress's 100 is taken by 100 idle clients; each costs one fd
    http_channel_timeout: float = 30.0  # seconds an idle HTTP connection is kept (waitress: 120)
    http_max_request_body: int = 16 * 1024 * 1024  # bytes; waitress accepts 1 GiB by default
    metrics_allow: tuple[str, ...] = ()  # who may read /metrics besides loopback and the members

    def __post_init__(self) -> None:
        check_port(self.port)
        if self.admin_http is not None:
            parse_admin_http(self.admin_http)
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(f"<log-level> must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}")
        if self.protocol in ("jrmp", "http"):
            raise ConfigError(
                f"<protocol>{self.protocol}</protocol>: iPlanet's jrmp/http transports are not "
                "supported; ring replicates over grpc: remove <protocol> or set it to grpc"
            )
        if self.protocol != "grpc":
            raise ConfigError(f"<protocol> must be grpc, got {self.protocol!r}")
        if self.key is not None and len(self.key) < MIN_KEY_LENGTH:
            raise ConfigError(
                f"<key> must be at least {MIN_KEY_LENGTH} characters: it authenticates peers "
                "and signs locator cookies (try: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        hops = self.replica_discovery_max_hops
        if hops != -1 and not 1 <= hops <= MAX_HOPS_LIMIT:
            raise ConfigError(
                f"<replica-discovery-max-hops> must be -1 (no limit) or 1 to {MAX_HOPS_LIMIT}, got {hops}"
            )
        wait = self.startup_discovery_timeout
        if wait != 0 and not 0.001 <= wait <= STARTUP_DISCOVERY_MAX:
            raise ConfigError(
                f"<startup-discovery-timeout> must be 0 or from 0.001 to 3600 seconds, got {_seconds(wait)}"
            )
        self.core_settings()  # the core's own rules, checked here with element names
        if not self.max_clock_skew > 0:
            raise ConfigError(f"<max-clock-skew> must be a positive number of seconds, got {_seconds(self.max_clock_skew)}")
        if not 1 <= self.max_session_size <= MAX_SESSION_SIZE_LIMIT:
            raise ConfigError(
                f"<max-session-size> must be from 1 to {MAX_SESSION_SIZE_LIMIT} bytes (8 MiB), "
                f"got {self.max_session_size}"
            )
        for server in self.ntp_servers:
            split_host_port(server, 123, "ntp-server")
        self._check_cookies()
        self._check_tls()
        self._check_admission()

    def _check_admission(self) -> None:
        for allowed in self.metrics_allow:
            if allowed != "any":
                try:
                    ipaddress.ip_network(allowed, strict=False)
                except ValueError:
                    raise ConfigError(f"<metrics-allow> must be an IP address, a network (10.0.0.0/8) or "
                                      f"any, got {allowed!r}") from None
        for element, value, low, high in (
            ("max-calls-per-address", self.max_calls_per_address, 4, MAX_CALLS_LIMIT),
            ("http-connection-limit", self.http_connection_limit, 1, 100_000),
            ("http-max-request-body", self.http_max_request_body, 1024, 1 << 31),
        ):
            if not low <= value <= high:
                raise ConfigError(f"<{element}> must be from {low} to {high}, got {value}")
        for element, seconds, shortest in (("first-message-timeout", self.first_message_timeout, 0.1),
                                           ("http-channel-timeout", self.http_channel_timeout, 1.0)):
            if not shortest <= seconds <= 3600:
                raise ConfigError(f"<{element}> must be from {shortest:g} to 3600 seconds, got {_seconds(seconds)}")

    def _check_cookies(self) -> None:
        for element, value in (
            ("cookie-name", self.cookie_name),
            ("session-cookie-name", self.session_cookie_name),
        ):
            if not _COOKIE_TOKEN.fullmatch(value):
                raise ConfigError(
                    f"<{element}> must be a cookie name (1-64 letters, digits, or !#$%&'*+.^_`|~-), "
                    f"got {value!r}"
                )
        if self.cookie_name == self.session_cookie_name:
            raise ConfigError(
                f"<session-cookie-name> and <cookie-name> are both {self.cookie_name!r}: "
                "the session id and the locator need two cookies"
            )

    def _check_tls(self) -> None:
        files = {
            "tls-cert-file": self.tls_cert_file,
            "tls-key-file": self.tls_key_file,
            "tls-ca-file": self.tls_ca_file,
        }
        if self.encrypted:
            missing = [f"<{element}>" for element, value in files.items() if not value]
            if missing:
                raise ConfigError(
                    f"<encrypted> is true, so {', '.join(missing)} must be set: mutual TLS needs this "
                    "instance's certificate, its key and the CA that signed the peers' certificates"
                )
        else:
            for element, value in files.items():
                if value is not None:
                    raise ConfigError(
                        f"<{element}> is set but <encrypted> is false: set <encrypted>true</encrypted> "
                        f"to use TLS, or remove <{element}>"
                    )

    @property
    def local_socket_permissions(self) -> int:
        return int(self.local_socket_mode, 8)

    def local_socket_for(self, instance_id: str) -> str | None:
        """The local socket path of one instance ({id} in <local-socket> replaced by its id)."""
        return None if self.local_socket is None else self.local_socket.replace("{id}", instance_id)

    def core_settings(self) -> CoreSettings:
        """The part of these settings the pure core needs, checked by the core's own rules."""
        try:
            return CoreSettings(
                ping_interval=self.ping_interval,
                failure_timeout=self.failure_timeout,
                session_timeout=self.session_timeout,
                max_discovery_hops=self.replica_discovery_max_hops,
                async_replication=self.async_,
                replicate_on_read=self.get_attribute_triggers_replication,
                max_session_size=self.max_session_size,
                request_timeout=self.request_timeout,
                max_sessions=self.max_sessions,
            )
        except InvalidSettings as invalid:
            raise ConfigError(invalid.problems[0].render(CORE_ELEMENTS)) from None

def setting_defaults() -> dict[str, object]:
    """ReplicationSettings field name -> its default value."""
    return {f.name: f.default for f in dataclasses.fields(ReplicationSettings)}


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """A whole server.xml: every instance in document order, the settings, and which one is local."""

    path: str  # the file it came from, for error messages
    instances: tuple[InstanceSpec, ...]  # all of them, disabled ones too, in document order
    local_host: str | None = None  # the id of this process's instance; None until chosen
    replication: ReplicationSettings = field(default_factory=ReplicationSettings)

    def __post_init__(self) -> None:
        if not self.instances:
            raise ConfigError("<cluster> has no <instance>: the ring needs at least one", path=self.path)
        seen_ids: dict[str, InstanceSpec] = {}
        seen_addresses: dict[str, InstanceSpec] = {}
        for spec in self.instances:
            earlier = seen_ids.get(spec.id)
            if earlier is not None:
                raise ConfigError(
                    f"duplicate <instance> id {spec.id!r} (first at line {earlier.line}): "
                    "give each instance its own <instance-id> or host:port",
                    path=self.path,
                    line=spec.line,
                )
            earlier = seen_addresses.get(spec.address)
            if earlier is not None:
                raise ConfigError(
                    f"duplicate <instance> address {spec.address} (first at line {earlier.line}, "
                    f"id {earlier.id!r}): two instances cannot listen on one host and port",
                    path=self.path,
                    line=spec.line,
                )
            seen_ids[spec.id] = spec
            seen_addresses[spec.address] = spec
        self._check_certificate_names()
        if not any(spec.enabled for spec in self.instances):
            raise ConfigError(
                "<cluster> has no enabled instance: set <enabled>true</enabled> on at least one <instance>",
                path=self.path,
                line=self.instances[0].line,
            )
        if self.local_host is not None and self.local_host not in seen_ids:
            raise ConfigError(
                f"<local-host> {self.local_host!r} is not an instance id; known: {self._known()}",
                path=self.path,
            )

    def _check_certificate_names(self) -> None:
        names = {spec.id: spec for spec in self.instances}
        for spec in self.instances:
            if spec.certificate_name is None or spec.certificate_name == spec.id:
                continue
            other = names.setdefault(spec.certificate_name, spec)
            if other is not spec:
                raise ConfigError(
                    f"<certificate-name> {spec.certificate_name!r} also names instance {other.id!r}: "
                    "a certificate must name one member only", path=self.path, line=spec.line)
        if not self.replication.encrypted:
            for spec in self.instances:
                if spec.tls_cert_file is not None or spec.certificate_name is not None:
                    raise ConfigError(
                        f"<instance> {spec.id!r} sets a certificate but <encrypted> is false: set "
                        "<encrypted>true</encrypted>, or remove its <tls-cert-file>, <tls-key-file> and "
                        "<certificate-name>", path=self.path, line=spec.line)

    def certificate_names(self) -> dict[str, str]:
        """Certificate name -> the id of the instance it names (every id names its instance)."""
        names = {spec.id: spec.id for spec in self.instances if spec.enabled}
        names.update({spec.certificate_name: spec.id for spec in self.instances
                      if spec.enabled and spec.certificate_name})
        return names

    def _known(self) -> str:
        return ", ".join(spec.id for spec in self.instances)

    @property
    def ring(self) -> tuple[str, ...]:
        """The ids of the enabled instances, in ring order."""
        return tuple(spec.id for spec in self.instances if spec.enabled)

    @property
    def local_instance(self) -> InstanceSpec | None:
        return None if self.local_host is None else self.instance(self.local_host)

    def instance(self, instance_id: str) -> InstanceSpec:
        for spec in self.instances:
            if spec.id == instance_id:
                return spec
        raise ConfigError(f"no instance {instance_id!r}; known: {self._known()}", path=self.path)

    def resolve(self, name: str) -> InstanceSpec:
        """The instance `name` designates: an id, else a host:port, else a host that only one has."""
        for spec in self.instances:
            if spec.id == name:
                return spec
        for spec in self.instances:
            if spec.address == name:
                return spec
        on_host = [spec for spec in self.instances if spec.host == name]
        if len(on_host) == 1:
            return on_host[0]
        if on_host:
            raise ConfigError(
                f"<local-host> {name!r} is the host of {len(on_host)} instances "
                f"({', '.join(spec.id for spec in on_host)}): name one by its id or host:port",
                path=self.path,
            )
        raise ConfigError(
            f"<local-host> {name!r} names no instance; known ids: {self._known()}", path=self.path
        )

    def admin_address(self, instance_id: str) -> tuple[str, int] | None:
        """Where `instance_id` serves its admin endpoints: its own <admin-http>, else the cluster's."""
        value = self.instance(instance_id).admin_http or self.replication.admin_http
        return None if value is None else parse_admin_http(value)

    def with_local_host(self, name: str) -> ClusterConfig:
        """A copy whose local instance is `name` (an id, a host:port, or a host only one instance has)."""
        return dataclasses.replace(self, local_host=self.resolve(name).id)

    def successor_in_full_ring(self, instance_id: str) -> str | None:
        """The next enabled instance after `instance_id`, wrapping; None if it is alone or disabled.

        This is the designated backup when every instance is alive; the live successor is the
        core's business (ring.core.topology).
        """
        spec = self.instance(instance_id)
        if not spec.enabled:
            return None
        return successor_of(spec.id, self.ring, self.ring)
