"""Prometheus metrics of one instance, read at scrape time.

A custom collector (no global mutable metric objects in the hot path): every scrape reads the
counters, the timings and the node's status through the callables it was given, so this module
knows neither the engine nor the HTTP side. Labels carry instance ids, operations and failure
reasons, never session ids. Names follow the Prometheus guide (counters end in `_total`, units
in the name, one metric with a label rather than one metric per value); tests/io/test_metrics.py
pins them, so a rename is a visible decision.

    ring_session_{loads,saves,invalidations,adoptions}_total, ring_unreplicated_saves_total,
    ring_session_failures_total{op,reason}, ring_refused_calls_total, ring_view_changes_total,
    ring_rejected_messages_total{message}
    ring_sessions{role=primary|backup|orphan,owner}, ring_peer_up{peer}, ring_resyncing,
    ring_lease_valid, ring_ready, ring_pending_writes
    ring_session_{load,save}_duration_seconds, ring_resync_duration_seconds,
    ring_replication_batch_records (histograms)
    ring_build_info{version,python}, and the standard process_* / python_* collectors
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from ring.core import NodeStatus
from ring.io.eventlog import Histogram, Stats

_COUNTERS = {  # metric name (without _total) -> (Stats field, help)
    "ring_session_loads": ("loads", "session loads answered by the engine (a primary served "
                           "from the read view, without a hop, is not counted)"),
    "ring_session_saves": ("writes", "session saves committed (invalidations included)"),
    "ring_session_invalidations": ("invalidations", "sessions invalidated (logouts)"),
    "ring_session_adoptions": ("adoptions", "sessions adopted from another instance"),
    "ring_unreplicated_saves": ("unreplicated", "saves acknowledged without a backup (no successor reachable)"),
}

_HISTOGRAMS = {  # metric name -> (Stats field, help)
    "ring_session_load_duration_seconds": ("load_seconds", "seconds from a load request to its answer "
                                           "(engine loads: adoptions, backups, orphans)"),
    "ring_session_save_duration_seconds": ("save_seconds", "seconds from a save request to its commit "
                                           "or failure (the backup's ack included)"),
    "ring_resync_duration_seconds": ("resync_seconds", "seconds a full resync to a new successor took"),
    "ring_replication_batch_records": ("batch_records", "session records per batch sent to the successor"),
}


@dataclass(frozen=True, slots=True)
class Sources:
    """Where a scrape reads its numbers."""

    stats: Stats
    status: Callable[[], NodeStatus | None]
    refused: Callable[[], int] = lambda: 0
    # more counters by metric name -> (help, value): e.g. the middleware's local-only attributes
    extra_counters: Mapping[str, tuple[str, Callable[[], int]]] = field(default_factory=dict)
    ready: Callable[[], bool] = lambda: False
    version: str = ""


class InstanceCollector(Collector):
    def __init__(self, sources: Sources) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        src = self.sources
        yield from self._counters()
        yield from self._histograms()
        info = GaugeMetricFamily("ring_build_info", "always 1; the labels say what runs",
                                 labels=["version", "python"])
        info.add_metric([src.version, platform.python_version()], 1)
        yield info
        yield GaugeMetricFamily("ring_ready", "1 when /readyz answers 200 (running, may serve its primaries)",
                                value=1 if src.ready() else 0)
        st = src.status()
        if st is not None:
            yield from self._status(st)

    def _counters(self) -> Iterator[Metric]:
        src = self.sources
        for name, (attr, doc) in _COUNTERS.items():
            yield CounterMetricFamily(name, doc, value=getattr(src.stats, attr))
        failures = CounterMetricFamily("ring_session_failures", "requests that failed (503 or indeterminate), "
                                       "by operation and reason", labels=["op", "reason"])
        for (op, reason), n in sorted(src.stats.failures.items()):
            failures.add_metric([op, reason], n)
        yield failures
        yield CounterMetricFamily("ring_refused_calls", "replication-port calls refused (stranger, "
                                  "bad key, malformed)", value=src.refused())
        rejected = CounterMetricFamily(
            "ring_rejected_messages", "peer messages the core refused, by type (a batch from an instance "
            "that is not this one's predecessor, a drop of its backups by the predecessor, a stale or "
            "out-of-sequence batch, a sender declared dead)", labels=["message"])
        for message, n in sorted(src.stats.rejected.items()):
            rejected.add_metric([message], n)
        yield rejected
        for name, (doc, value) in src.extra_counters.items():
            yield CounterMetricFamily(name, doc, value=value())

    def _histograms(self) -> Iterator[Metric]:
        for name, (attr, doc) in _HISTOGRAMS.items():
            h: Histogram = getattr(self.sources.stats, attr)
            yield HistogramMetricFamily(name, doc, buckets=h.cumulative(), sum_value=h.total)

    @staticmethod
    def _status(st: NodeStatus) -> Iterator[Metric]:
        yield CounterMetricFamily("ring_view_changes", "view changes seen by this instance", value=st.epoch)
        sessions = GaugeMetricFamily("ring_sessions", "session copies held: primary (owned here), backup "
                                     "(for a live owner), orphan (of a dead owner)", labels=["role", "owner"])
        sessions.add_metric(["primary", st.id], st.primaries)
        for owner, n in st.backups.items():
            sessions.add_metric(["backup", owner], n)
        for owner, n in st.orphans.items():
            sessions.add_metric(["orphan", owner], n)
        yield sessions
        peers = GaugeMetricFamily("ring_peer_up", "1 when the peer is believed alive", labels=["peer"])
        for peer, (state, _inc) in st.peers.items():
            peers.add_metric([peer], 0 if state == "dead" else 1)
        yield peers
        yield GaugeMetricFamily("ring_resyncing", "1 while a full resync to the successor runs",
                                value=1 if st.resyncing else 0)
        yield GaugeMetricFamily("ring_lease_valid", "1 when this instance may serve its primaries",
                                value=1 if st.lease_valid else 0)
        yield GaugeMetricFamily("ring_pending_writes", "saves waiting for the successor's ack",
                                value=st.pending_writes)


def registry_for(sources: Sources, *, process: bool = True) -> CollectorRegistry:
    """A registry of this instance's collector, plus the standard process, platform and GC ones."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(InstanceCollector(sources))
    if process:
        for standard in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            registry.register(standard)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    from prometheus_client.exposition import generate_latest

    return generate_latest(registry)
