"""Tunables of the pure core, validated once when built.

`ring.config.ReplicationSettings.core_settings()` builds this from server.xml; tests build it
directly. Every default carries its reason.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class CoreSettings:
    # how often every instance pings every peer: 4 chances per failure timeout
    ping_interval: float = 0.5
    # silence after which a peer is suspected: well under Tomcat's 3 s, above a few lost pings
    failure_timeout: float = 2.0
    # max inactive interval of a session (servlet default, iPlanet default)
    session_timeout: float = 1800.0
    # bound on instances asked for a session's copy; -1 = the whole ring (iPlanet default)
    max_discovery_hops: int = -1
    # respond before the backup acknowledged (weaker; iPlanet's `async`)
    async_replication: bool = False
    # a request that only read the session still replicates it (iPlanet default true)
    replicate_on_read: bool = True
    # largest encoded session accepted
    max_session_size: int = 1 << 20
    # how long a request may wait for an ack or an adoption before it fails (503, indeterminate)
    request_timeout: float = 10.0
    # upper bound of one replication batch (a resync is cut into batches of this size)
    batch_max_bytes: int = 1 << 20

    def __post_init__(self) -> None:
        if self.ping_interval <= 0:
            raise ValueError("ping_interval must be positive")
        if self.failure_timeout < 2 * self.ping_interval:
            raise ValueError("failure_timeout must be at least twice ping_interval")
        if self.session_timeout <= 0 or self.request_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if self.max_discovery_hops == 0 or self.max_discovery_hops < -1:
            raise ValueError("max_discovery_hops is -1 or at least 1")
        if self.max_session_size <= 0 or self.batch_max_bytes <= 0:
            raise ValueError("sizes must be positive")

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
