"""One ring instance as a pure state machine: `step(input, now) -> effects`.

Theory of operation. `Node` composes the failure detector (membership), the session store,
replication (outbound stream to the successor, inbound streams from predecessors) and adoption.
The shell calls `step()` for every input with the current monotonic time and carries out the
returned effects in order. Nothing here reads a clock, sleeps, or does I/O.

Guards are numbers: a message from an older incarnation than known, or from an instance declared
dead at its current incarnation, is refused with a fencing answer; batches are checked by
(incarnation, stream, seq); session copies only move to higher versions. An instance that hears
it was declared dead fences itself: it drops its primaries and backups, fails its pending
requests, and comes back with a higher incarnation (a rejoin).

Session time (expiry, last access) is the wall clock read once at start, advanced by the
monotonic clock: a wall-clock jump at runtime changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ring.core import adoption as adopt
from ring.core.events import (
    Adopted,
    Effect,
    Fenced,
    Input,
    Loaded,
    LoadFailed,
    LoadRequested,
    PeerDeclaredDead,
    PeerJoined,
    Received,
    Rejected,
    Respond,
    ResyncFinished,
    ResyncStarted,
    Send,
    Tick,
    Unreachable,
    ViewChanged,
    WriteCommitted,
    WriteFailed,
    WriteRequested,
)
from ring.core.membership import Heard, Membership
from ring.core.messages import (
    AckStatus,
    Batch,
    BatchAck,
    Claim,
    ClaimReply,
    ClaimStatus,
    Done,
    DropBackups,
    Header,
    IndirectPing,
    IndirectPingReply,
    Join,
    JoinReply,
    Message,
    Ping,
    PingReply,
    Release,
    SessionRecord,
)
from ring.core.replication import Inbound, Outbound, OutgoingBatch
from ring.core.settings import CoreSettings
from ring.core.store import ADOPTABLE, Copy, Role, SessionStore
from ring.core.topology import discovery_candidates, successor_of


@dataclass(frozen=True, slots=True)
class NodeStatus:
    id: str
    incarnation: int
    epoch: int
    alive: tuple[str, ...]
    successor: str | None
    primaries: int
    backups: dict[str, int]
    orphans: dict[str, int]
    handed_over: int
    resyncing: bool
    lease_valid: bool
    unreplicated_writes: int
    pending_writes: int
    peers: dict[str, tuple[str, int]]  # peer -> (state, incarnation)
    adoptions: int = 0  # claim rounds under way
    parked_loads: int = 0  # loads waiting for a write, an adoption or the lease
    drops_due: int = 0  # old successors not yet told to drop their backups of us


@dataclass(slots=True)
class _ParkedLoad:
    request: LoadRequested
    deadline: float


class Node:
    """The ring instance `me` among `order` (enabled instances in ring order)."""

    def __init__(
        self, me: str, order: tuple[str, ...], settings: CoreSettings, *,
        incarnation: int, now: float, wall_now: float,
    ) -> None:
        if me not in order:
            raise ValueError(f"{me!r} is not in the ring {order!r}")
        self.me = me
        self.order = tuple(order)
        self.settings = settings
        self.incarnation = incarnation
        self.epoch = 0
        self.store = SessionStore()
        self.membership = Membership(me, self.order, settings, now)
        self.outbound = Outbound(settings.batch_max_bytes, settings.failure_timeout, settings.retry_interval)
        self.inbound = Inbound()
        self.unreplicated_writes = 0
        self._wall_anchor = wall_now - now
        self._alive = self.membership.alive()
        self._successor = successor_of(me, self.order, self._alive)
        self.outbound.repoint(self._successor, [])
        self._latest: dict[str, SessionRecord] = {}  # uncommitted newest record per session
        self._pending: dict[str, int] = {}  # uncommitted writes per session
        self._parked: list[_ParkedLoad] = []
        self._adoptions: dict[int, adopt.PendingAdoption] = {}  # by claim id
        self._claims = 0
        self._last_expiry = now
        self._drop_sent: dict[str, float] = {}
        self._adoption_plans: dict[int, tuple[adopt.Decision, adopt.PendingAdoption]] = {}
        self._successor_restarted = False
        self._seen_changes = 0

    # ================================================================ public

    def session_time(self, now: float) -> float:
        return self._wall_anchor + now

    def step(self, event: Input, now: float) -> list[Effect]:
        out: list[Effect] = []
        if isinstance(event, Tick):
            self._on_tick(now, out)
        elif isinstance(event, Received):
            self._on_message(event.message, now, out, event.in_reply_to)
        elif isinstance(event, Unreachable):
            self._on_unreachable(event.peer, event.request, now, out)
        elif isinstance(event, LoadRequested):
            self._on_load(event, now, out, deadline=now + self.settings.request_timeout)
        elif isinstance(event, WriteRequested):
            self._on_write(event, now, out)
        self._flush(now, out)
        return out

    def inspect(self, now: float) -> NodeStatus:
        return NodeStatus(
            id=self.me, incarnation=self.incarnation, epoch=self.epoch, alive=self._alive,
            successor=self._successor, primaries=sum(self.store.count(Role.PRIMARY).values()),
            backups=self.store.count(Role.BACKUP), orphans=self.store.count(Role.ORPHAN),
            handed_over=sum(self.store.count(Role.HANDED_OVER).values()),
            resyncing=self.outbound.resyncing, lease_valid=self.lease_valid(now),
            unreplicated_writes=self.unreplicated_writes, pending_writes=self.outbound.pending_count(),
            peers={n: (p.state.value, p.incarnation) for n, p in self.membership.peers.items()},
            adoptions=len(self._adoptions), parked_loads=len(self._parked),
            drops_due=len(self.outbound.drops_due),
        )

    def writing(self, session_id: str) -> bool:
        """A write of `session_id` is under way here (not yet committed or failed)."""
        return session_id in self._pending

    def peek_primary(self, session_id: str, now: float) -> SessionRecord | None:
        """The record when this instance can serve `session_id` right now without a step: a live
        primary, no write of it in flight, the lease valid. None: go through `step`.

        Reads only (single dict lookups), so the shell may call it from a request thread while the
        loop thread steps the node: the answer is the state at one instant of the loop.
        """
        held = self.store.get(session_id)
        if held is None or held.role is not Role.PRIMARY or held.record.deleted:
            return None
        if session_id in self._pending or not self.lease_valid(now):
            return None
        return held.record

    @property
    def successor(self) -> str | None:
        return self._successor

    def lease_valid(self, now: float) -> bool:
        return self.membership.lease_valid(self._successor, now)

    def copies(self) -> dict[str, Copy]:
        """Every copy held, by session id (for tests, status and the simulator)."""
        return {c.record.session_id: c for c in self.store}

    # ================================================================ time

    def _on_tick(self, now: float, out: list[Effect]) -> None:
        probes, deaths = self.membership.tick(now, self._successor)
        for p in probes:
            if p.target:
                out.append(Send(p.to, IndirectPing(self._header(), p.target, p.nonce)))
            else:
                out.append(Send(p.to, Ping(self._header(), p.nonce)))
        for peer in deaths:
            self._declare_dead(peer, out)
        if deaths:
            self._view_maybe_changed(now, out)
        resend = self.outbound.due_resend(now)
        if resend is not None:
            out.append(self._send_batch(resend))
        for peer, stream in list(self.outbound.drops_due.items()):
            if self.membership.is_dead(peer):
                del self.outbound.drops_due[peer]
            elif not self.outbound.resyncing and self._drop_sent.get(peer, -1e18) + self.settings.failure_timeout <= now:
                self._drop_sent[peer] = now
                out.append(Send(peer, DropBackups(self._header(), stream)))
        for a in list(self._adoptions.values()):
            if a.committing:
                continue
            if now >= a.deadline:
                self._adoption_failed(a, "no copy reachable before the deadline", out)
            elif a.retry_at is not None and now >= a.retry_at:
                self._claim_round(a, now, out)
            elif a.retry_at is None and not a.complete():
                # a candidate that died meanwhile, or is silent for a failure timeout, will not
                # answer: decide without it (and claim again if its copy may matter)
                overdue = now - a.round_started >= self.settings.failure_timeout
                for peer in a.asked:
                    if peer not in a.answers and (overdue or self.membership.is_dead(peer)):
                        a.answers[peer] = adopt.ClaimAnswer(None)
                if a.complete():
                    self._decide(a, now, out)
        self._retry_parked(now, out)
        if now - self._last_expiry >= 1.0:
            self._last_expiry = now
            self.store.expire(self.session_time(now))

    # ================================================================ messages

    def _on_message(self, msg: Message, now: float, out: list[Effect], in_reply_to: Message | None) -> None:
        h = msg.header
        if h.sender == self.me or h.sender not in self.membership.peers:
            out.append(Rejected(h.sender, type(msg).__name__, "not a member of this ring"))
            return
        known_before = self.membership.incarnation_of(h.sender)
        heard = self.membership.heard(h.sender, h.incarnation, now)
        answers_us = in_reply_to is None or in_reply_to.header.incarnation == self.incarnation
        if heard in (Heard.STALE, Heard.ZOMBIE):
            if isinstance(msg, PingReply) and msg.you_are_dead and answers_us:
                # both sides declared each other dead (a two-instance split): both rejoin
                self._fence(now, out, msg.known_incarnation)
                return
            self._answer_zombie(msg, out)
            return
        if not answers_us:
            return  # a reply to a request of our previous incarnation: fenced since, ignore
        if heard is Heard.RESTARTED:
            self._peer_restarted(h.sender, known_before, out)
        self._view_maybe_changed(now, out)
        if isinstance(msg, Done):
            if isinstance(in_reply_to, DropBackups) and self.outbound.drops_due.get(h.sender) == in_reply_to.stream:
                del self.outbound.drops_due[h.sender]
            return
        self._handlers[type(msg)](self, msg, now, out)

    def _answer_zombie(self, msg: Message, out: list[Effect]) -> None:
        """A message from an instance we declared dead (or an older process): tell it."""
        h = self._header()
        sender = msg.header.sender
        known = self.membership.incarnation_of(sender)  # the fenced one rejoins above it
        out.append(Rejected(sender, type(msg).__name__, "sender was declared dead (fenced)"))
        if isinstance(msg, Ping):
            out.append(Respond(PingReply(h, msg.nonce, you_are_dead=True, known_incarnation=known)))
        elif isinstance(msg, Batch):
            out.append(Respond(BatchAck(h, msg.stream, msg.seq, AckStatus.FENCED, "declared dead", known)))
        elif isinstance(msg, Claim):
            out.append(Respond(ClaimReply(h, msg.session_id, msg.claim_id, ClaimStatus.FENCED, None, known)))
        elif isinstance(msg, IndirectPing):
            # never help a zombie declare anyone dead
            out.append(Respond(IndirectPingReply(h, msg.target, msg.nonce, reachable=True)))
        elif isinstance(msg, Join):
            out.append(Respond(JoinReply(h, accepted=False, reason="declared dead: rejoin",
                                         known_incarnation=known)))
        elif isinstance(msg, Release | DropBackups):
            out.append(Respond(Done(h)))

    # ---- membership

    def _on_Ping(self, msg: Ping, now: float, out: list[Effect]) -> None:
        out.append(Respond(PingReply(self._header(), msg.nonce)))

    def _on_PingReply(self, msg: PingReply, now: float, out: list[Effect]) -> None:
        if msg.you_are_dead:
            self._fence(now, out, msg.known_incarnation)
            return
        self.membership.probe_answered(msg.header.sender, msg.nonce)
        self._retry_parked(now, out)

    def _on_IndirectPing(self, msg: IndirectPing, now: float, out: list[Effect]) -> None:
        reachable = self.membership.still_hears(msg.target, now)
        out.append(Respond(IndirectPingReply(self._header(), msg.target, msg.nonce, reachable)))

    def _on_IndirectPingReply(self, msg: IndirectPingReply, now: float, out: list[Effect]) -> None:
        self.membership.indirect_answered(msg.header.sender, msg.target, msg.reachable, now)

    def _on_Join(self, msg: Join, now: float, out: list[Effect]) -> None:
        out.append(Respond(JoinReply(self._header())))

    def _on_JoinReply(self, msg: JoinReply, now: float, out: list[Effect]) -> None:
        if not msg.accepted:
            self._fence(now, out, msg.known_incarnation)

    # ---- replication

    def _on_Batch(self, msg: Batch, now: float, out: list[Effect]) -> None:
        owner = msg.header.sender
        status, reason, apply = self.inbound.check(owner, msg.header.incarnation, msg.stream, msg.seq)
        if apply:
            for record in msg.records:
                if record.owner == owner:
                    self.store.apply_backup(record, msg.stream)
            if msg.resync_done:
                self.store.drop_backups_of(owner, older_than_stream=msg.stream)
        if status is not AckStatus.OK:
            out.append(Rejected(owner, "Batch", reason))
        out.append(Respond(BatchAck(self._header(), msg.stream, msg.seq, status, reason)))

    def _on_BatchAck(self, msg: BatchAck, now: float, out: list[Effect]) -> None:
        if msg.header.sender != self._successor:
            return
        if msg.status is AckStatus.FENCED:
            if msg.stream == self.outbound.stream:
                self._fence(now, out, msg.known_incarnation)
            return
        if msg.status is not AckStatus.OK:
            if msg.stream == self.outbound.stream:
                self._repoint(now, out)  # restart the stream with a full resync
            return
        done = self.outbound.acked(msg.stream, msg.seq)
        if done is None:
            return
        tokens, resync_finished, sent_at = done
        self.membership.batch_answered(msg.header.sender, sent_at)
        self._committed(tokens, replicated=True, now=now, out=out)
        if resync_finished:
            out.append(ResyncFinished(msg.header.sender))

    def _on_DropBackups(self, msg: DropBackups, now: float, out: list[Effect]) -> None:
        self.store.drop_backups_of(msg.header.sender, older_than_stream=msg.stream)
        current = self.inbound.streams.get(msg.header.sender)
        if current is not None and current.stream < msg.stream:
            self.inbound.forget(msg.header.sender)
        out.append(Respond(Done(self._header())))

    # ---- adoption (holder side)

    def _on_Claim(self, msg: Claim, now: float, out: list[Effect]) -> None:
        status, record = self._grant(msg.session_id, msg.header.sender, now)
        out.append(Respond(ClaimReply(self._header(), msg.session_id, msg.claim_id, status, record)))

    def _grant(self, session_id: str, claimer: str, now: float) -> tuple[ClaimStatus, SessionRecord | None]:
        if self._pending.get(session_id) or self._unacknowledged(session_id):
            # a write in flight, or a copy on its way to our successor: once it lands there it is
            # a backup the claimer must see (and release), so wait for the acknowledgement
            return ClaimStatus.BUSY, None
        held = self.store.get(session_id)
        if held is None:
            return ClaimStatus.NOT_FOUND, None
        if held.role is Role.BACKUP:
            if self.membership.is_dead(held.record.owner):
                held = Copy(held.record, Role.ORPHAN)
            else:
                return ClaimStatus.NOT_AUTHORITY, held.record
        if held.role in ADOPTABLE and held.granted_to not in ("", claimer) and held.granted_until > now:
            return ClaimStatus.BUSY, held.record
        role = Role.HANDED_OVER if held.role is Role.PRIMARY else held.role
        if held.role is Role.PRIMARY:
            # no longer ours: a resync still to send must not plant a stale backup of it
            self.outbound.resync_todo = [r for r in self.outbound.resync_todo if r.session_id != session_id]
        self.store.put(Copy(held.record, role, granted_to=claimer,
                            granted_until=now + self.settings.request_timeout))
        return ClaimStatus.GRANTED, held.record

    def _unacknowledged(self, session_id: str) -> bool:
        f = self.outbound.in_flight
        return (f is not None and any(r.session_id == session_id for r in f.records)) or any(
            r.session_id == session_id for _, r in self.outbound.queue)

    def _on_Release(self, msg: Release, now: float, out: list[Effect]) -> None:
        held = self.store.get(msg.session_id)
        if held is not None and held.role is not Role.PRIMARY and held.version <= msg.version:
            self.store.remove(msg.session_id)
        out.append(Respond(Done(self._header())))

    # ---- adoption (claimer side)

    def _on_ClaimReply(self, msg: ClaimReply, now: float, out: list[Effect]) -> None:
        a = self._adoptions.get(msg.claim_id)
        if msg.status is ClaimStatus.FENCED:
            if a is not None:
                self._fence(now, out, msg.known_incarnation)
            return
        if a is None or a.committing or a.retry_at is not None or msg.header.sender not in a.asked:
            return
        a.answers[msg.header.sender] = adopt.ClaimAnswer(msg.status, msg.record)
        if a.complete():
            self._decide(a, now, out)

    def _on_unreachable(self, peer: str, request: Message, now: float, out: list[Effect]) -> None:
        if isinstance(request, Batch):
            if peer == self._successor:
                self.outbound.link_broken(now)
        elif isinstance(request, Claim):
            a = self._adoptions.get(request.claim_id)
            if a is not None and not a.committing and a.retry_at is None and peer in a.asked:
                a.answers[peer] = adopt.ClaimAnswer(None)
                if a.complete():
                    self._decide(a, now, out)
        elif isinstance(request, DropBackups):
            self._drop_sent[peer] = now - self.settings.failure_timeout + self.settings.retry_interval

    # ================================================================ requests

    def _on_load(self, req: LoadRequested, now: float, out: list[Effect], deadline: float) -> None:
        sid = req.session_id
        if self._pending.get(sid) or self._adopting(sid):
            self._parked.append(_ParkedLoad(req, deadline))  # a write or adoption of it is in flight
            return
        held = self.store.get(sid)
        if held is not None and held.role is Role.PRIMARY:
            if not self.lease_valid(now):
                self._parked.append(_ParkedLoad(req, deadline))
                return
            record = None if held.record.deleted else held.record
            out.append(Loaded(req.request_id, record, self.me, self._successor or ""))
            return
        self._claims += 1
        candidates = [
            c for c in discovery_candidates(self.me, self.order, req.hint_primary, req.hint_backup,
                                            self.settings.max_discovery_hops)
            if not self.membership.is_dead(c)
        ]
        a = adopt.PendingAdoption(req.request_id, sid, candidates, self._claims, deadline)
        self._adoptions[a.claim_id] = a
        self._claim_round(a, now, out)

    def _adopting(self, session_id: str) -> bool:
        return any(a.session_id == session_id for a in self._adoptions.values())

    def _claim_round(self, a: adopt.PendingAdoption, now: float, out: list[Effect]) -> None:
        a.retry_at = None
        a.answers.clear()
        a.round_started = now
        a.asked = [c for c in a.candidates if not self.membership.is_dead(c)]
        status, record = self._grant(a.session_id, self.me, now)
        a.local = adopt.ClaimAnswer(status, record)
        for peer in a.asked:
            out.append(Send(peer, Claim(self._header(), a.session_id, a.claim_id)))
        if a.complete():
            self._decide(a, now, out)

    def _decide(self, a: adopt.PendingAdoption, now: float, out: list[Effect]) -> None:
        answers = dict(a.answers)
        if a.local is not None:
            answers[""] = a.local
        unanswered = any(
            ans.status is None and not self.membership.is_dead(p) for p, ans in a.answers.items()
        )
        d = adopt.decide(answers, unanswered)
        if d.verdict is adopt.Verdict.RETRY:
            a.retry_at = now + self.settings.retry_interval
            return
        if d.verdict is adopt.Verdict.NEW:
            del self._adoptions[a.claim_id]
            out.append(Loaded(a.request_id, None, self.me, self._successor or ""))
            return
        if d.verdict is adopt.Verdict.GONE:
            del self._adoptions[a.claim_id]
            self._release(a.session_id, d.top_version, d.holders + self._backup_of(d), out)
            self.store.remove(a.session_id)
            out.append(Loaded(a.request_id, None, self.me, self._successor or ""))
            return
        assert d.best is not None
        record = replace(d.best, owner=self.me, version=d.top_version + 1,
                         last_access=self.session_time(now))
        a.committing = True
        self._begin_write(("adopt", a.claim_id), record, now, out)
        self._adoption_plans[a.claim_id] = (d, a)

    def _adoption_failed(self, a: adopt.PendingAdoption, reason: str, out: list[Effect]) -> None:
        self._adoptions.pop(a.claim_id, None)
        out.append(LoadFailed(a.request_id, reason))

    def _backup_of(self, d: adopt.Decision) -> tuple[str, ...]:
        """The successor of a primary that handed its session over: its backup may have landed
        there after that instance answered NOT_FOUND, so it is released too."""
        if d.best is None or not d.best_from or d.best.owner != d.best_from:
            return ()
        successor = successor_of(d.best_from, self.order, self._alive)
        return (successor,) if successor else ()

    def _release(self, session_id: str, version: int, holders: tuple[str, ...], out: list[Effect]) -> None:
        for peer in dict.fromkeys(holders):
            if peer != self.me:
                out.append(Send(peer, Release(self._header(), session_id, version)))

    def _retry_parked(self, now: float, out: list[Effect]) -> None:
        if not self._parked:
            return
        parked, self._parked = self._parked, []
        for p in parked:
            if now >= p.deadline:
                out.append(LoadFailed(p.request.request_id, "this instance cannot serve the session now"))
            else:
                self._on_load(p.request, now, out, p.deadline)

    def _on_write(self, req: WriteRequested, now: float, out: list[Effect]) -> None:
        sid = req.session_id
        held = self.store.get(sid)
        latest = self._latest.get(sid)
        if req.base_version > 0 and latest is None and (held is None or held.role is not Role.PRIMARY):
            out.append(WriteFailed(req.request_id, "session moved to another instance"))
            return
        if req.base_version == 0 and held is not None and held.role is not Role.PRIMARY:
            out.append(WriteFailed(req.request_id, "session id already held elsewhere"))
            return
        if len(req.data) > self.settings.max_session_size:
            out.append(WriteFailed(req.request_id, "session too large"))
            return
        current = latest or (held.record if held is not None else None)
        if current is not None and current.deleted and not req.deleted:
            # a concurrent request loaded the session before it was invalidated: never resurrect
            out.append(WriteFailed(req.request_id, "session was invalidated"))
            return
        data = current.data if (req.touch_only and current is not None) else req.data
        record = SessionRecord(
            session_id=sid, owner=self.me, version=(current.version if current else 0) + 1,
            last_access=self.session_time(now), max_inactive=self.settings.session_timeout,
            deleted=req.deleted, data=b"" if req.deleted else data,
        )
        self._begin_write(("write", req.request_id), record, now, out)

    def _begin_write(self, token: tuple[str, int], record: SessionRecord, now: float, out: list[Effect]) -> None:
        sid = record.session_id
        self._latest[sid] = record
        self._pending[sid] = self._pending.get(sid, 0) + 1
        if self.settings.async_replication and token[0] == "write":
            # respond now; the record still travels to the successor (weaker, documented)
            self.store.put(Copy(record, Role.PRIMARY))
            self.outbound.enqueue(None, record)
            self._pending[sid] -= 1
            if not self._pending[sid]:
                del self._pending[sid]
                del self._latest[sid]
            out.append(WriteCommitted(token[1], record.version, self.me, self._successor or "",
                                      self._successor is not None))
            return
        self.outbound.enqueue(token, record)

    def _committed(self, tokens: list, replicated: bool, now: float, out: list[Effect]) -> None:
        for token, record in tokens:
            if token is None:
                continue
            sid = record.session_id
            held = self.store.get(sid)
            if held is None or held.version < record.version or held.role is not Role.PRIMARY:
                self.store.put(Copy(record, Role.PRIMARY))
            self._pending[sid] = self._pending.get(sid, 1) - 1
            if self._pending[sid] <= 0:
                self._pending.pop(sid, None)
                self._latest.pop(sid, None)
            if not replicated:
                self.unreplicated_writes += 1
            kind, ident = token
            if kind == "write":
                out.append(WriteCommitted(ident, record.version, self.me, self._successor or "", replicated))
            else:
                plan = self._adoption_plans.pop(ident, None)
                a = self._adoptions.pop(ident, None)
                if plan is None or a is None:
                    continue
                d, _ = plan
                self._release(sid, d.top_version, d.holders + self._backup_of(d), out)
                out.append(Adopted(sid, d.best_from or self.me, record.version))
                out.append(Loaded(a.request_id, None if record.deleted else record, self.me,
                                  self._successor or ""))
        self._retry_parked(now, out)

    # ================================================================ ring changes

    def _declare_dead(self, peer: str, out: list[Effect]) -> None:
        incarnation = self.membership.declare_dead(peer)
        orphans = self.store.orphan_backups_of(peer)
        self.inbound.forget(peer)
        out.append(PeerDeclaredDead(peer, incarnation, orphans))

    def _peer_restarted(self, peer: str, old_incarnation: int, out: list[Effect]) -> None:
        """A higher incarnation: the old process is gone (its backups become orphans)."""
        orphans = self.store.orphan_backups_of(peer)
        self.inbound.forget(peer)
        if peer == self._successor:
            self._successor_restarted = True  # its copies of ours are gone: resync
        if orphans:
            out.append(PeerDeclaredDead(peer, old_incarnation, orphans, restarted=True))
        out.append(PeerJoined(peer, self.membership.incarnation_of(peer)))

    def _view_maybe_changed(self, now: float, out: list[Effect]) -> None:
        restarted = self._successor_restarted
        if self.membership.changes == self._seen_changes and not restarted:
            return  # the common case: nothing to recompute on an ordinary message
        self._seen_changes = self.membership.changes
        self._successor_restarted = False
        alive = self.membership.alive()
        if alive == self._alive and not restarted:
            return
        self._alive = alive
        self.epoch += 1
        successor = successor_of(self.me, self.order, alive)
        out.append(ViewChanged(self.epoch, alive, successor))
        if successor != self._successor or restarted:
            self._successor = successor
            self._repoint(now, out)

    def _repoint(self, now: float, out: list[Effect]) -> None:
        primaries = self.store.primaries()
        self.outbound.repoint(self._successor, primaries)
        if self._successor is None:
            self._committed(self.outbound.drain_alone(), replicated=False, now=now, out=out)
        else:
            out.append(ResyncStarted(self._successor, len(primaries)))

    def _fence(self, now: float, out: list[Effect], known: int = 0) -> None:
        """We were declared dead: drop what others have taken over and rejoin.

        The new incarnation is above the one the peer knows (`known`), so a process restarted with
        a lower incarnation (a wall clock stepped back) rejoins in one step instead of a loop.
        """
        old = self.incarnation
        self.incarnation = max(self.incarnation, known) + 1
        self.membership.start_over(now)
        dropped = self.store.drop_roles((Role.PRIMARY, Role.BACKUP))
        for token, _record in self.outbound.drain_alone():
            if token is not None and token[0] == "write":
                out.append(WriteFailed(token[1], "this instance was declared dead; retry"))
        self._latest.clear()
        self._pending.clear()
        self._adoption_plans.clear()
        for a in list(self._adoptions.values()):
            self._adoption_failed(a, "this instance was declared dead; retry", out)
        for p in self._parked:
            out.append(LoadFailed(p.request.request_id, "this instance was declared dead; retry"))
        self._parked.clear()
        self.inbound = Inbound()
        self.outbound.repoint(self._successor, [])
        out.append(Fenced(old, self.incarnation, dropped))

    # ================================================================ plumbing

    def _flush(self, now: float, out: list[Effect]) -> None:
        if self._successor is None:
            items = self.outbound.drain_alone()
            if items:
                self._committed(items, replicated=False, now=now, out=out)
            return
        batch = self.outbound.take_batch(now)
        if batch is not None:
            out.append(self._send_batch(batch))

    def _send_batch(self, b: OutgoingBatch) -> Send:
        return Send(b.to, Batch(self._header(), b.stream, b.seq, b.records, b.resync, b.resync_done))

    def _header(self) -> Header:
        return Header(self.me, self.incarnation, self.epoch)

    _handlers: dict[type, Any] = {}


Node._handlers = {
    kind: getattr(Node, "_on_" + kind.__name__)
    for kind in (Ping, PingReply, IndirectPing, IndirectPingReply, Join, JoinReply, Batch, BatchAck,
                 Claim, ClaimReply, Release, DropBackups)
}

