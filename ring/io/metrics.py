"""Prometheus metrics of one instance, read from the engine at scrape time.

A custom collector (no global mutable metric objects in the hot path): every scrape reads the
engine's counters and the node's status. Served at /metrics by the hosted HTTP server. Labels
carry instance ids, never session ids.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

if TYPE_CHECKING:
    from ring.io.runtime import Engine


class EngineCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        e = self.engine
        counters = {
            "writes": "session saves requested",
            "loads": "session loads requested",
            "adoptions": "sessions adopted from another instance",
            "unreplicated": "saves acknowledged without a backup (no successor reachable)",
            "failed": "requests that failed (503, indeterminate)",
        }
        for key, doc in counters.items():
            yield CounterMetricFamily(f"ring_{key}", doc, value=e.stats.get(key, 0))
        service = getattr(e, "service", None)
        yield CounterMetricFamily("ring_refused_calls", "replication-port calls refused (stranger, "
                                  "bad key, malformed)", value=getattr(service, "refused", 0))
        from ring.web.session import LOCAL_ONLY_ATTRIBUTES

        yield CounterMetricFamily("ring_session_local_only_attributes", "attributes kept on this "
                                  "instance only (not JSON-serializable)", value=LOCAL_ONLY_ATTRIBUTES.value)
        if e.node is None:
            return
        st = e.node.inspect(time.monotonic())
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


def registry_for(engine: Engine) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(engine))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    from prometheus_client.exposition import generate_latest

    return generate_latest(registry)
