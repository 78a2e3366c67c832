"""The metric names are pinned: a rename breaks dashboards and alerts, so it must be a decision."""

from __future__ import annotations

import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ring.core import FailureReason, Loaded, LoadFailed, NodeStatus, Rejected, WriteCommitted, WriteFailed
from ring.io.eventlog import EventLog, Histogram
from ring.io.metrics import Sources, registry_for, render

PINNED = {
    "ring_session_loads": "counter", "ring_session_saves": "counter",
    "ring_session_invalidations": "counter", "ring_session_adoptions": "counter",
    "ring_unreplicated_saves": "counter", "ring_session_failures": "counter",
    "ring_refused_calls": "counter", "ring_view_changes": "counter", "ring_rejected_messages": "counter",
    "ring_session_load_duration_seconds": "histogram", "ring_session_save_duration_seconds": "histogram",
    "ring_resync_duration_seconds": "histogram", "ring_replication_batch_records": "histogram",
    "ring_build_info": "gauge", "ring_ready": "gauge", "ring_sessions": "gauge", "ring_peer_up": "gauge",
    "ring_resyncing": "gauge", "ring_lease_valid": "gauge", "ring_pending_writes": "gauge",
}

STATUS = NodeStatus(id="a", incarnation=7, epoch=3, alive=("a", "b"), successor="b", primaries=5,
                    backups={"b": 2}, orphans={"c": 1}, handed_over=0, resyncing=False, lease_valid=True,
                    unreplicated_writes=0, pending_writes=0, peers={"b": ("alive", 1), "c": ("dead", 2)})


def _scrape(log: EventLog, status: NodeStatus | None = STATUS, process: bool = True) -> dict[str, object]:
    sources = Sources(stats=log.stats, status=lambda: status, ready=lambda: True, version="9.9")
    text = render(registry_for(sources, process=process)).decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def _log_some(log: EventLog) -> None:
    log.outcome(Loaded(request_id=1, record=None, primary="a", backup="b"), "load", 0.002)
    log.outcome(WriteCommitted(request_id=2, version=1, primary="a", backup="b", replicated=True), "save", 0.004)
    log.outcome(WriteCommitted(request_id=3, version=2, primary="a", backup="", replicated=False),
                "invalidate", 0.003)
    log.outcome(WriteFailed(request_id=4, reason=FailureReason.TIMED_OUT), "save", 3.0)
    log.outcome(LoadFailed(request_id=5, reason=FailureReason.NO_COPY_REACHABLE), "load", 2.0)
    log.batch_sent(3)


def test_metric_names_and_types_are_pinned() -> None:
    log = EventLog("a")
    _log_some(log)
    families = _scrape(log, process=False)
    assert {name: f.type for name, f in families.items()} == PINNED


def test_values_labels_and_no_session_ids() -> None:
    log = EventLog("a")
    _log_some(log)
    families = _scrape(log)
    assert any(name.startswith("process_") for name in families), "the process collector is registered"
    assert any(name.startswith("python_") for name in families)

    def samples(name: str) -> dict[tuple[tuple[str, str], ...], float]:
        return {tuple(sorted(s.labels.items())): s.value for s in families[name].samples
                if s.name == name or s.name == name + "_total"}

    assert samples("ring_session_saves") == {(): 2.0}
    assert samples("ring_session_invalidations") == {(): 1.0}
    assert samples("ring_unreplicated_saves") == {(): 1.0}
    assert samples("ring_session_failures") == {
        (("op", "load"), ("reason", "no_copy_reachable")): 1.0, (("op", "save"), ("reason", "timed_out")): 1.0}
    assert samples("ring_sessions") == {
        (("owner", "a"), ("role", "primary")): 5.0, (("owner", "b"), ("role", "backup")): 2.0,
        (("owner", "c"), ("role", "orphan")): 1.0}
    assert samples("ring_peer_up") == {(("peer", "b"),): 1.0, (("peer", "c"),): 0.0}
    assert samples("ring_build_info")[next(iter(samples("ring_build_info")))] == 1.0
    assert ("version", "9.9") in next(iter(samples("ring_build_info")))
    saves = {s.labels.get("le"): s.value for s in families["ring_session_save_duration_seconds"].samples
             if s.name.endswith("_bucket")}
    assert saves["0.005"] == 2.0 and saves["+Inf"] == 3.0  # 0.004, 0.003 under 5 ms; 3.0 s above


def test_without_a_status_the_counters_still_answer() -> None:
    families = _scrape(EventLog("a"), status=None, process=False)
    assert "ring_session_saves" in families and "ring_sessions" not in families


def test_histogram_buckets_are_upper_bounds() -> None:
    h = Histogram((1.0, 2.0))
    for v in (0.5, 1.0, 1.5, 9.0):
        h.observe(v)
    assert h.cumulative() == [("1", 2), ("2", 3), ("+Inf", 4)]
    assert h.count == 4 and h.total == 12.0


def test_a_new_session_refused_by_max_sessions_is_counted_by_its_reason() -> None:
    log = EventLog("a")
    log.outcome(WriteFailed(request_id=1, reason=FailureReason.TOO_MANY_SESSIONS), "save", 0.001)
    failures = _scrape(log, process=False)["ring_session_failures"]
    assert [(s.labels, s.value) for s in failures.samples if s.name == "ring_session_failures_total"] == [
        ({"op": "save", "reason": "too_many_sessions"}, 1.0)]


def test_refused_peer_messages_are_counted_by_type_and_logged_once_per_peer_per_interval(
        caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    log = EventLog("c", clock=lambda: now[0])
    forged = Rejected(peer="a", what="Batch", reason="not this instance's predecessor")
    with caplog.at_level(logging.INFO, logger="ring.engine"):
        for _ in range(5):
            log.ring_event(forged)
        log.ring_event(Rejected(peer="b", what="Batch", reason="not this instance's predecessor"))
        log.ring_event(Rejected(peer="a", what="DropBackups", reason="the sender is this instance's predecessor"))
        now[0] += 10.0
        log.ring_event(forged)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "c refuses Batch from a: not this instance's predecessor",
        "c refuses Batch from b: not this instance's predecessor",
        "c refuses DropBackups from a: the sender is this instance's predecessor",
        "c refuses Batch from a: not this instance's predecessor (5 Batch refused since the last report)",
    ]
    rejected = _scrape(log, process=False)["ring_rejected_messages"]
    assert {s.labels["message"]: s.value for s in rejected.samples if s.name == "ring_rejected_messages_total"} == {
        "Batch": 7.0, "DropBackups": 1.0}
