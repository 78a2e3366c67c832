"""The request side of an instance: loads and writes of sessions, and the claims they start.

Theory of operation. A load is served at once when this instance holds the session's primary and
its lease is valid; it waits (is *parked*) while a write or an adoption of that session is in
flight or the lease is void, and is retried whenever that may have changed; otherwise it starts a
claim round (ring.core.adoption). A write becomes the session's next record (ring.core.writes) and
goes to the outbound stream; it commits when the successor acknowledges it. Committing an adopted
record finishes its adoption: the old holders are told to release their copies, and the parked
load that started it is answered. The holder's side lives here too: answering other instances'
claims and releases, which depends on the same writes in flight.

`Requests` borrows the store, the failure detector (read only) and the outbound stream from the
node that owns them, and never calls back into it. What it must know of the ring (this
instance's header, its successor, who is alive) the node pushes as a `Place` whenever it changes.
A claim answered FENCED is the node's business (it fences); everything else about a request is
decided here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ring.core import adoption as adopt
from ring.core import messages as wire
from ring.core.events import (
    Adopted,
    Effect,
    FailureReason,
    Loaded,
    LoadFailed,
    LoadRequested,
    Respond,
    Send,
    WriteCommitted,
    WriteFailed,
    WriteRequested,
)
from ring.core.membership import Membership
from ring.core.replication import Carried, Outbound
from ring.core.settings import CoreSettings
from ring.core.store import Copy, Role, SessionStore
from ring.core.topology import discovery_candidates, successor_of
from ring.core.writes import AdoptToken, Token, Writes, WriteToken, next_record


@dataclass(frozen=True, slots=True)
class Place:
    """Where this instance stands in the ring, as the request side needs it."""

    header: wire.Header
    successor: str | None
    alive: tuple[str, ...]


@dataclass(slots=True)
class ParkedLoad:
    """A load that waits: for a write or an adoption of its session, or for the lease."""

    request: LoadRequested
    deadline: float


class Requests:
    def __init__(self, me: str, order: tuple[str, ...], settings: CoreSettings, *, place: Place,
                 store: SessionStore, membership: Membership, outbound: Outbound, wall_anchor: float) -> None:
        self.me = me
        self.order = order
        self.settings = settings
        self.place = place
        self.store = store
        self.membership = membership
        self.outbound = outbound
        self.wall_anchor = wall_anchor
        self.writes = Writes()
        self.adoptions = adopt.Adoptions(retry_interval=settings.retry_interval,
                                         answer_timeout=settings.failure_timeout)
        self.parked: list[ParkedLoad] = []

    def session_time(self, now: float) -> float:
        return self.wall_anchor + now

    def servable(self, session_id: str) -> wire.SessionRecord | None:
        """The record a load of `session_id` gets without a step, if any (the read view)."""
        held = self.store.get(session_id)
        if held is None or held.role is not Role.PRIMARY or held.record.deleted or self.writes.writing(session_id):
            return None
        return held.record

    # ================================================================ loads

    def load(self, req: LoadRequested, now: float, out: list[Effect], deadline: float | None = None) -> None:
        deadline = now + self.settings.request_timeout if deadline is None else deadline
        sid = req.session_id
        if self.writes.writing(sid) or self.adoptions.adopting(sid):
            self.parked.append(ParkedLoad(req, deadline))  # a write or adoption of it is in flight
            return
        held = self.store.get(sid)
        if held is not None and held.role is Role.PRIMARY:
            if not self.membership.lease_valid(self.place.successor, now):
                self.parked.append(ParkedLoad(req, deadline))
                return
            self._loaded(req.request_id, None if held.record.deleted else held.record, out)
            return
        candidates = [
            c for c in discovery_candidates(self.me, self.order, req.hint_primary, req.hint_backup,
                                            self.settings.max_discovery_hops)
            if not self.membership.is_dead(c)
        ]
        self._claim_round(self.adoptions.start(req.request_id, sid, candidates, deadline), now, out)

    def retry_parked(self, now: float, out: list[Effect]) -> None:
        if not self.parked:
            return
        parked, self.parked = self.parked, []
        for p in parked:
            if now >= p.deadline:
                out.append(LoadFailed(request_id=p.request.request_id, reason=FailureReason.NOT_SERVABLE))
            else:
                self.load(p.request, now, out, p.deadline)

    def _loaded(self, request_id: int, record: wire.SessionRecord | None, out: list[Effect]) -> None:
        out.append(Loaded(request_id=request_id, record=record, primary=self.me,
                          backup=self.place.successor or ""))

    # ================================================================ claim rounds (the claimer)

    def tick(self, now: float, out: list[Effect]) -> None:
        for due, a in self.adoptions.due(now, self.membership.is_dead):
            if due is adopt.Due.EXPIRED:
                self.adoptions.finish(a)
                out.append(LoadFailed(request_id=a.request_id, reason=FailureReason.NO_COPY_REACHABLE))
            elif due is adopt.Due.CLAIM_AGAIN:
                self._claim_round(a, now, out)
            else:
                self._decide(a, now, out)
        self.retry_parked(now, out)

    def claim_answered(self, claim_id: int, peer: str, answer: adopt.ClaimAnswer, now: float,
                       out: list[Effect]) -> None:
        """A candidate's answer to a claim (or its silence: adopt.UNREACHABLE)."""
        complete = self.adoptions.answered(claim_id, peer, answer)
        if complete is not None:
            self._decide(complete, now, out)

    def _claim_round(self, a: adopt.PendingAdoption, now: float, out: list[Effect]) -> None:
        asked = [c for c in a.candidates if not self.membership.is_dead(c)]
        status, record = self._grant(a.session_id, self.me, now)
        self.adoptions.begin_round(a, asked, adopt.ClaimAnswer(status, record), now)
        for peer in asked:
            out.append(Send(to=peer, message=wire.Claim(self.place.header, a.session_id, a.claim_id)))
        if a.complete():
            self._decide(a, now, out)

    def _decide(self, a: adopt.PendingAdoption, now: float, out: list[Effect]) -> None:
        d = self.adoptions.decide(a, self.membership.is_dead)
        if d.verdict is adopt.Verdict.RETRY:
            self.adoptions.retry_later(a, now)
        elif d.verdict is adopt.Verdict.ADOPT:
            assert d.best is not None
            record = replace(d.best, owner=self.me, version=d.top_version + 1,
                             last_access=self.session_time(now))
            self.adoptions.committing(a, d)
            self._begin_write(AdoptToken(a.claim_id), record, out)
        else:
            self.adoptions.finish(a)
            if d.verdict is adopt.Verdict.GONE:
                self._release(a.session_id, d, out)
                self.store.remove(a.session_id)
            self._loaded(a.request_id, None, out)

    def _release(self, session_id: str, d: adopt.Decision, out: list[Effect]) -> None:
        """Tell every other holder to drop its copy (no newer than the versions seen). The
        successor of a primary that handed the session over is told too: its backup may have
        landed there after that instance answered."""
        holders = list(d.holders)
        if d.best is not None and d.best_from and d.best.owner == d.best_from:
            successor = successor_of(d.best_from, self.order, self.place.alive)
            if successor:
                holders.append(successor)
        for peer in dict.fromkeys(holders):
            if peer != self.me:
                out.append(Send(to=peer, message=wire.Release(self.place.header, session_id, d.top_version)))

    # ================================================================ claims and releases (the holder)

    def on_claim(self, msg: wire.Claim, now: float, out: list[Effect]) -> None:
        status, record = self._grant(msg.session_id, msg.header.sender, now)
        reply = wire.ClaimReply(self.place.header, msg.session_id, msg.claim_id, status, record)
        out.append(Respond(message=reply))

    def _grant(self, session_id: str, claimer: str, now: float) -> tuple[wire.ClaimStatus, wire.SessionRecord | None]:
        held = self.store.get(session_id)
        granted = adopt.grant(
            held, claimer, now, busy=self.writes.writing(session_id) or self.outbound.carries(session_id),
            owner_dead=held is not None and self.membership.is_dead(held.record.owner),
            promise_until=now + self.settings.request_timeout)
        if granted.keep is not None:
            if held is not None and held.role is Role.PRIMARY:
                self.outbound.forget_resync(session_id)  # no longer ours to resync
            self.store.put(granted.keep)
        return granted.status, granted.record

    def on_release(self, msg: wire.Release, out: list[Effect]) -> None:
        held = self.store.get(msg.session_id)
        if held is not None and held.role is not Role.PRIMARY and held.version <= msg.version:
            self.store.remove(msg.session_id)
        out.append(Respond(message=wire.Done(self.place.header)))

    # ================================================================ writes

    def write(self, req: WriteRequested, now: float, out: list[Effect]) -> None:
        sid = req.session_id
        record = next_record(
            req, self.store.get(sid), self.writes.latest(sid), owner=self.me,
            session_now=self.session_time(now), max_inactive=self.settings.session_timeout,
            max_size=self.settings.max_session_size)
        if isinstance(record, FailureReason):
            out.append(WriteFailed(request_id=req.request_id, reason=record))
            return
        self._begin_write(WriteToken(req.request_id), record, out)

    def _begin_write(self, token: Token, record: wire.SessionRecord, out: list[Effect]) -> None:
        self.writes.begin(record)
        if self.settings.async_replication and isinstance(token, WriteToken):
            # respond now; the record still travels to the successor (weaker, documented)
            self.store.put(Copy(record, Role.PRIMARY))
            self.outbound.enqueue(None, record)
            self.writes.settle(record)
            successor = self.place.successor
            out.append(WriteCommitted(request_id=token.request_id, version=record.version, primary=self.me,
                                      backup=successor or "", replicated=successor is not None))
            return
        self.outbound.enqueue(token, record)

    def committed(self, carried: list[Carried], replicated: bool, now: float, out: list[Effect]) -> None:
        """These records reached the successor (or, `replicated` False, no successor is left)."""
        for token, record in carried:
            if token is None:
                continue
            held = self.store.get(record.session_id)
            if held is None or held.version < record.version or held.role is not Role.PRIMARY:
                self.store.put(Copy(record, Role.PRIMARY))
            self.writes.settle(record, replicated=replicated)
            if isinstance(token, WriteToken):
                out.append(WriteCommitted(request_id=token.request_id, version=record.version, primary=self.me,
                                          backup=self.place.successor or "", replicated=replicated))
                continue
            done = self.adoptions.committed(token.claim_id)
            if done is None:
                continue
            a, d = done
            self._release(record.session_id, d, out)
            out.append(Adopted(session_id=record.session_id, from_peer=d.best_from or self.me,
                               version=record.version))
            self._loaded(a.request_id, None if record.deleted else record, out)
        self.retry_parked(now, out)

    # ================================================================ fencing

    def fail_all(self, carried: list[Carried], out: list[Effect]) -> None:
        """This instance was declared dead: every request in progress fails (the client retries)."""
        for token, _record in carried:
            if isinstance(token, WriteToken):
                out.append(WriteFailed(request_id=token.request_id, reason=FailureReason.FENCED))
        self.writes.clear()
        for a in self.adoptions.abandon_all():
            out.append(LoadFailed(request_id=a.request_id, reason=FailureReason.FENCED))
        for p in self.parked:
            out.append(LoadFailed(request_id=p.request.request_id, reason=FailureReason.FENCED))
        self.parked.clear()
