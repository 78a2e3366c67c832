"""Tunables of the pure core: the one source of their defaults, their reasons and their rules.

`ring.config.ReplicationSettings` takes its defaults for these from here and builds one
`CoreSettings` when a config is loaded; tests build it directly. Every default carries its reason.
A rule that fails is a `SettingProblem` naming the settings it concerns by field name; the config
layer renders the same problems with server.xml's element names (`<failure-timeout>`), so a rule
is written once and reads right in both places.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class CoreSettings:
    # how often every instance pings every peer: 4 chances per failure timeout
    ping_interval: float = 0.5
    # silence after which a peer is suspected: well under Tomcat's 3 s, above a few lost pings;
    # a blocked request is held about this long on failover
    failure_timeout: float = 2.0
    # max inactive interval of a session (the servlet default, iPlanet's default)
    session_timeout: float = 1800.0
    # bound on instances asked for a session's copy; -1 = the whole ring (iPlanet default)
    max_discovery_hops: int = -1
    # respond before the backup acknowledged (weaker; iPlanet's `async`)
    async_replication: bool = False
    # a request that only read the session still replicates it (iPlanet: a read may mutate in place)
    replicate_on_read: bool = True
    # largest encoded session accepted: 1 MiB is ample for sessions and bounds a replication batch
    max_session_size: int = 1 << 20
    # how long a request may wait for an ack or an adoption before it fails (503, indeterminate):
    # it outlasts failure detection, so a write waiting for a dead backup completes on the next one
    request_timeout: float = 10.0
    # upper bound of one replication batch (a resync is cut into batches of this size)
    batch_max_bytes: int = 1 << 20
    # writes waiting for the successor's acknowledgement beyond which new ones are refused (503):
    # a slow or cut-off successor must not make the queue (and memory) grow without bound
    max_pending_writes: int = 10_000
    # primaries one instance holds beyond which a new session is refused (503): one client creating
    # sessions in a loop must not fill the memory (~1 KiB each: 100 MiB); adoptions and backups are
    # never refused (refusing a failover copy would lose data)
    max_sessions: int = 100_000

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise InvalidSettings(problems)

    def problems(self) -> list[SettingProblem]:
        """Every rule these settings break (empty: valid)."""
        found = []
        for name in ("ping_interval", "failure_timeout", "session_timeout", "request_timeout"):
            value = getattr(self, name)
            if not value > 0:
                found.append(SettingProblem(f"{{0}} must be a positive number of seconds, got {_s(value)}", (name,)))
        if found:
            return found  # the relations below assume positive timeouts
        if not self.failure_timeout > 2 * self.ping_interval:
            found.append(SettingProblem(
                f"{{0}} ({_s(self.failure_timeout)} s) must be more than twice {{1}} "
                f"({_s(self.ping_interval)} s), so that one lost ping does not declare a peer dead",
                ("failure_timeout", "ping_interval")))
        if not self.request_timeout > self.failure_timeout:
            found.append(SettingProblem(
                f"{{0}} ({_s(self.request_timeout)} s) must be more than {{1}} "
                f"({_s(self.failure_timeout)} s), so that a write waiting for a dead backup can "
                "complete on the next one", ("request_timeout", "failure_timeout")))
        if self.max_discovery_hops == 0 or self.max_discovery_hops < -1:
            found.append(SettingProblem(
                f"{{0}} must be -1 (no limit) or at least 1, got {self.max_discovery_hops}",
                ("max_discovery_hops",)))
        for name in ("max_session_size", "batch_max_bytes", "max_pending_writes", "max_sessions"):
            if getattr(self, name) <= 0:
                found.append(SettingProblem(f"{{0}} must be a positive number, got {getattr(self, name)}",
                                            (name,)))
        return found

    @property
    def lease_margin(self) -> float:
        """Safety margin under the failure timeout for serving primaries (clock-rate drift, ticks)."""
        return self.ping_interval

    @property
    def pause_threshold(self) -> float:
        """A gap between ticks this long means this process was stopped (SIGSTOP, GC, VM pause)."""
        return self.failure_timeout / 2

    @property
    def retry_interval(self) -> float:
        """Pause between attempts of an adoption that must wait (a holder busy or undecided)."""
        return self.ping_interval / 2


@dataclass(frozen=True, slots=True)
class SettingProblem:
    """A broken rule: `text` with {0}, {1}, ... where the settings in `names` are named."""

    text: str
    names: tuple[str, ...]

    def render(self, spelling: Mapping[str, str] | None = None) -> str:
        """The sentence, with each setting spelled by `spelling` (default: its field name)."""
        spelling = spelling or {}
        return self.text.format(*(spelling.get(n, n) for n in self.names))


class InvalidSettings(ValueError):
    """Settings that break a rule (a programming error in a test; config reports them itself)."""

    def __init__(self, problems: list[SettingProblem]) -> None:
        super().__init__("; ".join(p.render() for p in problems))
        self.problems = problems


def _s(value: float) -> str:
    return f"{value:g}"
