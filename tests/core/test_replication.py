"""Replication's two sides alone: the outbound stream (Outbound) and the inbound check (Inbound)."""

from __future__ import annotations

import pytest

from ring.core.messages import AckStatus, Batch, Header, SessionRecord
from ring.core.replication import Inbound, Outbound
from ring.core.store import Copy, Role, SessionStore, stands
from ring.core.writes import AdoptToken, WriteToken


def rec(sid: str, version: int = 1, owner: str = "a", size: int = 10) -> SessionRecord:
    return SessionRecord(sid, owner, version, 0.0, 1800.0, False, b"x" * size)


def outbound(batch_max_bytes: int = 1 << 20) -> Outbound:
    o = Outbound(batch_max_bytes, ack_timeout=2.0, retry_interval=0.25)
    o.repoint("b", [])
    return o


# ---------------------------------------------------------------- Outbound

def test_one_batch_in_flight_and_everything_queued_meanwhile_goes_in_the_next() -> None:
    o = outbound()
    first = o.take_batch(0.0)  # the (empty) resync of the new stream
    assert first is not None and first.resync_done and first.seq == 0
    o.enqueue(WriteToken(1), rec("s1"))
    assert o.take_batch(0.1) is None  # still in flight
    o.acked(o.stream, 0)
    o.enqueue(WriteToken(2), rec("s2"))
    o.enqueue(WriteToken(3), rec("s3"))
    batch = o.take_batch(0.2)
    assert batch is not None and [r.session_id for r in batch.records] == ["s1", "s2", "s3"]
    done = o.acked(batch.stream, batch.seq)
    assert done is not None and [t for t, _ in done[0]] == [WriteToken(1), WriteToken(2), WriteToken(3)]


def test_a_batch_holds_at_most_batch_max_bytes_but_always_one_record() -> None:
    o = outbound(batch_max_bytes=150)
    o.acked(o.stream, o.take_batch(0.0).seq)  # type: ignore[union-attr]
    for i in range(3):
        o.enqueue(WriteToken(i), rec(f"s{i}", size=60))
    sizes = []
    while (batch := o.take_batch(0.0)) is not None:
        sizes.append(len(batch.records))
        o.acked(batch.stream, batch.seq)
    assert sizes == [1, 1, 1]  # 60 B of data + overhead each: one per batch under 150 B
    big = outbound(batch_max_bytes=10)
    big.acked(big.stream, big.take_batch(0.0).seq)  # type: ignore[union-attr]
    big.enqueue(WriteToken(9), rec("huge", size=1000))
    assert len(big.take_batch(0.0).records) == 1  # type: ignore[union-attr]  # never stuck


def test_an_ack_for_another_stream_or_seq_is_ignored() -> None:
    o = outbound()
    batch = o.take_batch(0.0)
    assert batch is not None
    assert o.acked(batch.stream + 1, batch.seq) is None
    assert o.acked(batch.stream, batch.seq + 1) is None
    assert o.acked(batch.stream, batch.seq) is not None


def test_a_repoint_requeues_the_writes_in_flight_first_and_resyncs_the_primaries() -> None:
    o = outbound()
    o.acked(o.stream, o.take_batch(0.0).seq)  # type: ignore[union-attr]
    o.enqueue(WriteToken(1), rec("s1"))
    o.take_batch(0.0)
    o.enqueue(WriteToken(2), rec("s2"))
    old_stream = o.stream
    o.repoint("c", [rec("p1"), rec("p2")])
    assert o.stream > old_stream and o.next_seq == 0 and o.resyncing
    assert [t for t, _ in o.queue] == [WriteToken(1), WriteToken(2)]
    assert o.drops_due == {"b": o.stream}  # the old successor drops its backups once we resynced
    batch = o.take_batch(0.0)
    assert batch is not None and batch.to == "c" and batch.resync and batch.resync_done
    assert {r.session_id for r in batch.records} == {"s1", "s2", "p1", "p2"}


def test_an_overdue_batch_is_resent_with_the_same_seq_and_sooner_when_the_link_broke() -> None:
    o = outbound()
    batch = o.take_batch(0.0)
    assert batch is not None
    assert o.due_resend(1.0) is None
    again = o.due_resend(2.0)
    assert again is not None and again.seq == batch.seq
    o.link_broken(2.1)
    assert o.due_resend(2.3) is None and o.due_resend(2.35) is not None


def test_carries_and_forget_resync() -> None:
    o = outbound()
    o.repoint("c", [rec("p1"), rec("p2")])
    o.enqueue(AdoptToken(1), rec("s1"))
    assert o.carries("s1") and not o.carries("p1")
    o.forget_resync("p1")
    batch = o.take_batch(0.0)
    assert batch is not None and {r.session_id for r in batch.records} == {"s1", "p2"}
    assert o.carries("s1")  # in flight now


def test_drops_are_sent_after_the_resync_again_until_confirmed_and_forgotten_for_the_dead() -> None:
    o = outbound()
    o.repoint("c", [rec("p1")])
    assert o.drops_to_send(0.0, lambda p: False) == []  # resync still running
    o.acked(o.stream, o.take_batch(0.0).seq)  # type: ignore[union-attr]
    assert o.drops_to_send(0.1, lambda p: False) == [("b", o.stream)]
    assert o.drops_to_send(1.0, lambda p: False) == []
    o.drop_unanswered("b", 1.0)
    assert o.drops_to_send(1.25, lambda p: False) == [("b", o.stream)]
    o.drop_confirmed("b", o.stream)
    assert o.drops_due == {}
    o.repoint("d", [])
    assert o.drops_to_send(0.0, lambda p: p == "c") == [] and o.drops_due == {}


def test_alone_everything_queued_or_in_flight_commits_at_once() -> None:
    o = outbound()
    o.acked(o.stream, o.take_batch(0.0).seq)  # type: ignore[union-attr]
    o.enqueue(WriteToken(1), rec("s1"))
    o.take_batch(0.0)
    o.enqueue(WriteToken(2), rec("s2"))
    o.repoint(None, [])
    assert [t for t, _ in o.drain_alone()] == [WriteToken(1), WriteToken(2)] and o.pending_count() == 0


# ---------------------------------------------------------------- Inbound

@pytest.mark.parametrize("case, steps, status, applied", [
    ("first batch of a stream", [((1, 1, 0))], AckStatus.OK, True),
    ("a new stream must start at 0", [(1, 1, 3)], AckStatus.REJECTED, False),
    ("in sequence", [(1, 1, 0), (1, 1, 1)], AckStatus.OK, True),
    ("a duplicate is acked, not applied", [(1, 1, 0), (1, 1, 0)], AckStatus.OK, False),
    ("a gap", [(1, 1, 0), (1, 1, 2)], AckStatus.REJECTED, False),
    ("an older stream", [(1, 2, 0), (1, 1, 1)], AckStatus.STALE, False),
    ("an older incarnation", [(2, 1, 0), (1, 5, 0)], AckStatus.STALE, False),
    ("a newer incarnation starts over", [(1, 5, 0), (2, 1, 0)], AckStatus.OK, True),
])
def test_inbound_check(case: str, steps: list[tuple[int, int, int]], status: AckStatus, applied: bool) -> None:
    inbound = Inbound()
    for incarnation, stream, seq in steps[:-1]:
        inbound.check("a", incarnation, stream, seq)
    got, _reason, apply = inbound.check("a", *steps[-1])
    assert (got, apply) == (status, applied), case


def batch(stream: int, seq: int, *records: SessionRecord, sender: str = "a", resync_done: bool = False) -> Batch:
    return Batch(Header(sender, 1), stream, seq, records, resync_done, resync_done)


ORDER = ("a", "b", "c")


def NOTHING_OF_OURS(session_id: str) -> SessionRecord | None:  # noqa: N802 - a constant-like helper
    return None


def test_receive_applies_only_the_senders_own_records() -> None:
    store = SessionStore()
    Inbound().receive(batch(1, 0, rec("s1"), rec("forged", owner="c")), store, NOTHING_OF_OURS, ORDER)
    assert store.get("s1") is not None and store.get("forged") is None


def test_a_finished_resync_drops_the_owners_backups_from_older_streams() -> None:
    store, inbound = SessionStore(), Inbound()
    inbound.receive(batch(1, 0, rec("old"), rec("kept")), store, NOTHING_OF_OURS, ORDER)
    inbound.receive(batch(2, 0, rec("kept", 2), resync_done=True), store, NOTHING_OF_OURS, ORDER)
    assert store.get("old") is None and store.get("kept").version == 2  # type: ignore[union-attr]


@pytest.mark.parametrize("ours, theirs, stands_here", [
    (rec("s1", 3, owner="b"), rec("s1", 2), True),  # newer stands
    (rec("s1", 2, owner="b"), rec("s1", 3), False),
    (rec("s1", 3, owner="b"), rec("s1", 3), False),  # a tie: the first instance of server.xml
    (rec("s1", 3, owner="a"), rec("s1", 3, owner="b"), True),
    (SessionRecord("s1", "b", 2, 0.0, 1800.0, True, b""), rec("s1", 5), True),  # a logout is never undone
])
def test_two_primaries_of_a_session_settle_on_the_same_one_on_both_sides(
        ours: SessionRecord, theirs: SessionRecord, stands_here: bool) -> None:
    assert stands(ours, theirs, ORDER) is stands_here
    assert stands(theirs, ours, ORDER) is not stands_here


def test_a_batch_meeting_a_primary_of_ours_is_refused_where_ours_stands_and_yielded_to_where_not() -> None:
    """The two sides of a split each kept a primary of s1 and s2 (a two-instance ring serves alone
    on both sides): b's s1 is newer than a's record and stays (a is told); a's s2 is newer, so
    b's primary of it becomes the backup of a's. A write of ours on its way counts as ours."""
    store, inbound = SessionStore(), Inbound()
    store.put(Copy(rec("s1", 5, owner="b"), Role.PRIMARY))
    store.put(Copy(rec("s2", 2, owner="b"), Role.PRIMARY))
    store.put(Copy(rec("s3", 2, owner="b"), Role.PRIMARY))
    on_its_way = {"s3": rec("s3", 9, owner="b")}
    status, _, refused, yielded = inbound.receive(
        batch(1, 0, rec("s1", 4), rec("s2", 3), rec("s3", 4)), store, on_its_way.get, ORDER)
    assert status is AckStatus.OK and set(refused) == {"s1", "s3"} and yielded == ["s2"]
    assert store.get("s1") == Copy(rec("s1", 5, owner="b"), Role.PRIMARY)
    s2 = store.get("s2")
    assert s2 is not None and s2.role is Role.BACKUP and s2.record == rec("s2", 3)


def test_drop_stream_drops_older_backups_and_forgets_an_older_stream() -> None:
    store, inbound = SessionStore(), Inbound()
    inbound.receive(batch(1, 0, rec("s1")), store, NOTHING_OF_OURS, ORDER)
    inbound.drop_stream("a", 1, 2, store)
    assert store.get("s1") is None and "a" not in inbound.streams
    inbound.receive(batch(2, 0, rec("s2")), store, NOTHING_OF_OURS, ORDER)
    inbound.drop_stream("a", 1, 2, store)  # a late DropBackups naming the current stream: kept
    held = store.get("s2")
    assert held is not None and held.role is Role.BACKUP and inbound.streams["a"].stream == 2


def test_carries_follows_the_queue_and_the_batch_in_flight_through_acks_and_repoints() -> None:
    """carries() is a count per session, not a scan of the queue (claims ask it per session)."""
    from ring.core.messages import SessionRecord
    from ring.core.replication import Outbound
    from ring.core.writes import WriteToken

    def rec(sid: str, v: int = 1) -> SessionRecord:
        return SessionRecord(sid, "a", v, 0.0, 1800.0, False, b"x")

    o = Outbound(batch_max_bytes=1 << 20, ack_timeout=1.0, retry_interval=0.1)
    o.repoint("b", [rec("r1")])
    o.enqueue(WriteToken(1), rec("s1"))
    o.enqueue(WriteToken(2), rec("s1", 2))
    assert o.carries("s1") and not o.carries("r1")  # a resync record counts once it is in a batch
    batch = o.take_batch(0.0)
    assert batch is not None and o.carries("r1") and o.carries("s1")
    o.repoint("c", [])  # the batch goes back to the queue (its writes), the resync is dropped
    assert o.carries("s1") and not o.carries("r1")
    batch = o.take_batch(1.0)
    assert batch is not None and o.acked(batch.stream, batch.seq) is not None
    assert not o.carries("s1") and not o._carried  # nothing left over
    o.enqueue(WriteToken(3), rec("s2"))
    o.drain_alone()
    assert not o.carries("s2")
