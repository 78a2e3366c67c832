"""The request side of an instance: loads and writes of sessions, and the claims they start.

Theory of operation. A load is served at once when this instance holds the session's primary and
its lease is valid; it waits (is *parked*) while a write or an adoption of that session is in
flight or the lease is void, and is retried whenever that may have changed; otherwise it starts a
claim round (ring.core.adoption). A write becomes the session's next record (ring.core.writes) and
goes to the outbound stream; it commits when the successor acknowledges it. Committing an adopted
record finishes its adoption: the old holders are told to release their copies, and the parked
load that started it is answered. The holder's side lives here too: answering other instances'
claims and releases, which depends on the same writes in flight.

Eager adoption (redundancy restored without waiting for users, DESIGN 8). Every orphan this
instance holds (the backups of a peer declared dead, or everything it kept when it was itself
fenced) is adopted by a claim round of its own, for no request, at most `EAGER_ROUNDS` at a time:
the same protocol as a request's adoption, so the newest copy in the ring wins and the stale ones
are released. A live primary does not hand its session over to such a round; if a live owner
holds the session at our version or newer, ours was stale and is dropped (YIELD). Once adopted,
an orphan is an ordinary primary with a backup on our successor.

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
from ring.core.store import ADOPTABLE, Copy, Role, SessionStore
from ring.core.topology import discovery_candidates, successor_of
from ring.core.writes import AdoptToken, Token, Writes, WriteToken, next_record

EAGER_ROUNDS = 1024  # eager claim rounds in progress at once (the rest wait their turn)


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
        # Releases not yet confirmed: (holder, session) -> (version, when to send again). A lost
        # one would leave a stale copy behind for good (and a stale orphan when its owner dies)
        self.releases: dict[tuple[str, str], tuple[int, float]] = {}
        # committed writes whose answer waits for a valid lease (no majority when they committed)
        self.withheld: list[WriteCommitted] = []
        self.eager: dict[str, None] = {}  # orphans to adopt eagerly, in order (an ordered set)
        self.handed: dict[str, float] = {}  # primaries granted to a claimer -> when the promise lapses
        self.deaths: dict[str, float] = {}  # peer declared dead (not a clean stop) -> when
        self._eager_rounds = 0
        self._yielded: set[str] = set()  # primaries that yielded at a split's heal, writes on their way

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
        # every round asks the candidates alive then (_claim_round): one declared dead now may be
        # back before the round decides, and must be asked then (_decide)
        candidates = discovery_candidates(self.me, self.order, req.hint_primary, req.hint_backup,
                                          self.settings.max_discovery_hops)
        a = self.adoptions.start(req.request_id, sid, candidates, deadline)
        a.hints = tuple(h for h in (req.hint_primary, req.hint_backup) if h)
        self._claim_round(a, now, out)

    def _hinted_unreachable(self, a: adopt.PendingAdoption, now: float) -> bool:
        """Both holders the locator names are cut off (declared dead here): the other side of a
        split may hold the session; one of them alive (or us) and holding nothing means it is gone
        for real. Asked when the round decides, not when it starts: a holder declared dead while
        the round waited for its answer is as cut off as one declared before."""
        return bool(a.hints) and all(h != self.me and self._unreachable_holder(h, now) for h in a.hints)

    def _unreachable_holder(self, name: str, now: float) -> bool:
        """`name` was declared dead (not a clean stop) recently enough that copies it held may
        still be alive behind a cut: within a session timeout, every copy there may be valid."""
        since = self.deaths.get(name)
        return since is not None and self.membership.is_dead(name) and now - since < self.settings.session_timeout

    def retry_parked(self, now: float, out: list[Effect]) -> None:
        self.answer_withheld(now, out)
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

    def adopt_eagerly(self, session_ids: list[str]) -> None:
        """These orphans are to be adopted without waiting for their users (see the docstring)."""
        for sid in session_ids:
            self.eager[sid] = None

    def _start_eager(self, now: float, out: list[Effect]) -> None:
        for sid in list(self.eager):
            if self._eager_rounds >= EAGER_ROUNDS:
                return
            del self.eager[sid]
            held = self.store.get(sid)
            if held is None or held.role not in ADOPTABLE or self.adoptions.adopting(sid):
                continue  # gone, adopted or being adopted meanwhile (a request will see to it)
            candidates = [n for n in self.order if n != self.me]
            self._eager_rounds += 1
            self._claim_round(self.adoptions.start(None, sid, candidates, now + self.settings.request_timeout),
                              now, out)

    def _reclaim_handed_over(self, now: float) -> None:
        for sid, until in list(self.handed.items()):
            held = self.store.get(sid)
            if held is None or held.role is not Role.HANDED_OVER:
                del self.handed[sid]  # released, or taken back
            elif now >= max(until, held.granted_until):
                del self.handed[sid]
                self.eager[sid] = None

    def _eager_done(self, a: adopt.PendingAdoption) -> None:
        if a.request_id is None:
            self._eager_rounds -= 1

    def tick(self, now: float, out: list[Effect]) -> None:
        for token in self.writes.overdue(now):
            out.append(WriteFailed(request_id=token.request_id, reason=FailureReason.TIMED_OUT))
        self.withheld = [c for c in self.withheld if self.writes.waiting(WriteToken(c.request_id))]
        for due, a in self.adoptions.due(now, self.membership.is_dead):
            if due is adopt.Due.EXPIRED:
                self._give_up(a)
                self._eager_done(a)
                if a.request_id is None:
                    self.eager[a.session_id] = None  # not settled yet: another round, later
                else:
                    out.append(LoadFailed(request_id=a.request_id, reason=FailureReason.NO_COPY_REACHABLE))
            elif due is adopt.Due.CLAIM_AGAIN:
                self._claim_round(a, now, out)
            else:
                self._decide(a, now, out)
        self._resend_releases(now, out)
        self._reclaim_handed_over(now)
        self._start_eager(now, out)
        self.retry_parked(now, out)

    def claim_answered(self, claim_id: int, peer: str, answer: adopt.ClaimAnswer, now: float,
                       out: list[Effect]) -> None:
        """A candidate's answer to a claim (or its silence: adopt.UNREACHABLE)."""
        complete = self.adoptions.answered(claim_id, peer, answer)
        if complete is not None:
            self._decide(complete, now, out)

    def _claim_round(self, a: adopt.PendingAdoption, now: float, out: list[Effect]) -> None:
        asked = [c for c in a.candidates if not self.membership.is_dead(c)]
        eager = a.eager
        self.adoptions.begin_round(a, asked, self._grant(a.session_id, self.me, now, eager=eager), now)
        for peer in asked:
            out.append(Send(to=peer, message=wire.Claim(self.place.header, a.session_id, a.claim_id, eager)))
        if a.complete():
            self._decide(a, now, out)

    def _decide(self, a: adopt.PendingAdoption, now: float, out: list[Effect]) -> None:
        if a.local is not None and a.local.status is wire.ClaimStatus.GRANTED:
            ours = self.store.get(a.session_id)
            if ours is None or ours.granted_to != self.me:
                self.adoptions.retry_later(a, now)  # our own copy was taken over meanwhile
                return
        if any(c not in a.asked and not self.membership.is_dead(c) for c in a.candidates):
            # a candidate came back (a rejoin, a heal) after this round asked the others: its copy
            # may be the newest, and a hinted holder alive but not asked is no sign of a session
            # gone. Ask again, with it
            self._claim_round(a, now, out)
            return
        d = self.adoptions.decide(a, self.membership.is_dead, self.me)
        if d.verdict is adopt.Verdict.RETRY:
            self.adoptions.retry_later(a, now)
        elif d.verdict is adopt.Verdict.INSIST:
            a.insisting = True
            self.adoptions.retry_later(a, now)
        elif d.verdict in (adopt.Verdict.ADOPT, adopt.Verdict.GONE):
            # a tombstone is adopted like a session: it moves here with a second copy, and the
            # stale copies are released, but it never vanishes before it expires
            assert d.best is not None
            record = replace(d.best, owner=self.me, version=d.top_version + 1,
                             last_access=self.session_time(now))
            self.adoptions.committing(a, d)
            self._begin_write(AdoptToken(a.claim_id), record, out)
        elif d.verdict is adopt.Verdict.YIELD:
            self._give_up(a)
            self._eager_done(a)
            held = self.store.get(a.session_id)
            if held is not None and held.role in ADOPTABLE and held.version <= d.top_version:
                self.store.remove(a.session_id)  # stale: a live owner has it
        else:
            self._give_up(a)
            self._eager_done(a)
            if a.request_id is not None and self._hinted_unreachable(a, now):
                # nobody reachable holds it, but its locator names an instance declared dead: the
                # other side of a split may hold it. A new empty session would be a reset now and
                # a fork at the heal: unavailable instead (the client retries; README)
                out.append(LoadFailed(request_id=a.request_id, reason=FailureReason.NO_COPY_REACHABLE))
            elif a.request_id is not None:
                self._loaded(a.request_id, None, out)

    def _give_up(self, a: adopt.PendingAdoption) -> None:
        """The round ends without adopting: our own copy is no longer promised to ourselves (a
        promise left behind would stall every other claimer until it lapses)."""
        self.adoptions.finish(a)
        held = self.store.get(a.session_id)
        if held is not None and held.granted_to == self.me and held.role is not Role.PRIMARY:
            self.store.put(replace(held, granted_to="", granted_until=0.0, weak=False))
        if a.request_id is not None and held is not None and held.role is Role.ORPHAN:
            # the eager adoption skipped this orphan while a request's round had it: the round
            # ends without adopting (expired, say), so the orphan goes back to the eager queue,
            # or it stays a single copy until its user returns
            self.eager[a.session_id] = None

    def _release(self, session_id: str, d: adopt.Decision, now: float, out: list[Effect]) -> None:
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
                self.releases[(peer, session_id)] = (d.top_version, now + self.settings.failure_timeout)
                out.append(Send(to=peer, message=wire.Release(self.place.header, session_id, d.top_version)))

    def _resend_releases(self, now: float, out: list[Effect]) -> None:
        for (peer, sid), (version, due) in list(self.releases.items()):
            if self.membership.is_dead(peer):
                del self.releases[(peer, sid)]  # its copies became orphans, or died with it
            elif now >= due:
                self.releases[(peer, sid)] = (version, now + self.settings.failure_timeout)
                out.append(Send(to=peer, message=wire.Release(self.place.header, sid, version)))

    def release_confirmed(self, peer: str, release: wire.Release) -> None:
        key = (peer, release.session_id)
        if self.releases.get(key, (-1, 0.0))[0] == release.version:
            del self.releases[key]

    def release_unanswered(self, peer: str, release: wire.Release, now: float) -> None:
        """The call failed (refused, or no answer in time): send it again soon."""
        key = (peer, release.session_id)
        if self.releases.get(key, (-1, 0.0))[0] == release.version:
            self.releases[key] = (release.version, now + self.settings.retry_interval)

    # ================================================================ claims and releases (the holder)

    def on_claim(self, msg: wire.Claim, now: float, out: list[Effect]) -> None:
        held = self.store.get(msg.session_id)
        # a promise made to an eager round gives way to a request's round, or to an eager round
        # ranked before the one it was made to (which then finds a copy gone and does not adopt:
        # every eager round asks every member, so the promisee's own copy is always in play)
        take_over = held is not None and held.weak and (
            not msg.eager or self._eager_rank(msg.header.sender) < self._eager_rank(held.granted_to))
        answer = self._grant(msg.session_id, msg.header.sender, now, eager=msg.eager, may_take_over=take_over)
        assert answer.status is not None
        reply = wire.ClaimReply(self.place.header, msg.session_id, msg.claim_id, answer.status, answer.record,
                                held_version=answer.version, held_owner=answer.owner)
        out.append(Respond(message=reply))

    def _eager_rank(self, claimer: str) -> int:
        """Who goes first when eager rounds contend: the earlier in server.xml order. Every
        instance must rank the same way whatever copy it holds (a rank drawn from each one's own
        copy, say its owner, can make two instances each yield to the other forever)."""
        return self.order.index(claimer) if claimer in self.order else len(self.order)

    def _grant(self, session_id: str, claimer: str, now: float, *, eager: bool = False,
               may_take_over: bool = False) -> adopt.ClaimAnswer:
        """Answer a claim of our copy (the record only if granted), and keep what is left of it."""
        held = self.store.get(session_id)
        granted = adopt.grant(
            held, claimer, now, busy=self.writes.writing(session_id) or self.outbound.carries(session_id),
            owner_dead=held is not None and self.membership.is_dead(held.record.owner),
            promise_until=now + self.settings.request_timeout, eager=eager, may_take_over=may_take_over,
            weak=eager)
        if granted.keep is not None:
            if held is not None and held.role is Role.PRIMARY:
                self.outbound.forget_resync(session_id)  # no longer ours to resync
                # if the claimer never adopts it (it died first), ours is the only copy: once the
                # promise lapses an eager round finds out (the adopter answers, or we adopt it back)
                self.handed[session_id] = granted.keep.granted_until
            self.store.put(granted.keep)
        return granted.answer

    def on_release(self, msg: wire.Release, out: list[Effect]) -> None:
        held = self.store.get(msg.session_id)
        if held is not None and held.role is not Role.PRIMARY and held.version <= msg.version:
            self.store.remove(msg.session_id)
        out.append(Respond(message=wire.Done(self.place.header)))

    # ================================================================ writes

    def write(self, req: WriteRequested, now: float, out: list[Effect]) -> None:
        sid = req.session_id
        if self.outbound.pending_count() >= self.settings.max_pending_writes:
            out.append(WriteFailed(request_id=req.request_id, reason=FailureReason.OVERLOADED))
            return
        if sid in self._yielded:
            out.append(WriteFailed(request_id=req.request_id, reason=FailureReason.MOVED))
            return
        held = self.store.get(sid)
        if (req.base_version == 0 and held is None and self.writes.latest(sid) is None
                and self.store.primary_count >= self.settings.max_sessions):
            # a new session beyond max-sessions (adoptions and backups never come this way: they are
            # not refused). Creates still on their way may pass it by at most max-pending-writes
            out.append(WriteFailed(request_id=req.request_id, reason=FailureReason.TOO_MANY_SESSIONS))
            return
        record = next_record(
            req, held, self.writes.latest(sid), owner=self.me,
            session_now=self.session_time(now), max_inactive=self.settings.session_timeout,
            max_size=self.settings.max_session_size)
        if isinstance(record, FailureReason):
            out.append(WriteFailed(request_id=req.request_id, reason=record))
            return
        token = WriteToken(req.request_id)
        self.writes.expect(token, now + self.settings.request_timeout)
        self._begin_write(token, record, out)

    def _begin_write(self, token: Token, record: wire.SessionRecord, out: list[Effect]) -> None:
        self.writes.begin(record)
        if self.settings.async_replication and isinstance(token, WriteToken):
            # respond now; the record still travels to the successor (weaker, documented)
            self.store.put(Copy(record, Role.PRIMARY))
            self.outbound.enqueue(None, record)
            self.writes.settle(record)
            self.writes.answered(token)
            successor = self.place.successor
            out.append(WriteCommitted(request_id=token.request_id, version=record.version, primary=self.me,
                                      backup=successor or "", replicated=successor is not None))
            return
        self.outbound.enqueue(token, record)

    def refused(self, carried: list[Carried], sessions: set[str], now: float, out: list[Effect]) -> list[Carried]:
        """The successor refused the records of `sessions`: it keeps a primary of each that stands
        over ours (the two sides of a split each kept one). Those writes fail; an adoption among
        them ends without adopting (a parked load asks again); our copy yields, unless a newer
        record of ours is still on its way (the successor weighs that one when it arrives).
        Returns the carried records that were not refused."""
        kept: list[Carried] = []
        for token, record in carried:
            sid = record.session_id
            if sid not in sessions:
                kept.append((token, record))
                continue
            if token is not None:
                self.writes.settle(record)
            if isinstance(token, WriteToken) and self.writes.waiting(token):
                self.writes.answered(token)
                out.append(WriteFailed(request_id=token.request_id, reason=FailureReason.MOVED))
            elif isinstance(token, AdoptToken):
                done = self.adoptions.committed(token.claim_id)
                if done is not None:
                    a, _ = done
                    self._give_up(a)
                    self._eager_done(a)
                    if a.request_id is not None:
                        self.load(LoadRequested(request_id=a.request_id, session_id=sid), now, out, a.deadline)
            if self.writes.latest(sid) is None:
                self._yielded.discard(sid)
                held = self.store.get(sid)
                if held is not None and held.role is Role.PRIMARY:
                    self.store.remove(sid)
        return kept

    def yielded(self, sessions: list[str]) -> None:
        """Our primaries of `sessions` yielded to others that stand (a split's heal): the writes
        of them still on their way must not commit, and no new one may start."""
        self._yielded.update(sid for sid in sessions if self.writes.latest(sid) is not None)

    def committed(self, carried: list[Carried], replicated: bool, now: float, out: list[Effect]) -> None:
        """These records reached the successor (or, `replicated` False, no successor is left)."""
        for token, record in carried:
            if token is None:
                continue
            if record.session_id in self._yielded:
                # our primary yielded to another that stands (a split's heal) while this record
                # travelled: the session is that instance's now, and this write did not happen
                self.refused([(token, record)], {record.session_id}, now, out)
                continue
            held = self.store.get(record.session_id)
            if held is None or held.version < record.version or held.role is not Role.PRIMARY:
                self.store.put(Copy(record, Role.PRIMARY))
            self.writes.settle(record, replicated=replicated)
            if isinstance(token, WriteToken):
                if self.writes.waiting(token):  # not told it timed out
                    self.withheld.append(WriteCommitted(
                        request_id=token.request_id, version=record.version, primary=self.me,
                        backup=self.place.successor or "", replicated=replicated))
                continue
            done = self.adoptions.committed(token.claim_id)
            if done is None:
                continue
            a, d = done
            self._release(record.session_id, d, now, out)
            out.append(Adopted(session_id=record.session_id, from_peer=d.best_from or self.me,
                               version=record.version))
            self._eager_done(a)
            if a.request_id is not None:
                # answered as a load of our own primary now: it waits for the lease like any other
                self.load(LoadRequested(request_id=a.request_id, session_id=record.session_id), now, out,
                          a.deadline)
        self._start_eager(now, out)  # the rounds that ended make room for the next, now, not at the tick
        self.retry_parked(now, out)

    def answer_withheld(self, now: float, out: list[Effect]) -> None:
        """Acknowledge committed writes once this instance may serve: with a majority behind it,
        nobody can have adopted the session elsewhere, so the heal of a partition keeps them."""
        if not self.withheld or not self.membership.lease_valid(self.place.successor, now):
            return
        for committed in self.withheld:
            token = WriteToken(committed.request_id)
            if self.writes.waiting(token):
                self.writes.answered(token)
                out.append(committed)
        self.withheld.clear()

    # ================================================================ fencing

    def fail_all(self, out: list[Effect]) -> None:
        """This instance was declared dead: every request in progress fails (the client retries)."""
        # every client still waiting: writes queued, in flight, or committed but withheld (their
        # answer waited for a lease that will not come back under this incarnation)
        for token in self.writes.clear():
            out.append(WriteFailed(request_id=token.request_id, reason=FailureReason.FENCED))
        self.withheld.clear()
        for a in self.adoptions.abandon_all():
            if a.request_id is not None:
                out.append(LoadFailed(request_id=a.request_id, reason=FailureReason.FENCED))
        self.eager.clear()
        self._eager_rounds = 0
        for p in self.parked:
            out.append(LoadFailed(request_id=p.request.request_id, reason=FailureReason.FENCED))
        self.parked.clear()
        self.releases.clear()  # answers to the old incarnation are ignored: they would repeat forever
        self.handed.clear()  # fenced: what it handed over is dropped (store.quarantine)
        self._yielded.clear()
