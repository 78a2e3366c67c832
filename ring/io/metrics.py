"""Prometheus metrics of one instance, read at scrape time.

A custom collector (no global mutable metric objects in the hot path): every scrape reads the
counters and the node's status through the callables it was given, so this module knows neither
the engine nor the HTTP side. Labels carry instance ids, never session ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from ring.core import NodeStatus
from ring.io.eventlog import Stats

_COUNTERS = {
    "writes": "session saves requested",
    "loads": "session loads requested",
    "adoptions": "sessions adopted from another instance",
    "unreplicated": "saves acknowledged without a backup (no successor reachable)",
    "failed": "requests that failed (503, indeterminate)",
}


@dataclass(frozen=True, slots=True)
class Sources:
    """Where a scrape reads its numbers."""

    stats: Stats
    status: Callable[[], NodeStatus | None]
    refused: Callable[[], int] = lambda: 0
    # more counters by metric name -> (help, value): e.g. the middleware's local-only attributes
    extra_counters: Mapping[str, tuple[str, Callable[[], int]]] = field(default_factory=dict)


class InstanceCollector(Collector):
    def __init__(self, sources: Sources) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        src = self.sources
        for key, doc in _COUNTERS.items():
            yield CounterMetricFamily(f"ring_{key}", doc, value=getattr(src.stats, key))
        yield CounterMetricFamily("ring_refused_calls", "replication-port calls refused (stranger, "
                                  "bad key, malformed)", value=src.refused())
        for name, (doc, value) in src.extra_counters.items():
            yield CounterMetricFamily(name, doc, value=value())
        st = src.status()
        if st is None:
            return
        yield GaugeMetricFamily("ring_primaries", "sessions this instance owns", value=st.primaries)
        backups = GaugeMetricFamily("ring_backups", "backup copies held, by owner", labels=["owner"])
        for owner, n in st.backups.items():
            backups.add_metric([owner], n)
        yield backups
        orphans = GaugeMetricFamily("ring_orphans", "read-only orphans held, by dead owner", labels=["owner"])
        for owner, n in st.orphans.items():
            orphans.add_metric([owner], n)
        yield orphans
        peers = GaugeMetricFamily("ring_peer_alive", "1 when the peer is believed alive", labels=["peer"])
        for peer, (state, _inc) in st.peers.items():
            peers.add_metric([peer], 0 if state == "dead" else 1)
        yield peers
        yield GaugeMetricFamily("ring_epoch", "view changes seen by this instance", value=st.epoch)
        yield GaugeMetricFamily("ring_resyncing", "1 while a full resync to the successor runs",
                                value=1 if st.resyncing else 0)
        yield GaugeMetricFamily("ring_lease_valid", "1 when this instance may serve its primaries",
                                value=1 if st.lease_valid else 0)
        yield GaugeMetricFamily("ring_pending_writes", "saves waiting for the successor's ack",
                                value=st.pending_writes)


def registry_for(sources: Sources) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(InstanceCollector(sources))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    from prometheus_client.exposition import generate_latest

    return generate_latest(registry)
