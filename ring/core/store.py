"""The copies of sessions one instance holds.

Theory of operation. Every session an instance knows about is held in exactly one role:

    PRIMARY      this instance owns it and serves it (writable)
    BACKUP       a copy sent by its live owner over the replication stream (read-only)
    ORPHAN       a backup whose owner was declared dead (read-only, adoptable)
    HANDED_OVER  this instance was its primary and granted it to a claimer (read-only, adoptable)

`primary_count` is the number of live (not deleted) primaries, kept as copies change, so the
max-sessions check of a new session costs nothing.

Invariants: versions of one session only grow on any instance (a copy is replaced only by a
strictly newer version, never by an older one); a PRIMARY is overwritten by replication only
when two primaries of one session meet (the two sides of a split each kept one: `stands` decides,
and the primary that yields becomes the backup of the other); tombstones (`deleted`) are kept like sessions until they expire, so an invalidated session can
never come back from an older copy. Expiry uses session time (wall-anchored, advanced by the
monotonic clock), passed in.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, replace

from ring.core.messages import SessionRecord


class Role(enum.Enum):
    PRIMARY = "primary"
    BACKUP = "backup"
    ORPHAN = "orphan"
    HANDED_OVER = "handed-over"


ADOPTABLE = (Role.ORPHAN, Role.HANDED_OVER)


@dataclass(frozen=True, slots=True)
class Copy:
    record: SessionRecord
    role: Role
    stream: int = 0  # BACKUP: the owner's stream that delivered it
    granted_to: str = ""  # ORPHAN / HANDED_OVER: the claimer it is promised to
    granted_until: float = 0.0  # monotonic time when that promise lapses
    weak: bool = False  # promised to this instance's own eager round: others may take it over

    @property
    def version(self) -> int:
        return self.record.version


class SessionStore:
    """Copies by session id. Pure: no clock, no I/O.

    `touched` collects the ids whose primary may have changed (every mutation but the backup-only
    ones), for the node to republish its read view; the node empties it.
    """

    def __init__(self) -> None:
        self._copies: dict[str, Copy] = {}
        self.touched: set[str] = set()
        self.primary_count = 0
        # live copies (tombstones left out) by role and owner, kept as copies come and go, so
        # that a status poll costs nothing per session held
        self._counts: dict[Role, dict[str, int]] = {role: {} for role in Role}

    def _count(self, copy: Copy | None, delta: int) -> None:
        if copy is not None and not copy.record.deleted:
            by_owner = self._counts[copy.role]
            owner = copy.record.owner
            left = by_owner.get(owner, 0) + delta
            if left:
                by_owner[owner] = left
            else:
                del by_owner[owner]

    def _set(self, session_id: str, copy: Copy) -> None:
        old = self._copies.get(session_id)
        self.primary_count += _live_primary(copy) - _live_primary(old)
        self._count(old, -1)
        self._count(copy, 1)
        self._copies[session_id] = copy

    def _del(self, session_id: str) -> Copy | None:
        gone = self._copies.pop(session_id, None)
        self.primary_count -= _live_primary(gone)
        self._count(gone, -1)
        return gone

    def __len__(self) -> int:
        return len(self._copies)

    def __iter__(self) -> Iterator[Copy]:
        return iter(list(self._copies.values()))

    def get(self, session_id: str) -> Copy | None:
        return self._copies.get(session_id)

    def put(self, copy: Copy) -> None:
        self._set(copy.record.session_id, copy)
        self.touched.add(copy.record.session_id)

    def remove(self, session_id: str) -> Copy | None:
        self.touched.add(session_id)
        return self._del(session_id)

    def primaries(self) -> list[SessionRecord]:
        return [c.record for c in self._copies.values() if c.role is Role.PRIMARY]

    def count(self, role: Role) -> dict[str, int]:
        """Live sessions (tombstones left out) held in `role`, by owner."""
        return dict(self._counts[role])

    def apply_backup(self, record: SessionRecord, stream: int) -> bool:
        """Store a replicated copy unless ours is as new or is a primary. True if stored.

        An orphan of ours at the same version becomes a backup of the owner that streams it: the
        owner is alive and holds the session as a primary (we were fenced and rejoined, or the two
        sides of a split each adopted it), so its record is the one that stands (an eager round
        would yield to it), and the copy is its backup, not a stale orphan to be dropped."""
        held = self._copies.get(record.session_id)
        if held is not None and held.role is Role.ORPHAN and held.version == record.version:
            self._set(record.session_id, Copy(record, Role.BACKUP, stream=stream))
            return True
        if held is not None and (held.role is Role.PRIMARY or held.version >= record.version):
            if held.role is Role.BACKUP and held.version == record.version and held.stream < stream:
                self._set(record.session_id, replace(held, stream=stream))
            return False
        self._set(record.session_id, Copy(record, Role.BACKUP, stream=stream))
        return True

    def yield_primary(self, record: SessionRecord, stream: int) -> None:
        """Our primary of the session yields to `record`, another primary that stands (`stands`):
        the copy becomes its backup."""
        self._set(record.session_id, Copy(record, Role.BACKUP, stream=stream))
        self.touched.add(record.session_id)

    def orphan_backups_of(self, owner: str) -> list[str]:
        """The owner was declared dead: its backups become read-only orphans (their ids)."""
        orphaned = []
        for sid, c in list(self._copies.items()):
            if c.role is Role.BACKUP and c.record.owner == owner:
                self._set(sid, Copy(c.record, Role.ORPHAN))
                orphaned.append(sid)
        return orphaned

    def quarantine(self) -> tuple[int, list[str]]:
        """This instance was fenced: what it handed over goes; everything else it held (primaries,
        backups, orphans) becomes an orphan, to be reconciled with the ring before anyone uses
        it (adopted where it is the newest copy, dropped where another is newer). Returns
        (copies dropped, ids kept). Nothing acknowledged is thrown away on a fence."""
        dropped = [sid for sid, c in self._copies.items() if c.role is Role.HANDED_OVER]
        for sid in dropped:
            self._del(sid)
        kept = list(self._copies)
        for sid in kept:
            self._set(sid, Copy(self._copies[sid].record, Role.ORPHAN))
        self.touched.update(dropped)
        self.touched.update(kept)
        return len(dropped), kept

    def drop_backups_of(self, owner: str, older_than_stream: int) -> int:
        """Drop the owner's backups delivered by streams older than `older_than_stream`."""
        doomed = [
            sid for sid, c in self._copies.items()
            if c.role is Role.BACKUP and c.record.owner == owner and c.stream < older_than_stream
        ]
        for sid in doomed:
            self._del(sid)
        return len(doomed)

    def drop_roles(self, roles: tuple[Role, ...]) -> int:
        doomed = [sid for sid, c in self._copies.items() if c.role in roles]
        for sid in doomed:
            self._del(sid)
        self.touched.update(doomed)
        return len(doomed)

    def expire(self, session_now: float) -> int:
        """Remove every copy (of any role) whose session has been idle past its timeout."""
        doomed = [sid for sid, c in self._copies.items() if c.record.expires_at <= session_now]
        for sid in doomed:
            self._del(sid)
        self.touched.update(doomed)
        return len(doomed)

    def bytes_held(self) -> int:
        return sum(c.record.size for c in self._copies.values())


def _live_primary(copy: Copy | None) -> int:
    return int(copy is not None and copy.role is Role.PRIMARY and not copy.record.deleted)


def stands(ours: SessionRecord, theirs: SessionRecord, order: tuple[str, ...]) -> bool:
    """Of two primaries of one session, does ours stand? Only the two sides of a split can each
    hold one (a two-instance ring serves alone on both sides). A logout stands over any live
    record (it is never undone), then the newer record, and on a tie the one whose owner comes
    first in server.xml: a total order, so both instances reach the same verdict on the pair."""
    def key(r: SessionRecord) -> tuple[bool, int, int]:
        return r.deleted, r.version, -(order.index(r.owner) if r.owner in order else len(order))
    return key(ours) > key(theirs)
