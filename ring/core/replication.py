"""Replication: the stream of batches to the successor, and the backups received from others.

Theory of operation (sender, `Outbound`). There is one stream at a time, to the current
successor, identified by a stream number that grows on every re-point. At most one batch is in
flight; every write queued meanwhile goes into the next batch (group commit). A write commits when
the batch carrying it is acknowledged. When the successor changes, the in-flight writes go back to
the front of the queue, a new stream starts at seq 0, and every primary is sent again (a full
resync, interleaved with new writes and cut into batches of at most `batch_max_bytes`). When the
resync is acknowledged, the old successor (if still alive) is told to drop its backups of us
(`drops_to_send`, resent every ack timeout until it confirms). Alone (no successor), writes
commit at once, counted as unreplicated.

Receiver (`Inbound`). Per owner it remembers (incarnation, stream, next seq), and a floor: the
newest (incarnation, stream) it ever saw or was told of (a DropBackups names the owner's new
stream), kept when the stream itself is forgotten. A batch of a newer stream must start at seq 0;
a duplicate (seq already applied) is acknowledged again; a gap is refused, and the sender
restarts; a batch from an instance that is not this one's predecessor in its current view is
refused NOT_NOW before any of this (the node checks: a forged batch, or a view not yet agreed),
and the sender sends it again later, committing nothing meanwhile; a batch of a stream below the
floor is stale, so a late batch of an abandoned stream
can never plant a backup nobody updates or drops. Records are applied only if newer than the copy
held (store.apply_backup), and a record of a session held here as a primary is one of two
primaries a split left: the one that stands stays (store.stands), the other becomes its backup,
or its sender is told in the acknowledgement that it was refused. When a resync completes, the owner's backups from older streams are
dropped: they are sessions the owner no longer has.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ring.core.messages import AckStatus, Batch, SessionRecord
from ring.core.store import Role, SessionStore, stands
from ring.core.writes import Token

Carried = tuple[Token, SessionRecord]  # a queued record and what its commit completes


@dataclass(slots=True)
class InFlight:
    seq: int
    records: tuple[SessionRecord, ...]
    tokens: list[Carried]
    sent_at: float
    resend_at: float
    resync: bool
    resync_done: bool


@dataclass(slots=True)
class OutgoingBatch:
    to: str
    stream: int
    seq: int
    records: tuple[SessionRecord, ...]
    resync: bool
    resync_done: bool


@dataclass(slots=True)
class Outbound:
    """The sender side of replication for one instance."""

    batch_max_bytes: int
    ack_timeout: float
    retry_interval: float
    successor: str | None = None
    stream: int = 0
    next_seq: int = 0
    in_flight: InFlight | None = None
    queue: deque[Carried] = field(default_factory=deque)
    _carried: Counter[str] = field(default_factory=Counter)  # session id -> records queued or in flight
    resync_todo: list[SessionRecord] = field(default_factory=list)
    resyncing: bool = False
    resync_total: int = 0
    drops_due: dict[str, int] = field(default_factory=dict)  # old successor -> stream to cite
    _drop_sent: dict[str, float] = field(default_factory=dict)  # old successor -> last DropBackups
    _streams_started: int = 0

    def repoint(self, successor: str | None, primaries: list[SessionRecord]) -> None:
        """Start a new stream to `successor` with a full resync of `primaries`."""
        old = self.successor
        if self.in_flight is not None:
            back = [t for t in self.in_flight.tokens if t[0] is not None]
            self.queue.extendleft(reversed(back))
            self._uncarry(self.in_flight.records)
            self._carried.update(r.session_id for _, r in back)
            self.in_flight = None
        self.successor = successor
        self._streams_started += 1
        self.stream = self._streams_started
        self.next_seq = 0
        self.resync_todo = list(primaries) if successor is not None else []
        self.resync_total = len(self.resync_todo)
        self.resyncing = successor is not None
        if old is not None and old != successor:
            self.drops_due[old] = self.stream
        if successor is not None:
            self.drops_due.pop(successor, None)

    def resync_unacked(self) -> int:
        """Primaries of the resync the successor has not acknowledged yet."""
        in_flight = len(self.in_flight.records) if self.in_flight is not None and self.in_flight.resync else 0
        return len(self.resync_todo) + in_flight

    def enqueue(self, token: Token, record: SessionRecord) -> None:
        self.queue.append((token, record))
        self._carried[record.session_id] += 1

    def take_batch(self, now: float) -> OutgoingBatch | None:
        """The next batch to send, if the stream is idle and there is something to send."""
        if self.successor is None or self.in_flight is not None:
            return None
        if not self.queue and not self.resyncing:
            return None
        budget = self.batch_max_bytes
        tokens: list[Carried] = []
        while self.queue and (not tokens or budget - self.queue[0][1].size >= 0):
            item = self.queue.popleft()
            tokens.append(item)
            budget -= item[1].size
        resync_records: list[SessionRecord] = []
        while self.resync_todo and (not (tokens or resync_records) or budget - self.resync_todo[-1].size >= 0):
            record = self.resync_todo.pop()
            resync_records.append(record)
            self._carried[record.session_id] += 1
            budget -= record.size
        resync_done = self.resyncing and not self.resync_todo
        records = tuple(r for _, r in tokens) + tuple(resync_records)
        self.in_flight = InFlight(
            seq=self.next_seq, records=records, tokens=tokens, sent_at=now,
            resend_at=now + self.ack_timeout, resync=self.resyncing, resync_done=resync_done,
        )
        self.next_seq += 1
        return self._as_batch(self.in_flight)

    def acked(self, stream: int, seq: int) -> tuple[list[Carried], bool, float] | None:
        """The in-flight batch was acknowledged: its tokens, whether the resync ended, send time."""
        f = self.in_flight
        if f is None or stream != self.stream or seq != f.seq:
            return None
        self.in_flight = None
        self._uncarry(f.records)
        finished = f.resync_done and self.resyncing
        if finished:
            self.resyncing = False
        return f.tokens, finished, f.sent_at

    def due_resend(self, now: float) -> OutgoingBatch | None:
        """Resend the in-flight batch (same seq) when its ack is overdue or the link broke."""
        f = self.in_flight
        if f is None or self.successor is None or now < f.resend_at:
            return None
        f.resend_at = now + self.ack_timeout
        return self._as_batch(f)

    def not_now(self, seq: int, now: float) -> None:
        """The successor refused the in-flight batch for now (it does not see us as its
        predecessor yet): send it again after a pause (half a ping interval), when the views may
        agree; its writes stay uncommitted meanwhile."""
        if self.in_flight is not None and self.in_flight.seq == seq:
            self.in_flight.resend_at = now + self.retry_interval

    def link_broken(self, now: float) -> None:
        if self.in_flight is not None:
            self.in_flight.resend_at = min(self.in_flight.resend_at, now + self.retry_interval)

    def drain_alone(self) -> list[Carried]:
        """No successor: everything queued or in flight commits now, unreplicated."""
        items = []
        if self.in_flight is not None:
            items.extend(self.in_flight.tokens)
            self.in_flight = None
        items.extend(self.queue)
        self.queue.clear()
        self._carried.clear()
        return items

    def pending_count(self) -> int:
        return len(self.queue) + (len(self.in_flight.tokens) if self.in_flight else 0)

    def carries(self, session_id: str) -> bool:
        """A record of the session is queued or in flight: once acknowledged, it is a backup there."""
        return self._carried[session_id] > 0

    def _uncarry(self, records: tuple[SessionRecord, ...]) -> None:
        for r in records:
            left = self._carried[r.session_id] - 1
            if left > 0:
                self._carried[r.session_id] = left
            else:
                self._carried.pop(r.session_id, None)

    def forget_resync(self, session_id: str) -> None:
        """The session is no longer ours (handed over): a resync must not plant a stale backup of it."""
        self.resync_todo = [r for r in self.resync_todo if r.session_id != session_id]

    # ---- telling old successors to drop their backups of us

    def drops_to_send(self, now: float, is_dead: Callable[[str], bool]) -> list[tuple[str, int]]:
        """(old successor, stream) pairs to send DropBackups to now: after the resync, then again
        every ack timeout until confirmed. Dead old successors are forgotten (nothing to drop)."""
        due = []
        for peer, stream in list(self.drops_due.items()):
            if is_dead(peer):
                del self.drops_due[peer]
            elif not self.resyncing and self._drop_sent.get(peer, -1e18) + self.ack_timeout <= now:
                self._drop_sent[peer] = now
                due.append((peer, stream))
        return due

    def drop_confirmed(self, peer: str, stream: int) -> None:
        if self.drops_due.get(peer) == stream:
            del self.drops_due[peer]

    def drop_unanswered(self, peer: str, now: float) -> None:
        """The DropBackups call failed: try again after a short pause, not a whole ack timeout."""
        self._drop_sent[peer] = now - self.ack_timeout + self.retry_interval

    def _as_batch(self, f: InFlight) -> OutgoingBatch:
        assert self.successor is not None
        return OutgoingBatch(self.successor, self.stream, f.seq, f.records, f.resync, f.resync_done)


@dataclass(slots=True)
class InboundStream:
    incarnation: int
    stream: int
    next_seq: int


@dataclass(slots=True)
class Inbound:
    """The receiver side: which stream of each owner is current and where it is."""

    streams: dict[str, InboundStream] = field(default_factory=dict)
    floors: dict[str, tuple[int, int]] = field(default_factory=dict)  # owner -> newest (incarnation, stream)

    def check(self, owner: str, incarnation: int, stream: int, seq: int) -> tuple[AckStatus, str, bool]:
        """Decide on a batch: (status, reason, apply?). Duplicates are OK but not applied."""
        if (incarnation, stream) < self.floors.get(owner, (0, 0)):
            return AckStatus.STALE, "an older stream than the current one", False
        current = self.streams.get(owner)
        if current is None or (incarnation, stream) > (current.incarnation, current.stream):
            if seq != 0:
                return AckStatus.REJECTED, "a new stream must start at seq 0", False
            self.streams[owner] = InboundStream(incarnation, stream, 0)
            self.floors[owner] = (incarnation, stream)
            current = self.streams[owner]
        if seq < current.next_seq:
            return AckStatus.OK, "duplicate", False
        if seq > current.next_seq:
            return AckStatus.REJECTED, f"gap: expected seq {current.next_seq}", False
        current.next_seq += 1
        return AckStatus.OK, "", True

    def receive(self, batch: Batch, store: SessionStore, newest_own: Callable[[str], SessionRecord | None],
                order: tuple[str, ...]) -> tuple[AckStatus, str, tuple[str, ...], list[str]]:
        """Check a batch from its owner and apply its records to `store` when it is in sequence.

        A record of a session held here as a primary (the two sides of a split each kept one)
        meets ours, the newest we wrote (`newest_own`, committed or on its way): if ours stands
        (store.stands) the record is refused (its id returned for the ack: its sender yields);
        otherwise our primary yields and becomes the record's backup (its id returned too).
        Returns (status, reason, refused, yielded)."""
        owner = batch.header.sender
        status, reason, apply = self.check(owner, batch.header.incarnation, batch.stream, batch.seq)
        refused: list[str] = []
        yielded: list[str] = []
        if apply:
            for record in batch.records:
                if record.owner != owner:
                    continue
                held = store.get(record.session_id)
                if held is not None and held.role is Role.PRIMARY:
                    ours = newest_own(record.session_id) or held.record
                    if stands(ours, record, order):
                        refused.append(record.session_id)
                    else:
                        store.yield_primary(record, batch.stream)
                        yielded.append(record.session_id)
                    continue
                store.apply_backup(record, batch.stream)
            if batch.resync_done:
                store.drop_backups_of(owner, older_than_stream=batch.stream)
        return status, reason, tuple(refused), yielded

    def drop_stream(self, owner: str, incarnation: int, stream: int, store: SessionStore) -> None:
        """The owner re-pointed its stream (DropBackups): its backups from older streams go, and
        so does every older stream of it still in flight (the floor)."""
        store.drop_backups_of(owner, older_than_stream=stream)
        self.abandon_older(owner, incarnation, stream)

    def abandon_older(self, owner: str, incarnation: int, stream: int) -> None:
        """The owner's streams older than `stream` are abandoned: a late batch of one is stale.
        The copies they delivered stay (a drop refused: the node decides)."""
        self.floors[owner] = max(self.floors.get(owner, (0, 0)), (incarnation, stream))
        current = self.streams.get(owner)
        if current is not None and current.stream < stream:
            self.forget(owner)

    def fenced(self) -> None:
        """This instance was declared dead: every stream in progress to it is abandoned (its
        predecessor re-points, and streams to it again from a newer stream once it rejoins). The
        floors stay, above those streams: a late batch of one (a cut healing, TCP sending what it
        held back) would plant backups nobody updates or drops."""
        for owner, s in self.streams.items():
            self.floors[owner] = max(self.floors.get(owner, (0, 0)), (s.incarnation, s.stream + 1))
        self.streams.clear()

    def forget(self, owner: str) -> None:
        self.streams.pop(owner, None)
