"""Write bookkeeping: what a write becomes, and which writes are still on their way.

Theory of operation. A write request turns into the session's next record (`next_record`): its
version is one above the newest this instance knows, committed or not, and it is refused when the
session is not this instance's to write (held as a backup, an orphan, or not at all while the
request claims a base version), when it is too large, or when the newest record is a tombstone
(a concurrent request logged the session out: a logout is never undone). While the record travels
to the successor it is the session's *latest* record and the session is *pending*: loads of it
wait, and claims of it are answered BUSY. `Writes` tracks both until the write commits or fails.

A queued record carries a token back to the node when its batch is acknowledged: a `WriteToken`
(an HTTP request's save), an `AdoptToken` (an adopted session, replicated before its old copies
are released), or None (a record of a full resync, which completes nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

from ring.core.events import FailureReason, WriteRequested
from ring.core.messages import SessionRecord
from ring.core.store import Copy, Role


@dataclass(frozen=True, slots=True)
class WriteToken:
    request_id: int


@dataclass(frozen=True, slots=True)
class AdoptToken:
    claim_id: int


Token = WriteToken | AdoptToken | None


def next_record(
    req: WriteRequested, held: Copy | None, latest: SessionRecord | None, *,
    owner: str, session_now: float, max_inactive: float, max_size: int,
) -> SessionRecord | FailureReason:
    """The record `req` writes, or why it may not be written here."""
    if req.base_version > 0 and latest is None and (held is None or held.role is not Role.PRIMARY):
        return FailureReason.MOVED
    if req.base_version == 0 and held is not None and held.role is not Role.PRIMARY:
        return FailureReason.ID_TAKEN
    if len(req.data) > max_size:
        return FailureReason.TOO_LARGE
    current = latest or (held.record if held is not None else None)
    if current is not None and current.deleted and not req.deleted:
        return FailureReason.INVALIDATED  # loaded before the logout: never resurrect
    data = current.data if (req.touch_only and current is not None) else req.data
    return SessionRecord(
        session_id=req.session_id, owner=owner, version=(current.version if current else 0) + 1,
        last_access=session_now, max_inactive=lifetime_of(req, current, max_inactive), deleted=req.deleted,
        data=b"" if req.deleted else data,
    )


MAX_LIFETIME = 400 * 86400.0  # as ring.backend.MAX_LIFETIME (checked there first; the core stays on its own)


def lifetime_of(req: WriteRequested, current: SessionRecord | None, default: float) -> float:
    """How long the written record lives idle: the request's lifetime, the instance default, or
    (a touch) the session's own. A tombstone lives at least as long as the session it ends, so no
    stale copy of the session can outlive the logout that ended it."""
    own = current.max_inactive if current is not None else default
    asked = req.lifetime if req.lifetime is not None and 0.0 < req.lifetime <= MAX_LIFETIME else None
    if req.deleted:
        return max(own, default, asked or 0.0)
    if asked is not None:
        return asked
    return own if req.touch_only else default


class Writes:
    """The writes of one instance that are not committed yet."""

    def __init__(self) -> None:
        self._latest: dict[str, SessionRecord] = {}  # uncommitted newest record per session
        self._pending: dict[str, int] = {}  # uncommitted writes per session
        self.unreplicated = 0  # writes committed with no successor (not covered by the promise)
        self.touched: set[str] = set()  # sessions that started or stopped pending (read view)
        self._deadlines: dict[int, float] = {}  # request id -> when its client is told TIMED_OUT

    def expect(self, token: WriteToken, deadline: float) -> None:
        """A client waits for this write until `deadline`."""
        self._deadlines[token.request_id] = deadline

    def waiting(self, token: WriteToken) -> bool:
        """The client still waits (not yet answered, not yet told it timed out)."""
        return token.request_id in self._deadlines

    def answered(self, token: WriteToken) -> None:
        self._deadlines.pop(token.request_id, None)

    def overdue(self, now: float) -> list[WriteToken]:
        """The writes whose clients must be told now that they timed out (indeterminate: the
        record stays on its way and may still commit; nobody is answered twice)."""
        late = [rid for rid, deadline in self._deadlines.items() if now >= deadline]
        for rid in late:
            del self._deadlines[rid]
        return [WriteToken(rid) for rid in late]

    def writing(self, session_id: str) -> bool:
        return session_id in self._pending

    def latest(self, session_id: str) -> SessionRecord | None:
        return self._latest.get(session_id)

    def begin(self, record: SessionRecord) -> None:
        sid = record.session_id
        self._latest[sid] = record
        self._pending[sid] = self._pending.get(sid, 0) + 1
        self.touched.add(sid)

    def settle(self, record: SessionRecord, *, replicated: bool = True) -> None:
        """One write of the session committed (or was answered at once, in async mode)."""
        sid = record.session_id
        left = self._pending.get(sid, 1) - 1
        if left <= 0:
            self._pending.pop(sid, None)
            self._latest.pop(sid, None)
            self.touched.add(sid)
        else:
            self._pending[sid] = left
        if not replicated:
            self.unreplicated += 1

    def clear(self) -> list[WriteToken]:
        """Forget every write (the instance was fenced); returns the clients still waiting."""
        waiting = [WriteToken(rid) for rid in self._deadlines]
        self.touched.update(self._pending)
        self._deadlines.clear()
        self._latest.clear()
        self._pending.clear()
        return waiting
