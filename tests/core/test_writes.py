"""Write bookkeeping alone: what a write request becomes (next_record) and what is pending."""

from __future__ import annotations

import pytest

from ring.core.events import FailureReason, WriteRequested
from ring.core.messages import SessionRecord
from ring.core.store import Copy, Role
from ring.core.writes import Writes, next_record


def rec(version: int, *, deleted: bool = False, data: bytes = b"old") -> SessionRecord:
    return SessionRecord("s1", "a", version, 0.0, 1800.0, deleted, b"" if deleted else data)


def write(base: int, data: bytes = b"new", **kw: bool) -> WriteRequested:
    return WriteRequested(request_id=1, session_id="s1", base_version=base, data=data, **kw)


def outcome(req: WriteRequested, held: Copy | None, latest: SessionRecord | None = None,
            max_size: int = 100) -> SessionRecord | FailureReason:
    return next_record(req, held, latest, owner="a", session_now=50.0, max_inactive=600.0, max_size=max_size)


@pytest.mark.parametrize("case, req, held, latest, expected", [
    ("a new session", write(0), None, None, (1, b"new")),
    ("the next version of our primary", write(3), Copy(rec(3), Role.PRIMARY), None, (4, b"new")),
    ("above an uncommitted newer record", write(3), Copy(rec(3), Role.PRIMARY), rec(5), (6, b"new")),
    ("a touch keeps the data", write(3, b"ignored", touch_only=True), Copy(rec(3), Role.PRIMARY), None, (4, b"old")),
    ("a tombstone", write(3, deleted=True), Copy(rec(3), Role.PRIMARY), None, (4, b"")),
    ("written elsewhere meanwhile", write(3), Copy(rec(3), Role.HANDED_OVER), None, FailureReason.MOVED),
    ("not held at all", write(3), None, None, FailureReason.MOVED),
    ("a create of an id held as a backup", write(0), Copy(rec(1), Role.BACKUP), None, FailureReason.ID_TAKEN),
    ("too large", write(0, b"x" * 101), None, None, FailureReason.TOO_LARGE),
    ("after a logout", write(3), Copy(rec(4, deleted=True), Role.PRIMARY), None, FailureReason.INVALIDATED),
    ("after an uncommitted logout", write(3), Copy(rec(3), Role.PRIMARY), rec(4, deleted=True),
     FailureReason.INVALIDATED),
    ("a second logout is fine", write(4, deleted=True), Copy(rec(4, deleted=True), Role.PRIMARY), None, (5, b"")),
])
def test_next_record(case: str, req: WriteRequested, held: Copy | None, latest: SessionRecord | None,
                     expected: tuple[int, bytes] | FailureReason) -> None:
    got = outcome(req, held, latest)
    if isinstance(expected, FailureReason):
        assert got is expected, case
    else:
        assert isinstance(got, SessionRecord), case
        assert (got.version, got.data, got.owner, got.last_access, got.max_inactive) == (*expected, "a", 50.0, 600.0)
        assert got.deleted == req.deleted


def test_pending_until_every_write_of_the_session_settled() -> None:
    writes = Writes()
    writes.begin(rec(4))
    writes.begin(rec(5))
    assert writes.writing("s1") and writes.latest("s1") == rec(5) and writes.touched == {"s1"}
    writes.touched.clear()
    writes.settle(rec(4))
    assert writes.writing("s1") and writes.touched == set()  # one still in flight
    writes.settle(rec(5), replicated=False)
    assert not writes.writing("s1") and writes.latest("s1") is None and writes.touched == {"s1"}
    assert writes.unreplicated == 1


def test_failure_reasons_say_whether_a_retry_can_help() -> None:
    assert not FailureReason.TOO_LARGE.retryable and not FailureReason.INVALIDATED.retryable
    assert FailureReason.NO_COPY_REACHABLE.retryable and FailureReason.FENCED.retryable
