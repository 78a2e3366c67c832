"""The start-up checks of an instance, between opening its port and joining the ring.

    clocks   compare this host's wall clock with every reachable peer (round-trip compensated);
             beyond <max-clock-skew> the start is refused (ClockSkewError, exit 3)
    backup   wait up to <startup-discovery-timeout> for the designated backup to answer

Both ask through the engine's transport with clock probes (a Join of incarnation 0), which
peers answer without recording anything: a process refused here leaves no trace in the ring.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ring.config import ClusterConfig
from ring.core.clockskew import peer_offset, verdict
from ring.core.topology import successor_of
from ring.errors import ClockSkewError
from ring.io.transport import Transport

log = logging.getLogger("ring.serve")

PROBE_TIMEOUT = 1.0


async def check_peer_clocks(transport: Transport, config: ClusterConfig, me: str) -> None:
    """Refuse to join when a reachable peer's clock is beyond the limit (ClockSkewError)."""
    limit = config.replication.max_clock_skew
    peers = [name for name in config.ring if name != me]
    readings = await asyncio.gather(*(transport.probe_clock(name, PROBE_TIMEOUT) for name in peers))
    for name, reading in zip(peers, readings, strict=True):
        if reading is None:
            continue
        offset, error = peer_offset(reading.sent, reading.peer, reading.received)
        v = verdict(offset, error, limit, source=f"peer {name}")
        if not v.ok:
            raise ClockSkewError(f"refusing to join the ring: {v.message}")
        log.info("clock vs %s: %s", name, v.message)


async def wait_for_backup(transport: Transport, config: ClusterConfig, me: str) -> None:
    """Wait up to startup-discovery-timeout for the designated backup to answer."""
    timeout = config.replication.startup_discovery_timeout
    backup = successor_of(me, config.ring, config.ring)
    if timeout <= 0 or backup is None:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await transport.probe_clock(backup, PROBE_TIMEOUT) is not None:
            log.info("designated backup %s answered", backup)
            return
        await asyncio.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
    log.warning("designated backup %s did not answer within %.1f s; starting anyway", backup, timeout)
