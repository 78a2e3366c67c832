"""Adoption: moving a session's ownership to the instance serving a request for it.

Theory of operation (DESIGN.md 4.3). Instance X needs session S and is not its primary. It sends
a Claim to the candidates (the locator's primary and backup, then the ring onward, bounded by
max hops; instances it believes dead are skipped) and considers its own copy. Holders answer:

    GRANTED        a primary, orphan or handed-over copy; the holder stops serving it and promises
                   it to X for request_timeout (others get BUSY meanwhile)
    NOT_AUTHORITY  a backup whose owner is alive: only the owner may hand it over
    BUSY           a write in flight for S, or promised to another claimer
    NOT_FOUND      no copy

When every candidate answered (or failed), X decides with `decide()`: the newest granted copy
wins if no answer reports anything newer and nobody is busy; a tombstone means "invalidated";
nothing anywhere means a new session; anything else is retried until the request deadline.
X then makes S its primary at a version above every version seen, replicates it to its own
successor, and only after that acknowledgement releases every other copy.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ring.core.messages import ClaimStatus, SessionRecord


class Verdict(enum.Enum):
    ADOPT = "adopt"  # take `best`
    GONE = "gone"  # invalidated (newest copy is a tombstone)
    NEW = "new"  # the cluster holds no copy
    RETRY = "retry"  # undecided: busy holder, newer non-authoritative copy, or silence


@dataclass(slots=True)
class ClaimAnswer:
    status: ClaimStatus | None  # None: unreachable
    record: SessionRecord | None = None


@dataclass(slots=True)
class PendingAdoption:
    request_id: int
    session_id: str
    candidates: list[str]
    claim_id: int
    deadline: float
    answers: dict[str, ClaimAnswer] = field(default_factory=dict)
    local: ClaimAnswer | None = None
    retry_at: float | None = None  # set while waiting to claim again
    committing: bool = False  # the adopted version is on its way to our successor
    round_started: float = 0.0
    asked: list[str] = field(default_factory=list)  # this round's candidates (the live ones)

    def complete(self) -> bool:
        return all(c in self.answers for c in self.asked)


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    best: SessionRecord | None = None
    best_from: str = ""
    top_version: int = 0
    holders: tuple[str, ...] = ()  # peers that reported a copy: released after the commit


def decide(answers: dict[str, ClaimAnswer], alive_unanswered: bool) -> Decision:
    """Choose from complete answers (the key "" is this instance's own copy)."""
    granted = [(p, a.record) for p, a in answers.items() if a.status is ClaimStatus.GRANTED and a.record]
    others = [a.record for a in answers.values() if a.status is ClaimStatus.NOT_AUTHORITY and a.record]
    busy = any(a.status is ClaimStatus.BUSY for a in answers.values())
    holders = tuple(
        p for p, a in answers.items()
        if p and a.record is not None and a.status in (ClaimStatus.GRANTED, ClaimStatus.NOT_AUTHORITY)
    )
    top = max([r.version for _, r in granted] + [r.version for r in others], default=0)
    if granted:
        best_from, best = max(granted, key=lambda pr: pr[1].version)
        if busy or best.version < top:
            return Decision(Verdict.RETRY, top_version=top)
        verdict = Verdict.GONE if best.deleted else Verdict.ADOPT
        return Decision(verdict, best, best_from, top, holders)
    if busy or others or alive_unanswered:
        return Decision(Verdict.RETRY, top_version=top)
    return Decision(Verdict.NEW)
