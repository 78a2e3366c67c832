"""What an instance tells its operator about ring events: log lines, an event log, counters.

The engine hands every effect that is not I/O to an `EventLog`: ring events (view changes,
deaths, joins, fencing, resyncs, adoptions, refusals) become log lines, phrased by the same
narrator as the simulated transcripts (ring.core.narrate), and, when the instance runs under a
drill, JSON lines with monotonic timestamps in the event log file; request outcomes are counted
(`Stats`, read by the metrics). Nothing logged ever names a session id or holds session data.
"""

from __future__ import annotations

import bisect
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
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
# seconds between lines about one peer's refused messages of one type: a forging or confused peer
# (or views that differ for a while) must not write a line per message
REJECTED_LOG_INTERVAL = 10.0


DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
RESYNC_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass(slots=True)
class Histogram:
    """Observations in fixed buckets (upper bounds), as Prometheus histograms count them."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)  # per bucket, not cumulative; last: above all
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """[(le, observations <= le)], ending with "+Inf"."""
        out, running = [], 0
        for bound, n in zip((*(f"{b:g}" for b in self.bounds), "+Inf"), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out


@dataclass(slots=True)
class Stats:
    """Request outcomes, adoptions and timings since the process started (read by ring.io.metrics)."""

    writes: int = 0  # saves committed (invalidations included)
    invalidations: int = 0
    loads: int = 0
    adoptions: int = 0
    unreplicated: int = 0
    failed: int = 0
    failures: Counter[tuple[str, str]] = field(default_factory=Counter)  # (op, reason) -> n
    rejected: Counter[str] = field(default_factory=Counter)  # peer messages the core refused, by type
    save_seconds: Histogram = field(default_factory=lambda: Histogram(DURATION_BUCKETS))
    load_seconds: Histogram = field(default_factory=lambda: Histogram(DURATION_BUCKETS))
    resync_seconds: Histogram = field(default_factory=lambda: Histogram(RESYNC_BUCKETS))
    batch_records: Histogram = field(default_factory=lambda: Histogram(BATCH_BUCKETS))


class RejectionLog:
    """One line per (peer, message type) per interval, with the count refused meanwhile. The line
    names the peer, the type and the core's reason (never a session id: reasons carry none)."""

    MAX_KEYS = 4096  # (peer, type) pairs remembered; a sender name is the peer's to choose

    def __init__(self, me: str, interval: float = REJECTED_LOG_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.me = me
        self.interval = interval
        self._clock = clock
        self._pending: dict[tuple[str, str], tuple[float, int]] = {}  # -> (last logged, refused since)

    def rejected(self, e: Rejected) -> None:
        now = self._clock()
        key = (e.peer[:255], e.what)
        last, count = self._pending.get(key, (-self.interval - 1.0, 0))
        count += 1
        if now - last >= self.interval:
            more = f" ({count} {e.what} refused since the last report)" if count > 1 else ""
            log.info("%s refuses %s from %s: %s%s", self.me, e.what, key[0], e.reason, more)
            last, count = now, 0
        if len(self._pending) >= self.MAX_KEYS and key not in self._pending:
            self._pending.clear()
        self._pending[key] = (last, count)


class EventLog:
    def __init__(self, me: str, path: str | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.me = me
        self.stats = Stats()
        self.rejections = RejectionLog(me, clock=clock)
        self._file: IO[str] | None = open(path, "a", buffering=1) if path else None  # noqa: SIM115
        self._unreplicated_logged = -1e18
        self._resync_started: dict[str, float] = {}  # successor -> monotonic start

    # ------------------------------------------------------------ the engine's sink

    def ring_event(self, e: Effect) -> None:
        line = describe(self.me, e)
        if isinstance(e, Adopted):
            self.stats.adoptions += 1
            self.note("adopted", source=e.from_peer)
            return  # one per failed-over request: counted, not logged
        if isinstance(e, Rejected):
            self.stats.rejected[e.what] += 1
            self.rejections.rejected(e)  # throttled
            return
        if line and isinstance(e, Fenced):
            log.error("%s", line)
        elif line and isinstance(e, PeerDeclaredDead):
            log.warning("%s", line)
        elif line:
            log.info("%s", line)
        self._record(e)

    def outcome(self, e: RequestOutcome, op: str = "", seconds: float | None = None) -> None:
        """A request answered: `op` is load, save or invalidate; `seconds` since it was asked."""
        if seconds is not None:
            (self.stats.load_seconds if op == "load" else self.stats.save_seconds).observe(seconds)
        if isinstance(e, LoadFailed | WriteFailed):
            self.stats.failed += 1
            self.stats.failures[op or ("load" if isinstance(e, LoadFailed) else "save"), e.reason.name.lower()] += 1
        elif isinstance(e, WriteCommitted):
            self.stats.writes += 1
            if op == "invalidate":
                self.stats.invalidations += 1
            if not e.replicated:
                self.stats.unreplicated += 1
                now = time.monotonic()
                if self._unreplicated_logged + UNREPLICATED_LOG_INTERVAL < now:
                    self._unreplicated_logged = now
                    log.warning("writes acknowledged without a backup (no successor reachable); "
                                "%d so far", self.stats.unreplicated)
        else:
            self.stats.loads += 1

    def batch_sent(self, records: int) -> None:
        """A replication batch went to the successor with this many session records."""
        self.stats.batch_records.observe(records)

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
            self._resync_started[e.successor] = time.monotonic()
            self.note("resync_started", successor=e.successor, sessions=e.sessions)
        elif isinstance(e, ResyncFinished):
            started = self._resync_started.pop(e.successor, None)
            if started is not None:
                self.stats.resync_seconds.observe(time.monotonic() - started)
            self.note("resync_finished", successor=e.successor)
        elif isinstance(e, Left):
            self.note("left", peers_told=list(e.peers_told))
