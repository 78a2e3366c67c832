"""Adoption: moving a session's ownership to the instance serving a request for it.

Theory of operation (DESIGN.md 4.3). Instance X needs session S and is not its primary. It sends
a Claim to the candidates (the locator's primary and backup, then the ring onward, bounded by
max hops; instances it believes dead are skipped) and considers its own copy. Holders answer
(`grant`, a decision table):

    GRANTED        a primary, orphan or handed-over copy; the holder stops serving it and promises
                   it to X for request_timeout (others get BUSY meanwhile)
    NOT_AUTHORITY  a backup whose owner is alive: only the owner may hand it over
                   (an eager claim gets it from a live primary too)
    BUSY           a write in flight for S, or promised to another claimer
    NOT_FOUND      no copy

Only a GRANTED answer carries the session's record (its data): a claim never reads a copy out of
an instance that does not hand it over. NOT_AUTHORITY says only which version, of which owner, the
holder keeps, which is all `decide` needs of it.

When every candidate answered (or failed), X decides with `decide()`: the newest granted copy
wins if no answer reports anything newer, nobody is busy and no live candidate stayed silent; a
tombstone means "invalidated"; nothing anywhere means a new session; anything else is retried
until the request deadline. X then makes S its primary (a tombstone too: a logout is adopted like
a session, so it is never erased before it expires) at a version above every version seen,
replicates it to its own successor, and only after that acknowledgement releases every other
copy, resending each Release until its holder confirms.

`Adoptions` is the claimer's bookkeeping: one `PendingAdoption` per claim round in progress, and
the decision each adoption commits. It decides nothing about the ring; the node asks it what is
due and acts (sends the claims, writes the adopted record, answers the request).
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ring.core.messages import ClaimStatus, SessionRecord
from ring.core.store import ADOPTABLE, Copy, Role


class Due(enum.Enum):
    """What an adoption in progress needs now (Adoptions.due)."""

    EXPIRED = "expired"  # past its request's deadline: fail the load
    CLAIM_AGAIN = "claim again"  # its retry pause is over: a new claim round
    DECIDE = "decide"  # complete, now that the silent candidates were given up


class Verdict(enum.Enum):
    ADOPT = "adopt"  # take `best`
    GONE = "gone"  # invalidated (newest copy is a tombstone)
    NEW = "new"  # the cluster holds no copy
    RETRY = "retry"  # undecided: busy holder, newer non-authoritative copy, or silence
    YIELD = "yield"  # eager only: a live owner holds it at our version or newer; drop ours
    INSIST = "insist"  # eager only: a live owner holds an older version: claim as a request does


@dataclass(slots=True)
class ClaimAnswer:
    status: ClaimStatus | None  # None: unreachable
    record: SessionRecord | None = None  # GRANTED: the copy handed over
    version: int = 0  # NOT_AUTHORITY: the version of the copy the holder keeps
    owner: str = ""  # NOT_AUTHORITY: that copy's owner

    @property
    def held(self) -> tuple[int, str] | None:
        """(version, owner) of the copy the answer reports, if any."""
        if self.record is not None:
            return self.record.version, self.record.owner
        return (self.version, self.owner) if self.version > 0 else None


UNREACHABLE = ClaimAnswer(None)


@dataclass(slots=True)
class PendingAdoption:
    request_id: int | None  # None: an eager adoption (an orphan we hold, for no request)
    session_id: str
    candidates: list[str]
    claim_id: int
    deadline: float
    answers: dict[str, ClaimAnswer] = field(default_factory=dict)
    local: ClaimAnswer | None = None
    retry_at: float | None = None  # set while waiting to claim again
    committing: bool = False  # the adopted version is on its way to our successor
    insisting: bool = False  # an eager round that claims as a request's round does (INSIST)
    hints: tuple[str, ...] = ()  # the holders the request's locator names (judged at the decision)
    round_started: float = 0.0
    asked: list[str] = field(default_factory=list)  # this round's candidates (the live ones)

    def complete(self) -> bool:
        return all(c in self.answers for c in self.asked)

    @property
    def eager(self) -> bool:
        """Claims for no request, that give way to requests and leave live primaries alone."""
        return self.request_id is None and not self.insisting

    @property
    def listening(self) -> bool:
        """Answers to this round's claims still count (not committing, not waiting to retry)."""
        return not self.committing and self.retry_at is None


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    best: SessionRecord | None = None
    best_from: str = ""
    top_version: int = 0
    holders: tuple[str, ...] = ()  # peers that reported a copy: released after the commit


def decide(answers: dict[str, ClaimAnswer], alive_unanswered: bool, *, eager: bool = False,
           me: str = "") -> Decision:
    """Choose from complete answers (the key "" is this instance's own copy).

    `eager`: the round adopts an orphan of ours for no request. A live owner's copy
    (NOT_AUTHORITY, which a live primary answers to an eager claim, and a backup of a live owner
    other than `me`, the claimer) at our best version or newer
    means ours is stale: YIELD, drop it, and leave the session where it lives. An older one
    (both sides of a split wrote while each was alone) is not adopted over, which would leave
    it writable too: INSIST, and the round claims again as a request's round (the live primary
    then hands it over, and the newest copy wins as in every adoption).
    """
    granted = [(p, a.record) for p, a in answers.items() if a.status is ClaimStatus.GRANTED and a.record]
    others = [h for a in answers.values() if a.status is ClaimStatus.NOT_AUTHORITY and (h := a.held)]
    busy = any(a.status is ClaimStatus.BUSY for a in answers.values())
    holders = tuple(
        p for p, a in answers.items()
        if p and ((a.status is ClaimStatus.GRANTED and a.record is not None)
                  or (a.status is ClaimStatus.NOT_AUTHORITY and a.held is not None))
    )
    top = max([r.version for _, r in granted] + [version for version, _ in others], default=0)
    if alive_unanswered:
        # a live candidate that did not answer may hold the newest copy (a partial partition):
        # deciding without it could adopt an older one and leave two writable copies
        return Decision(Verdict.RETRY, top_version=top)
    # a backup also answers NOT_AUTHORITY (its owner is alive), and that owner may be the claimer
    # itself, taking back a copy it handed over: that is no live owner to yield to
    owned = [version for version, owner in others if not me or owner != me]
    if eager and owned:
        if max(owned) >= max((r.version for _, r in granted), default=0):
            return Decision(Verdict.YIELD, top_version=top)
        return Decision(Verdict.INSIST, top_version=top)
    if granted:
        best_from, best = max(granted, key=lambda pr: pr[1].version)
        if busy or best.version < top:
            return Decision(Verdict.RETRY, top_version=top)
        verdict = Verdict.GONE if best.deleted else Verdict.ADOPT
        return Decision(verdict, best, best_from, top, holders)
    if busy or others:
        return Decision(Verdict.RETRY, top_version=top)
    return Decision(Verdict.NEW)


@dataclass(frozen=True, slots=True)
class Grant:
    """The holder's answer to a claim, and the copy it keeps afterwards (None: unchanged)."""

    status: ClaimStatus
    record: SessionRecord | None = None  # GRANTED only
    keep: Copy | None = None

    @property
    def answer(self) -> ClaimAnswer:
        """What the claimer is told: the record when granted, else at most its version and owner."""
        if self.status is ClaimStatus.GRANTED:
            return ClaimAnswer(self.status, self.record)
        if self.status is ClaimStatus.NOT_AUTHORITY and self.record is not None:
            return ClaimAnswer(self.status, None, self.record.version, self.record.owner)
        return ClaimAnswer(self.status)


def grant(held: Copy | None, claimer: str, now: float, *, busy: bool, owner_dead: bool,
          promise_until: float, eager: bool = False, may_take_over: bool = False,
          weak: bool = False) -> Grant:
    """The holder's side of a claim, as a table over the copy it holds.

    `busy`: a write of the session is in flight here, or a record of it is on its way to our
    successor (once it lands there it is a backup the claimer must see and release). A granted
    primary becomes HANDED_OVER; every granted copy is promised to `claimer` until `promise_until`.
    `eager`: the claimer adopts an orphan for no request; a primary is not handed over for that.
    A promise to an eager round is `weak`: a claimer that `may_take_over` (a request's round, or an
    eager one ranked before the promisee) gets the copy anyway, which breaks the ties of eager
    rounds that would otherwise wait for each other forever; the round that lost its own copy
    does not adopt.
    """
    if busy:
        return Grant(ClaimStatus.BUSY)
    if held is None:
        return Grant(ClaimStatus.NOT_FOUND)
    if eager and held.role is Role.PRIMARY:
        return Grant(ClaimStatus.NOT_AUTHORITY, held.record)
    if held.role is Role.BACKUP:
        if not owner_dead:
            return Grant(ClaimStatus.NOT_AUTHORITY, held.record)
        held = Copy(held.record, Role.ORPHAN)  # the owner died before we noticed: an orphan
    promised = held.role in ADOPTABLE and held.granted_to not in ("", claimer) and held.granted_until > now
    if promised and not (held.weak and may_take_over):
        return Grant(ClaimStatus.BUSY, held.record)
    role = Role.HANDED_OVER if held.role is Role.PRIMARY else held.role
    kept = Copy(held.record, role, granted_to=claimer, granted_until=promise_until, weak=weak)
    return Grant(ClaimStatus.GRANTED, held.record, kept)


class Adoptions:
    """The claim rounds this instance runs, and the decisions they commit (by claim id)."""

    def __init__(self, *, retry_interval: float, answer_timeout: float) -> None:
        self.retry_interval = retry_interval
        self.answer_timeout = answer_timeout  # a candidate silent this long is not waited for
        self._rounds: dict[int, PendingAdoption] = {}
        self._by_session: Counter[str] = Counter()  # session id -> rounds in progress for it
        self._plans: dict[int, Decision] = {}
        self._claims = 0

    def __len__(self) -> int:
        return len(self._rounds)

    def adopting(self, session_id: str) -> bool:
        return self._by_session[session_id] > 0

    def _drop(self, claim_id: int) -> PendingAdoption | None:
        a = self._rounds.pop(claim_id, None)
        if a is not None:
            left = self._by_session[a.session_id] - 1
            if left > 0:
                self._by_session[a.session_id] = left
            else:
                self._by_session.pop(a.session_id, None)
        return a

    def start(self, request_id: int | None, session_id: str, candidates: list[str], deadline: float
              ) -> PendingAdoption:
        self._claims += 1
        a = PendingAdoption(request_id, session_id, candidates, self._claims, deadline)
        self._rounds[a.claim_id] = a
        self._by_session[session_id] += 1
        return a

    def begin_round(self, a: PendingAdoption, asked: list[str], local: ClaimAnswer, now: float) -> None:
        a.retry_at = None
        a.answers.clear()
        a.round_started = now
        a.asked = asked
        a.local = local

    def answered(self, claim_id: int, peer: str, answer: ClaimAnswer) -> PendingAdoption | None:
        """Record a candidate's answer (or its silence); the adoption when its round is complete."""
        a = self._rounds.get(claim_id)
        if a is None or not a.listening or peer not in a.asked:
            return None
        a.answers[peer] = answer
        return a if a.complete() else None

    def claimed_by(self, claim_id: int) -> PendingAdoption | None:
        return self._rounds.get(claim_id)

    def due(self, now: float, is_dead: Callable[[str], bool]) -> list[tuple[Due, PendingAdoption]]:
        """The adoptions that need something now, in the order they started."""
        due: list[tuple[Due, PendingAdoption]] = []
        for a in list(self._rounds.values()):
            if a.committing:
                continue
            if now >= a.deadline:
                due.append((Due.EXPIRED, a))
            elif a.retry_at is not None:
                if now >= a.retry_at:
                    due.append((Due.CLAIM_AGAIN, a))
            elif not a.complete():
                # a candidate that died meanwhile, or is silent for a failure timeout, will not
                # answer: decide without it (and claim again if its copy may matter)
                overdue = now - a.round_started >= self.answer_timeout
                for peer in a.asked:
                    if peer not in a.answers and (overdue or is_dead(peer)):
                        a.answers[peer] = UNREACHABLE
                if a.complete():
                    due.append((Due.DECIDE, a))
        return due

    def decide(self, a: PendingAdoption, is_dead: Callable[[str], bool], me: str = "") -> Decision:
        answers = dict(a.answers)
        if a.local is not None:
            answers[""] = a.local
        unanswered = any(ans.status is None and not is_dead(p) for p, ans in a.answers.items())
        return decide(answers, unanswered, eager=a.eager, me=me)

    def retry_later(self, a: PendingAdoption, now: float) -> None:
        a.retry_at = now + self.retry_interval

    def finish(self, a: PendingAdoption) -> None:
        self._drop(a.claim_id)

    def committing(self, a: PendingAdoption, decision: Decision) -> None:
        a.committing = True
        self._plans[a.claim_id] = decision

    def committed(self, claim_id: int) -> tuple[PendingAdoption, Decision] | None:
        """The adopted record of `claim_id` was replicated: its adoption and decision, done."""
        decision = self._plans.pop(claim_id, None)
        a = self._drop(claim_id)
        if decision is None or a is None:
            return None
        return a, decision

    def abandon_all(self) -> list[PendingAdoption]:
        """Every adoption in progress, forgotten (this instance was fenced)."""
        abandoned = list(self._rounds.values())
        self._rounds.clear()
        self._by_session.clear()
        self._plans.clear()
        return abandoned
