"""Adoption's parts alone: the claimer's decision table, the holder's table, the bookkeeping."""

from __future__ import annotations

import pytest

from ring.core.adoption import (
    UNREACHABLE,
    Adoptions,
    ClaimAnswer,
    Due,
    Verdict,
    decide,
    grant,
)
from ring.core.messages import ClaimStatus, SessionRecord
from ring.core.store import Copy, Role

G, NF, NA, B = ClaimStatus.GRANTED, ClaimStatus.NOT_FOUND, ClaimStatus.NOT_AUTHORITY, ClaimStatus.BUSY


def rec(version: int, *, deleted: bool = False, owner: str = "a") -> SessionRecord:
    return SessionRecord("s1", owner, version, 0.0, 1800.0, deleted, b"" if deleted else f"v{version}".encode())


def answers(**by_peer: tuple[ClaimStatus | None, int | None]) -> dict[str, ClaimAnswer]:
    """peer=(status, version or None); peer "me" is this instance's own copy (key "")."""
    out = {}
    for peer, (status, version) in by_peer.items():
        out["" if peer == "me" else peer] = ClaimAnswer(status, None if version is None else rec(version))
    return out


# ---------------------------------------------------------------- decide(): the claimer's table

@pytest.mark.parametrize("case, given, silent_alive, verdict, best_from, top", [
    ("nothing anywhere", answers(b=(NF, None), c=(NF, None)), False, Verdict.NEW, "", 0),
    ("one orphan", answers(b=(G, 3), c=(NF, None)), False, Verdict.ADOPT, "b", 3),
    ("the newest of two granted", answers(b=(G, 3), c=(G, 5)), False, Verdict.ADOPT, "c", 5),
    ("a newer copy that may not be handed over", answers(b=(G, 3), c=(NA, 5)), False, Verdict.RETRY, "", 5),
    ("a busy holder", answers(b=(G, 3), c=(B, None)), False, Verdict.RETRY, "", 3),
    ("only a backup of a live owner", answers(b=(NA, 3)), False, Verdict.RETRY, "", 3),
    ("a live candidate that did not answer", answers(b=(None, None)), True, Verdict.RETRY, "", 0),
    ("a dead candidate that did not answer", answers(b=(None, None)), False, Verdict.NEW, "", 0),
    # issue 9, mechanism 2: a live but silent candidate may hold the newest copy
    ("a grant while a live candidate is silent", answers(b=(G, 1), c=(None, None)), True, Verdict.RETRY, "", 1),
    ("our own copy", answers(me=(G, 4), b=(NF, None)), False, Verdict.ADOPT, "", 4),
])
def test_decide(case: str, given: dict[str, ClaimAnswer], silent_alive: bool, verdict: Verdict,
                best_from: str, top: int) -> None:
    d = decide(given, silent_alive)
    assert (d.verdict, d.best_from, d.top_version) == (verdict, best_from, top), case


@pytest.mark.parametrize("case, given, verdict", [
    ("a live owner at our version", answers(me=(G, 3), b=(NA, 3)), Verdict.YIELD),
    ("a live owner newer than ours", answers(me=(G, 3), b=(NA, 4)), Verdict.YIELD),
    # a live primary older than our orphan (the two sides of a split both wrote): adopting over
    # it would leave it writable too; the round must claim it as a request's round does
    ("a live owner older than ours", answers(me=(G, 3), b=(NA, 2)), Verdict.INSIST),
    ("no live owner", answers(me=(G, 3), b=(G, 2)), Verdict.ADOPT),
])
def test_decide_for_an_eager_round(case: str, given: dict[str, ClaimAnswer], verdict: Verdict) -> None:
    assert decide(given, False, eager=True).verdict is verdict, case


def test_an_eager_round_is_not_yielded_to_a_backup_of_the_claimers_own_copy() -> None:
    """Rotating seed 1954064954: d's promise of s3 to a lapsed and d claimed its own HANDED_OVER
    copy back; a, d's successor, answered NOT_AUTHORITY with its backup of d's record. Taken for a
    live owner's copy, the round yielded and d dropped the only primary: a backup of an owner
    that is gone was all that was left. A backup of the claimer's own record is no live owner."""
    own = SessionRecord("s1", "d", 4, 0.0, 1800.0, False, b"v4")
    d = decide({"": ClaimAnswer(G, own), "a": ClaimAnswer(NA, own), "b": ClaimAnswer(NF)}, False, eager=True, me="d")
    assert d.verdict is Verdict.ADOPT and d.top_version == 4 and d.holders == ("a",)


def test_decide_says_gone_when_the_newest_copy_is_a_tombstone() -> None:
    d = decide({"b": ClaimAnswer(G, rec(4, deleted=True)), "c": ClaimAnswer(G, rec(2))}, False)
    assert d.verdict is Verdict.GONE and d.top_version == 4 and set(d.holders) == {"b", "c"}


def test_decide_lists_every_peer_that_reported_a_copy_as_a_holder() -> None:
    d = decide({"b": ClaimAnswer(G, rec(5)), "c": ClaimAnswer(NA, rec(5)), "d": ClaimAnswer(NF),
                "": ClaimAnswer(G, rec(1))}, False)
    assert d.verdict is Verdict.ADOPT and d.holders == ("b", "c")  # never "" (ourselves) or d


# ---------------------------------------------------------------- grant(): the holder's table

def copy(role: Role, version: int = 3, granted_to: str = "", until: float = 0.0) -> Copy:
    return Copy(rec(version), role, granted_to=granted_to, granted_until=until)


@pytest.mark.parametrize("case, held, busy, owner_dead, status, keeps", [
    ("nothing held", None, False, False, NF, None),
    ("a write in flight", copy(Role.PRIMARY), True, False, B, None),
    ("a primary is handed over", copy(Role.PRIMARY), False, False, G, Role.HANDED_OVER),
    ("a backup of a live owner", copy(Role.BACKUP), False, False, NA, None),
    ("a backup of an owner that died unnoticed", copy(Role.BACKUP), False, True, G, Role.ORPHAN),
    ("an orphan", copy(Role.ORPHAN), False, True, G, Role.ORPHAN),
    ("an orphan promised to another claimer", copy(Role.ORPHAN, granted_to="x", until=20.0), False, True, B, None),
    ("an orphan whose promise lapsed", copy(Role.ORPHAN, granted_to="x", until=5.0), False, True, G, Role.ORPHAN),
    ("an orphan promised to this claimer", copy(Role.ORPHAN, granted_to="c", until=20.0), False, True, G, Role.ORPHAN),
    ("a copy handed over before", copy(Role.HANDED_OVER), False, False, G, Role.HANDED_OVER),
])
def test_grant(case: str, held: Copy | None, busy: bool, owner_dead: bool, status: ClaimStatus,
               keeps: Role | None) -> None:
    g = grant(held, "c", 10.0, busy=busy, owner_dead=owner_dead, promise_until=15.0)
    assert g.status is status, case
    if keeps is None:
        assert g.keep is None
    else:
        assert g.keep is not None and g.keep.role is keeps
        assert (g.keep.granted_to, g.keep.granted_until) == ("c", 15.0)  # promised to the claimer


# ---------------------------------------------------------------- Adoptions: the bookkeeping

def adoptions() -> Adoptions:
    return Adoptions(retry_interval=0.25, answer_timeout=2.0)


def test_a_round_is_complete_when_every_asked_candidate_answered() -> None:
    book = adoptions()
    a = book.start(7, "s1", ["b", "c"], deadline=100.0)
    book.begin_round(a, ["b", "c"], ClaimAnswer(NF), now=1.0)
    assert book.adopting("s1") and len(book) == 1
    assert book.answered(a.claim_id, "b", ClaimAnswer(NF)) is None
    assert book.answered(a.claim_id, "x", ClaimAnswer(NF)) is None  # not asked: ignored
    assert book.answered(a.claim_id, "c", ClaimAnswer(G, rec(2))) is a


def test_answers_are_ignored_while_waiting_to_retry_or_committing() -> None:
    book = adoptions()
    a = book.start(7, "s1", ["b"], deadline=100.0)
    book.begin_round(a, ["b"], ClaimAnswer(NF), now=1.0)
    book.retry_later(a, now=1.0)
    assert book.answered(a.claim_id, "b", ClaimAnswer(NF)) is None and a.answers == {}
    book.begin_round(a, ["b"], ClaimAnswer(NF), now=1.5)
    assert book.answered(a.claim_id, "b", ClaimAnswer(G, rec(2))) is a
    book.committing(a, book.decide(a, lambda peer: False))
    assert book.answered(a.claim_id, "b", ClaimAnswer(NF)) is None


def test_due_reports_expired_retries_and_silent_candidates_in_start_order() -> None:
    book = adoptions()
    late = book.start(1, "s1", ["b"], deadline=5.0)
    book.begin_round(late, ["b"], ClaimAnswer(NF), now=1.0)
    again = book.start(2, "s2", ["b"], deadline=100.0)
    book.begin_round(again, ["b"], ClaimAnswer(NF), now=1.0)
    book.retry_later(again, now=1.0)
    silent = book.start(3, "s3", ["b", "c"], deadline=100.0)
    book.begin_round(silent, ["b", "c"], ClaimAnswer(NF), now=1.0)
    book.answered(silent.claim_id, "b", ClaimAnswer(NF))
    assert book.due(1.1, lambda peer: False) == []  # nothing yet
    assert book.due(6.0, lambda peer: False) == [(Due.EXPIRED, late), (Due.CLAIM_AGAIN, again),
                                                   (Due.DECIDE, silent)]
    assert silent.answers["c"] == UNREACHABLE  # silent for an answer timeout: given up


def test_a_dead_candidate_is_given_up_at_once() -> None:
    book = adoptions()
    a = book.start(1, "s1", ["b", "c"], deadline=100.0)
    book.begin_round(a, ["b", "c"], ClaimAnswer(NF), now=1.0)
    book.answered(a.claim_id, "b", ClaimAnswer(NF))
    assert book.due(1.1, lambda peer: peer == "c") == [(Due.DECIDE, a)]


def test_committed_returns_the_adoption_and_its_decision_once() -> None:
    book = adoptions()
    a = book.start(1, "s1", ["b"], deadline=100.0)
    book.begin_round(a, ["b"], ClaimAnswer(NF), now=1.0)
    book.answered(a.claim_id, "b", ClaimAnswer(G, rec(2)))
    d = book.decide(a, lambda peer: False)
    book.committing(a, d)
    assert book.committed(a.claim_id) == (a, d)
    assert book.committed(a.claim_id) is None and not book.adopting("s1")


def test_abandon_all_forgets_every_round() -> None:
    book = adoptions()
    first, second = book.start(1, "s1", [], 100.0), book.start(2, "s2", [], 100.0)
    assert book.abandon_all() == [first, second] and len(book) == 0
