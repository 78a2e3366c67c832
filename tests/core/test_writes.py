"""Write bookkeeping alone: what a write request becomes (next_record) and what is pending."""

from __future__ import annotations

from typing import Any

import pytest

from ring.core.events import FailureReason, WriteRequested
from ring.core.messages import SessionRecord
from ring.core.store import Copy, Role
from ring.core.writes import Writes, next_record


def rec(version: int, *, deleted: bool = False, data: bytes = b"old") -> SessionRecord:
    return SessionRecord("s1", "a", version, 0.0, 1800.0, deleted, b"" if deleted else data)


def write(base: int, data: bytes = b"new", **kw: Any) -> WriteRequested:
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
        lives = 1800.0 if req.deleted or req.touch_only else 600.0  # the session's own (a touch, a tombstone)
        assert (got.version, got.data, got.owner, got.last_access, got.max_inactive) == (*expected, "a", 50.0, lives)
        assert got.deleted == req.deleted


def lived(req: WriteRequested, held: Copy | None) -> float:
    got = outcome(req, held)
    assert isinstance(got, SessionRecord)
    return got.max_inactive


def test_a_session_lives_as_long_as_its_save_asks_and_a_logout_outlives_it() -> None:
    mine = Copy(SessionRecord("s1", "a", 3, 0.0, 7200.0, False, b"old"), Role.PRIMARY)  # lifetime 2 h
    assert lived(write(0, lifetime=60.0), None) == 60.0  # a lifetime of its own
    assert lived(write(0), None) == 600.0  # none asked: the instance default
    assert lived(write(3), mine) == 600.0  # a save without one goes back to the default
    assert lived(write(3, b"", touch_only=True), mine) == 7200.0  # a touch keeps the session's own
    assert lived(write(3, deleted=True), mine) == 7200.0  # the tombstone outlives every copy of it
    assert lived(write(3, deleted=True, lifetime=5.0), mine) == 7200.0
    for bad in (0.0, -1.0, float("nan"), 1e12):  # refused at the port; ignored here
        assert lived(write(0, lifetime=bad), None) == 600.0


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


def test_a_sessions_own_lifetime_travels_to_its_backup_and_expires_it_on_both() -> None:
    from ring.core.settings import CoreSettings
    from ring.testing import SimCluster

    sim = SimCluster(list("abc"), CoreSettings(session_timeout=600.0))
    sim.run(1.0)
    short = sim.request("create", "a", "short", payload=b"x", lifetime=60.0)
    long = sim.request("create", "a", "long", payload=b"x", lifetime=3600.0)
    plain = sim.request("create", "a", "plain", payload=b"x")
    sim.run(1.0)
    assert short.outcome == long.outcome == plain.outcome == "ok"

    def holders(sid: str) -> list[str]:
        return [n for n, node in sim.nodes.items() if node is not None and node.store.get(sid) is not None]

    assert holders("short") == holders("long") == holders("plain") == ["a", "b"]  # primary and backup
    sim.run(120.0)  # past the short lifetime, within the default
    assert holders("short") == [] and holders("plain") == ["a", "b"]
    sim.run(600.0)  # past the default, within the long lifetime
    assert holders("plain") == [] and holders("long") == ["a", "b"]
