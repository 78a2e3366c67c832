"""What an instance tells its operator about ring events: log lines, an event log, counters.

The engine hands every effect that is not I/O to an `EventLog`: ring events (view changes,
deaths, joins, fencing, resyncs, adoptions, refusals) become log lines, phrased by the same
narrator as the simulated transcripts (ring.core.narrate), and, when the instance runs under a
drill, JSON lines with monotonic timestamps in the event log file; request outcomes are counted
(`Stats`, read by the metrics). Nothing logged ever names a session id or holds session data.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import IO, Any

from ring.core import (
    Adopted,
    Effect,
    Fenced,
    Left,
    LoadFailed,
    PeerDeclaredDead,
    PeerJoined,
    Rejected,
    RequestOutcome,
    ResyncFinished,
    ResyncStarted,
    ViewChanged,
    WriteCommitted,
    WriteFailed,
)
from ring.core.narrate import describe

log = logging.getLogger("ring.engine")

UNREPLICATED_LOG_INTERVAL = 10.0  # seconds between warnings about writes without a backup


@dataclass(slots=True)
class Stats:
    """Request outcomes and adoptions since the process started."""

    writes: int = 0
    loads: int = 0
    adoptions: int = 0
    unreplicated: int = 0
    failed: int = 0


class EventLog:
    def __init__(self, me: str, path: str | None = None) -> None:
        self.me = me
        self.stats = Stats()
        self._file: IO[str] | None = open(path, "a", buffering=1) if path else None  # noqa: SIM115
        self._unreplicated_logged = -1e18

    # ------------------------------------------------------------ the engine's sink

    def ring_event(self, e: Effect) -> None:
        line = describe(self.me, e)
        if isinstance(e, Adopted):
            self.stats.adoptions += 1
            self.note("adopted", source=e.from_peer)
            return  # one per failed-over request: counted, not logged
        if line and isinstance(e, Fenced):
            log.error("%s", line)
        elif line and isinstance(e, PeerDeclaredDead):
            log.warning("%s", line)
        elif line:
            log.info("%s", line)
        elif isinstance(e, Rejected):
            log.info("rejected %s from %s: %s", e.what, e.peer, e.reason)
        self._record(e)

    def outcome(self, e: RequestOutcome) -> None:
        if isinstance(e, LoadFailed | WriteFailed):
            self.stats.failed += 1
        elif isinstance(e, WriteCommitted):
            self.stats.writes += 1
            if not e.replicated:
                self.stats.unreplicated += 1
                now = time.monotonic()
                if self._unreplicated_logged + UNREPLICATED_LOG_INTERVAL < now:
                    self._unreplicated_logged = now
                    log.warning("writes acknowledged without a backup (no successor reachable); "
                                "%d so far", self.stats.unreplicated)
        else:
            self.stats.loads += 1

    def note(self, kind: str, **fields: Any) -> None:
        """One JSON line in the event log (drills read it), when there is one."""
        if self._file is not None:
            fields.update(mono=time.monotonic(), wall=time.time(), instance=self.me, event=kind)
            self._file.write(json.dumps(fields) + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    # ------------------------------------------------------------ drill events

    def _record(self, e: Effect) -> None:
        if isinstance(e, ViewChanged):
            self.note("view", epoch=e.epoch, alive=list(e.alive), successor=e.successor)
        elif isinstance(e, PeerDeclaredDead):
            self.note("declared_dead", peer=e.peer, orphans=e.orphans, left=e.left)
        elif isinstance(e, PeerJoined):
            self.note("joined", peer=e.peer)
        elif isinstance(e, Fenced):
            self.note("fenced", dropped=e.dropped)
        elif isinstance(e, ResyncStarted):
            self.note("resync_started", successor=e.successor, sessions=e.sessions)
        elif isinstance(e, ResyncFinished):
            self.note("resync_finished", successor=e.successor)
        elif isinstance(e, Left):
            self.note("left", peers_told=list(e.peers_told))
