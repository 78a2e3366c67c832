"""One ring instance as a pure state machine: `step(input, now) -> effects`.

Theory of operation. `Node` composes the failure detector (`Membership`), the session store,
replication (`Outbound` to the successor, `Inbound` from predecessors) and the request side
(`Requests`: loads, writes, the claim rounds of adoption and the answers to other instances'
claims). Each component keeps its own state; the node judges every message first
(ring.core.fencing.admit), routes it to the component it concerns, and keeps the ring itself in
shape: probes and deaths, view changes, re-pointing the stream, fencing. The shell calls `step()`
for every input with the current monotonic time and carries out the returned effects in order.
Nothing here reads a clock, sleeps, or does I/O. At the end of every step the node publishes its
read view (ring.core.readview), the only state other threads may read.

Guards are numbers: a message from an older incarnation than known, or from an instance declared
dead at its current incarnation, is refused with a fencing answer; batches are checked by
(incarnation, stream, seq); session copies only move to higher versions. An instance that hears
it was declared dead fences itself: it fails its pending requests, drops what it handed over,
keeps every other copy as an orphan to be reconciled with the ring (adopted where it is the
newest, dropped where another is newer: a partition's heal loses nothing acknowledged), and comes
back with a higher incarnation (a rejoin).

Session time (expiry, last access) is the wall clock read once at start, advanced by the
monotonic clock: a wall-clock jump at runtime changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ring.core.adoption import UNREACHABLE, ClaimAnswer
from ring.core.events import (
    Effect,
    FailureReason,
    Fenced,
    Input,
    LeaveRequested,
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
    WriteFailed,
    WriteRequested,
)
from ring.core.fencing import Admission, admit, zombie_answer
from ring.core.leaving import Leaving
from ring.core.membership import Membership
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
    Leave,
    Message,
    Ping,
    PingReply,
    Release,
)
from ring.core.readview import ReadView, Serving
from ring.core.replication import Inbound, Outbound, OutgoingBatch
from ring.core.requests import Place, Requests
from ring.core.settings import CoreSettings
from ring.core.status import NodeStatus
from ring.core.store import Copy, Role, SessionStore
from ring.core.topology import predecessor_of, successor_of


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
        self.epoch = 0  # this instance's count of view changes (status and metrics only)
        self.store = SessionStore()
        self.membership = Membership(me, self.order, settings, now)
        self.outbound = Outbound(settings.batch_max_bytes, settings.failure_timeout, settings.retry_interval)
        self.inbound = Inbound()
        self.read_view = ReadView()
        self._alive = self.membership.alive()
        self._successor = successor_of(me, self.order, self._alive)
        self.outbound.repoint(self._successor, [])
        self.requests = Requests(me, self.order, settings, place=self._place(), store=self.store,
                                 membership=self.membership, outbound=self.outbound,
                                 wall_anchor=wall_now - now)
        self._last_expiry = now
        self._successor_restarted = False
        self._seen_changes = 0
        requests = self.requests
        self._handlers: dict[type, Callable[[Any, float, list[Effect]], None]] = {
            Ping: self._on_ping, PingReply: self._on_ping_reply, IndirectPing: self._on_indirect_ping,
            IndirectPingReply: self._on_indirect_reply, Join: self._on_join, JoinReply: self._on_join_reply,
            Batch: self._on_batch, BatchAck: self._on_batch_ack, DropBackups: self._on_drop_backups,
            Claim: requests.on_claim, ClaimReply: self._on_claim_reply,
            Release: lambda msg, now, out: requests.on_release(msg, out), Leave: self._on_leave,
        }
        self.leaving = Leaving(settings.ping_interval, settings.failure_timeout / 2)

    # ================================================================ public

    def session_time(self, now: float) -> float:
        return self.requests.session_time(now)

    def step(self, event: Input, now: float, *, finish: bool = True) -> list[Effect]:
        """One input: its effects. `finish` False leaves the batch to the successor and the read
        view unpublished until `finish(now)`, for inputs that arrive together (the answers of one
        ClaimMany call): the driver calls `finish` before it does anything else, so no reader sees
        the view in between."""
        out: list[Effect] = []
        if isinstance(event, LoadRequested | WriteRequested) and self.leaving.requested:
            failed = LoadFailed if isinstance(event, LoadRequested) else WriteFailed
            out.append(failed(request_id=event.request_id, reason=FailureReason.LEAVING))
            return out
        if self.leaving.left:
            return out
        if self.leaving.telling:
            self.leaving.step(event, self._header(), now, out)
            self._publish()
            return out
        if isinstance(event, LeaveRequested):
            self.leaving.requested = True
        elif isinstance(event, Tick):
            self._on_tick(now, out)
        elif isinstance(event, Received):
            self._on_message(event.message, now, out, event.in_reply_to)
        elif isinstance(event, Unreachable):
            self._on_unreachable(event.peer, event.request, now, out)
        elif isinstance(event, LoadRequested):
            self.requests.load(event, now, out)
        elif isinstance(event, WriteRequested):
            self.requests.write(event, now, out)
        if finish:
            self._finish(now, out)
        return out

    def finish(self, now: float) -> list[Effect]:
        """What steps with `finish` False left to do: the batch due, a leave due, the read view."""
        out: list[Effect] = []
        if self.leaving.telling:
            self._publish()
        elif not self.leaving.left:
            self._finish(now, out)
        return out

    def _finish(self, now: float, out: list[Effect]) -> None:
        self._flush(now, out)
        if self.leaving.requested and not self.leaving.telling and not self.leaving.left:
            self._leave_when_handed_over(now, out)
        self._publish()

    def inspect(self, now: float) -> NodeStatus:
        return NodeStatus(
            id=self.me, incarnation=self.incarnation, epoch=self.epoch, alive=self._alive,
            successor=self._successor, primaries=sum(self.store.count(Role.PRIMARY).values()),
            backups=self.store.count(Role.BACKUP), orphans=self.store.count(Role.ORPHAN),
            handed_over=sum(self.store.count(Role.HANDED_OVER).values()),
            resyncing=self.outbound.resyncing, lease_valid=self.lease_valid(now),
            unreplicated_writes=self.requests.writes.unreplicated, pending_writes=self.outbound.pending_count(),
            peers={n: (p.state.value, p.incarnation) for n, p in self.membership.peers.items()},
            adoptions=len(self.requests.adoptions) + len(self.requests.eager) + len(self.requests.handed),
            parked_loads=len(self.requests.parked),
            drops_due=len(self.outbound.drops_due), releases_due=len(self.requests.releases),
            unredundant=self._unredundant(),
        )

    def _unredundant(self) -> int:
        orphans = sum(self.store.count(Role.ORPHAN).values())
        if self._successor is None:
            return orphans + sum(self.store.count(Role.PRIMARY).values())
        return orphans + (self.outbound.resync_unacked() if self.outbound.resyncing else 0)

    def writing(self, session_id: str) -> bool:
        """A write of `session_id` is under way here (not yet committed or failed)."""
        return self.requests.writes.writing(session_id)

    @property
    def successor(self) -> str | None:
        return self._successor

    def lease_valid(self, now: float) -> bool:
        """May serve its primaries now (a leaving instance serves nothing: it refuses requests)."""
        return not self.leaving.requested and self.membership.lease_valid(self._successor, now)

    def copies(self) -> dict[str, Copy]:
        """Every copy held, by session id (for tests, status and the simulator)."""
        return {c.record.session_id: c for c in self.store}

    # ================================================================ time

    def _on_tick(self, now: float, out: list[Effect]) -> None:
        probes, deaths = self.membership.tick(now, self._successor)
        for p in probes:
            message = IndirectPing(self._header(), p.target, p.nonce) if p.target else Ping(self._header(), p.nonce)
            out.append(Send(to=p.to, message=message))
        for peer in deaths:
            self._declare_dead(peer, out, now)
        if deaths:
            self._view_maybe_changed(now, out)
        resend = self.outbound.due_resend(now)
        if resend is not None:
            out.append(self._send_batch(resend))
        for peer, stream in self.outbound.drops_to_send(now, self.membership.is_dead):
            out.append(Send(to=peer, message=DropBackups(self._header(), stream)))
        self.requests.tick(now, out)
        if now - self._last_expiry >= 1.0:
            self._last_expiry = now
            self.store.expire(self.session_time(now))

    # ================================================================ messages

    def _on_message(self, msg: Message, now: float, out: list[Effect], in_reply_to: Message | None) -> None:
        sender = msg.header.sender
        known_before = self.membership.incarnation_of(sender) if sender in self.membership.peers else 0
        verdict = admit(msg, in_reply_to, self.membership, self.me, self.incarnation, now)
        if verdict is Admission.NOT_A_MEMBER:
            out.append(Rejected(peer=sender, what=type(msg).__name__, reason="not a member of this ring"))
        elif verdict is Admission.CLOCK_PROBE:
            out.append(Respond(message=JoinReply(self._header())))
        elif verdict is Admission.MUTUAL_DEATH:
            assert isinstance(msg, PingReply)
            self._fence(now, out, msg.header.sender, msg.known_incarnation)
        elif verdict is Admission.ZOMBIE:
            out.append(Rejected(peer=sender, what=type(msg).__name__, reason="sender was declared dead (fenced)"))
            reply = zombie_answer(msg, self._header(), self.membership.incarnation_of(sender))
            if reply is not None:
                out.append(Respond(message=reply))
        elif verdict is not Admission.OLD_REPLY:
            if verdict is Admission.ACCEPT_RESTARTED:
                self._peer_restarted(sender, known_before, out)
            self._view_maybe_changed(now, out)
            if not isinstance(msg, Done):
                self._handlers[type(msg)](msg, now, out)
            elif isinstance(in_reply_to, DropBackups):
                self.outbound.drop_confirmed(sender, in_reply_to.stream)
            elif isinstance(in_reply_to, Release):
                self.requests.release_confirmed(sender, in_reply_to)

    # ---- membership

    def _on_ping(self, msg: Ping, now: float, out: list[Effect]) -> None:
        out.append(Respond(message=PingReply(self._header(), msg.nonce)))

    def _on_ping_reply(self, msg: PingReply, now: float, out: list[Effect]) -> None:
        if msg.you_are_dead:
            self._fence(now, out, msg.header.sender, msg.known_incarnation)
            return
        self.membership.probe_answered(msg.header.sender, msg.nonce)
        self.requests.retry_parked(now, out)

    def _on_indirect_ping(self, msg: IndirectPing, now: float, out: list[Effect]) -> None:
        reachable = self.membership.still_hears(msg.target, now)
        out.append(Respond(message=IndirectPingReply(self._header(), msg.target, msg.nonce, reachable)))

    def _on_indirect_reply(self, msg: IndirectPingReply, now: float, out: list[Effect]) -> None:
        self.membership.indirect_answered(msg.header.sender, msg.target, msg.reachable, now)

    def _on_join(self, msg: Join, now: float, out: list[Effect]) -> None:
        out.append(Respond(message=JoinReply(self._header())))

    def _on_join_reply(self, msg: JoinReply, now: float, out: list[Effect]) -> None:
        if not msg.accepted:
            self._fence(now, out, msg.header.sender, msg.known_incarnation)

    # ---- replication

    def _on_batch(self, msg: Batch, now: float, out: list[Effect]) -> None:
        if msg.header.sender != predecessor_of(self.me, self.order, self._alive):
            # only our predecessor's stream makes backups here: a forged batch, or a sender whose
            # view of the ring is ahead of or behind ours (a death or a rejoin not yet seen by
            # both). Nothing applied, no stream state touched: it sends the same batch again later
            reason = "not this instance's predecessor"
            out.append(Rejected(peer=msg.header.sender, what="Batch", reason=reason))
            out.append(Respond(message=BatchAck(self._header(), msg.stream, msg.seq, AckStatus.NOT_NOW, reason)))
            return
        status, reason, refused, yielded = self.inbound.receive(msg, self.store, self.requests.writes.latest,
                                                                self.order)
        self.requests.yielded(yielded)
        if status is not AckStatus.OK:
            out.append(Rejected(peer=msg.header.sender, what="Batch", reason=reason))
        out.append(Respond(message=BatchAck(self._header(), msg.stream, msg.seq, status, reason,
                                            refused=refused)))

    def _on_batch_ack(self, msg: BatchAck, now: float, out: list[Effect]) -> None:
        if msg.header.sender != self._successor:
            return
        if msg.status is not AckStatus.OK:
            if msg.stream == self.outbound.stream:
                if msg.status is AckStatus.NOT_NOW:
                    # the successor does not see us as its predecessor yet (or any more): our views
                    # differ until the next pings settle them. Nothing committed; same batch later
                    self.outbound.not_now(msg.seq, now)
                elif msg.status is AckStatus.FENCED:
                    self._fence(now, out, msg.header.sender, msg.known_incarnation)
                else:
                    self._repoint(now, out)  # restart the stream with a full resync
            return
        done = self.outbound.acked(msg.stream, msg.seq)
        if done is None:
            return
        carried, resync_finished, sent_at = done
        self.membership.batch_answered(msg.header.sender, sent_at)
        if msg.refused:
            carried = self.requests.refused(carried, set(msg.refused), now, out)
        self.requests.committed(carried, replicated=True, now=now, out=out)
        if resync_finished:
            self.membership.reconciling = False
            out.append(ResyncFinished(successor=msg.header.sender))

    def _on_drop_backups(self, msg: DropBackups, now: float, out: list[Effect]) -> None:
        """The sender streams elsewhere now: its backups here go (only its own: the store drops
        the backups whose owner is the sender, delivered by its older streams). Our predecessor
        streams to us, so its backups here are the copies of its acknowledged writes: a drop from
        it is refused without an answer (a lie, a bug, or a view of the ring ahead of ours: the
        sender asks again until our views agree). The streams it names as abandoned are taken as
        such all the same (a late batch of one must plant nothing): numbers only go up, and the
        worst a lying owner does with them is restart its own stream."""
        if msg.header.sender == predecessor_of(self.me, self.order, self._alive):
            self.inbound.abandon_older(msg.header.sender, msg.header.incarnation, msg.stream)
            out.append(Rejected(peer=msg.header.sender, what="DropBackups",
                                reason="the sender is this instance's predecessor: its backups stay"))
            return
        self.inbound.drop_stream(msg.header.sender, msg.header.incarnation, msg.stream, self.store)
        out.append(Respond(message=Done(self._header())))

    # ---- adoption (the request side decides; a fenced claimer is ours)

    def _on_claim_reply(self, msg: ClaimReply, now: float, out: list[Effect]) -> None:
        if msg.status is ClaimStatus.FENCED:
            if self.requests.adoptions.claimed_by(msg.claim_id) is not None:
                self._fence(now, out, msg.header.sender, msg.known_incarnation)
            return
        # only a granted copy is taken from a reply (the shell's decoder drops any other record)
        record = msg.record if msg.status is ClaimStatus.GRANTED else None
        answer = ClaimAnswer(msg.status, record, msg.held_version, msg.held_owner)
        self.requests.claim_answered(msg.claim_id, msg.header.sender, answer, now, out)

    def _on_unreachable(self, peer: str, request: Message, now: float, out: list[Effect]) -> None:
        if isinstance(request, Batch):
            if peer == self._successor:
                self.outbound.link_broken(now)
        elif isinstance(request, Claim):
            self.requests.claim_answered(request.claim_id, peer, UNREACHABLE, now, out)
        elif isinstance(request, DropBackups):
            self.outbound.drop_unanswered(peer, now)
        elif isinstance(request, Release):
            self.requests.release_unanswered(peer, request, now)

    # ================================================================ ring changes

    def _declare_dead(self, peer: str, out: list[Effect], now: float, *, left: bool = False) -> None:
        incarnation = self.membership.declare_dead(peer)
        orphans = self.store.orphan_backups_of(peer)
        self.inbound.forget(peer)
        self.requests.adopt_eagerly(orphans)
        if left:
            self.requests.deaths.pop(peer, None)
        else:
            self.requests.deaths[peer] = now
        out.append(PeerDeclaredDead(peer=peer, incarnation=incarnation, orphans=len(orphans), left=left))

    # ---- a clean stop

    def _on_leave(self, msg: Leave, now: float, out: list[Effect]) -> None:
        """The sender stops cleanly (its successor acknowledged all it had): dead now."""
        if not self.membership.is_dead(msg.header.sender):
            self._declare_dead(msg.header.sender, out, now, left=True)
            self._view_maybe_changed(now, out)
        out.append(Respond(message=Done(self._header())))

    def _leave_when_handed_over(self, now: float, out: list[Effect]) -> None:
        """Tell every peer once the successor holds everything (see ring.core.leaving)."""
        r = self.requests
        if (self.outbound.pending_count() or self.outbound.resyncing or len(r.adoptions) or r.eager
                or r.withheld or self.store.count(Role.ORPHAN)):
            return
        peers = tuple(n for n in self.order if n != self.me and not self.membership.is_dead(n))
        self.leaving.tell(peers, self._header(), now, out)

    @property
    def left(self) -> bool:
        """Left was returned: the process may exit."""
        return self.leaving.left

    def _peer_restarted(self, peer: str, old_incarnation: int, out: list[Effect]) -> None:
        """A higher incarnation: the old process is gone (its backups become orphans)."""
        orphans = self.store.orphan_backups_of(peer)
        self.inbound.forget(peer)
        self.requests.adopt_eagerly(orphans)
        if peer == self._successor:
            self._successor_restarted = True  # its copies of ours are gone: resync
        if orphans:
            out.append(PeerDeclaredDead(peer=peer, incarnation=old_incarnation, orphans=len(orphans),
                                        restarted=True))
        out.append(PeerJoined(peer=peer, incarnation=self.membership.incarnation_of(peer)))

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
        out.append(ViewChanged(epoch=self.epoch, alive=alive, successor=successor))
        repoint = successor != self._successor or restarted
        if self._successor is None and successor is not None and self.store.primary_count:
            # back from alone: the other side may have kept primaries of our sessions too (a
            # two-instance ring serves alone on both sides of a split). Serve nothing until our
            # resync is acknowledged: by then the primaries that met have settled which stands
            self.membership.reconciling = True
        elif successor is None:
            self.membership.reconciling = False
        self._successor = successor
        self.requests.place = self._place()
        if repoint:
            self._repoint(now, out)

    def _repoint(self, now: float, out: list[Effect]) -> None:
        primaries = self.store.primaries()
        self.outbound.repoint(self._successor, primaries)
        if self._successor is None:
            self.requests.committed(self.outbound.drain_alone(), replicated=False, now=now, out=out)
        else:
            out.append(ResyncStarted(successor=self._successor, sessions=len(primaries)))

    def _fence(self, now: float, out: list[Effect], fencer: str, known: int = 0) -> None:
        """We were declared dead: drop what others have taken over and rejoin.

        The instance that told us (`fencer`) is alive whatever we believed of it: if we had
        declared it dead too (the two sides of a split), our orphans must be reconciled with it,
        not adopted alone.

        The new incarnation is above the one the peer knows (`known`), so a process restarted with
        a lower incarnation (a wall clock stepped back) rejoins in one step instead of a loop.
        """
        old = self.incarnation
        self.incarnation = max(self.incarnation, known) + 1
        self.requests.place = self._place()
        self.membership.start_over(now, fencer)
        self.membership.reconciling = False  # every copy is an orphan now: nothing of ours to serve
        dropped, kept = self.store.quarantine()
        self.outbound.drain_alone()  # what was in flight is the fenced incarnation's: forgotten
        self.requests.fail_all(out)
        self.requests.adopt_eagerly(kept)
        self.inbound.fenced()
        self.outbound.repoint(self._successor, [])
        out.append(Fenced(old_incarnation=old, new_incarnation=self.incarnation, dropped=dropped, kept=len(kept)))

    # ================================================================ plumbing

    def _flush(self, now: float, out: list[Effect]) -> None:
        if self._successor is None:
            carried = self.outbound.drain_alone()
            if carried:
                self.requests.committed(carried, replicated=False, now=now, out=out)
            return
        batch = self.outbound.take_batch(now)
        if batch is not None:
            out.append(self._send_batch(batch))

    def _publish(self) -> None:
        """Republish the read view for the sessions whose servability may have changed."""
        writes = self.requests.writes
        serving = Serving(lease_until=self.membership.lease_until(self._successor),
                          successor=self._successor or "")
        self.read_view.refresh(serving, self.store.touched | writes.touched, self.requests.servable)
        self.store.touched.clear()
        writes.touched.clear()

    def _send_batch(self, b: OutgoingBatch) -> Send:
        return Send(to=b.to, message=Batch(self._header(), b.stream, b.seq, b.records, b.resync, b.resync_done))

    def _place(self) -> Place:
        return Place(self._header(), self._successor, self._alive)

    def _header(self) -> Header:
        return Header(self.me, self.incarnation)
