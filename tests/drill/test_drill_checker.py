"""The drill's checker on hand-written histories: no processes, milliseconds."""

from __future__ import annotations

import pytest

from ring.drill.checker import (
    FAILED,
    INCR,
    INDETERMINATE,
    LOGOUT,
    OK,
    READ,
    Fault,
    Op,
    check,
    detection_time,
    failovers,
    false_declarations,
    op_counts,
    quantiles,
    resync_time,
    unavailability,
)
from ring.drill.faults import DEFAULT_KINDS, parse_kinds, plan


class History:
    """Builds one user's sequential history; each op takes 0.1 s."""

    def __init__(self, user: int = 0, t: float = 0.0) -> None:
        self.user = user
        self.t = t
        self.ops: list[Op] = []

    def add(self, kind: str, outcome: str, count: int | None = None, instance: str | None = "a",
            duration: float = 0.1) -> History:
        self.ops.append(Op(self.user, kind, self.t, self.t + duration, outcome, count,
                           instance if outcome == OK else None))
        self.t += duration + 0.01
        return self

    def incr(self, count: int | None, outcome: str = OK, instance: str = "a") -> History:
        return self.add(INCR, outcome, count if outcome == OK else None, instance)

    def read(self, count: int, instance: str = "a") -> History:
        return self.add(READ, OK, count, instance)


def test_a_clean_history_has_no_anomaly() -> None:
    h = History().incr(1).incr(2).read(2).incr(3, instance="b").read(3, instance="b")
    v = check(h.ops)
    assert v.ok and (v.lost, v.stale, v.resets, v.duplicated) == (0, 0, 0, 0)


def test_a_lost_write_is_counted() -> None:
    # 3 was acknowledged, then an increment returns 3 again: the state it worked on was 2
    h = History().incr(1).incr(2).incr(3).incr(3)
    v = check(h.ops)
    assert v.lost == 1 and v.stale == 0
    assert [a.kind for a in v.anomalies] == ["lost"]


def test_several_lost_writes_are_counted_once_each() -> None:
    h = History().incr(1).incr(2).incr(3).incr(4).incr(2).incr(3)
    v = check(h.ops)
    assert v.lost == 3  # counts 2, 3 and 4 were acknowledged, the state went back to 1
    assert len(v.anomalies) == 1  # the walk continues from what the server says now


def test_a_read_missing_an_acknowledged_increment_is_a_loss() -> None:
    v = check(History().incr(1).incr(2).read(1).ops)
    assert v.lost == 1


def test_a_stale_read_is_counted() -> None:
    # the read saw 3 (an indeterminate increment applied), a later read sees 2 again
    h = History().incr(1).incr(2).incr(None, INDETERMINATE).read(3).read(2)
    v = check(h.ops)
    assert v.stale == 1 and v.lost == 0


def test_an_indeterminate_increment_is_never_lost_and_explains_a_jump() -> None:
    applied = History().incr(1).incr(None, INDETERMINATE).incr(3).read(3)
    not_applied = History().incr(1).incr(None, INDETERMINATE).incr(2).read(2)
    for h in (applied, not_applied):
        v = check(h.ops)
        assert v.ok and v.lost == 0 and v.stale == 0 and v.duplicated == 0


def test_a_jump_no_increment_explains_is_a_duplicate() -> None:
    v = check(History().incr(1).incr(None, FAILED).incr(3).ops)  # a failed op must not be applied
    assert v.duplicated == 1 and not v.ok


def test_a_silent_reset_counts_as_lost() -> None:
    h = History().incr(1).incr(2).incr(3).incr(1)
    v = check(h.ops)
    assert v.resets == 1 and v.lost == 3 and not v.ok


def test_an_empty_read_after_acknowledged_increments_is_a_reset() -> None:
    v = check(History().incr(1).incr(2).read(0).incr(1).ops)
    assert v.resets == 1 and v.lost == 2  # counted once, not again by the increment after it


def test_a_logout_starts_a_new_count() -> None:
    h = History().incr(1).incr(2).add(LOGOUT, OK).incr(1).incr(2)
    assert check(h.ops).ok


def test_a_session_back_after_an_acknowledged_logout_is_resurrected() -> None:
    h = History().incr(1).incr(2).add(LOGOUT, OK).incr(3)
    v = check(h.ops)
    assert v.resurrected == 1 and not v.ok


def test_after_an_indeterminate_logout_either_continuation_is_fine() -> None:
    gone = History().incr(1).incr(2).add(LOGOUT, INDETERMINATE).incr(1)
    kept = History().incr(1).incr(2).add(LOGOUT, INDETERMINATE).incr(3)
    assert check(gone.ops).ok and check(kept.ops).ok


def test_users_are_checked_independently_and_in_invoke_order() -> None:
    a = History(user=0).incr(1).incr(2)
    b = History(user=1).incr(1).incr(2)
    shuffled = [b.ops[1], a.ops[1], b.ops[0], a.ops[0]]
    assert check(shuffled).ok


def test_op_rejects_an_ok_read_without_a_count() -> None:
    with pytest.raises(ValueError):
        Op(0, READ, 0.0, 0.1, OK)


def test_counts_and_failovers() -> None:
    h = History().incr(1, instance="a").incr(2, instance="b").incr(None, INDETERMINATE).incr(4, instance="b")
    h.incr(5, instance="c")
    counts = op_counts(h.ops)
    assert (counts["ok"], counts["indeterminate"], counts["total"]) == (4, 1, 5)
    assert failovers(h.ops) == 2


def test_quantiles_nearest_rank() -> None:
    q = quantiles([float(x) for x in range(1, 101)])
    assert (q["n"], q["p50"], q["p99"], q["max"]) == (100, 50.0, 99.0, 100.0)
    assert quantiles([])["p99"] is None


def test_detection_is_the_first_declaration_after_the_fault() -> None:
    fault = Fault("kill", "b", start=10.0, end=14.0)
    events = [
        {"event": "declared_dead", "peer": "b", "instance": "a", "mono": 5.0},  # an earlier fault
        {"event": "declared_dead", "peer": "c", "instance": "a", "mono": 11.0},
        {"event": "declared_dead", "peer": "b", "instance": "a", "mono": 12.5},
        {"event": "declared_dead", "peer": "b", "instance": "c", "mono": 12.7},
    ]
    assert detection_time(fault, events) == pytest.approx(2.5)


def test_unavailability_counts_users_of_the_victim_and_slow_users() -> None:
    fault = Fault("kill", "b", start=10.0, end=14.0)
    on_b = [Op(0, INCR, 9.5, 9.6, OK, 3, "b"), Op(0, INCR, 10.1, 12.2, INDETERMINATE),
            Op(0, INCR, 12.3, 12.4, OK, 4, "c")]
    unaffected = [Op(1, INCR, 9.9, 10.0, OK, 1, "a"), Op(1, INCR, 10.1, 10.2, OK, 2, "a")]
    waits = unavailability(fault, on_b + unaffected, threshold=1.0)
    assert waits == {"0": pytest.approx(2.4)}


def test_false_declarations() -> None:
    faults = [Fault("kill", "b", 10.0, 14.0), Fault("pause-short", "c", 20.0, 21.0, down=False)]
    events = [
        {"event": "declared_dead", "peer": "b", "instance": "a", "mono": 12.0},  # justified
        {"event": "declared_dead", "peer": "c", "instance": "a", "mono": 22.0},  # pause-short: false
        {"event": "fenced", "instance": "d", "mono": 30.0},  # nobody touched d: false
        {"event": "fenced", "instance": "b", "mono": 14.5},  # the revived b learning its fate: justified
    ]
    out = false_declarations(events, faults, grace=3.0)
    assert [(e["event"], e["instance"], e["peer"]) for e in out] == [
        ("declared_dead", "a", "c"), ("fenced", "d", None)]


def test_resync_time_is_the_new_backup_filled_after_the_declaration() -> None:
    fault = Fault("kill", "b", start=10.0, end=14.0)
    events = [
        {"event": "resync_finished", "instance": "a", "successor": "b", "mono": 9.0},
        {"event": "declared_dead", "peer": "b", "instance": "a", "mono": 12.0},
        {"event": "resync_finished", "instance": "a", "successor": "c", "mono": 12.4},
    ]
    assert resync_time(fault, events) == pytest.approx(2.4)
    assert resync_time(Fault("kill", "d", 10.0, 14.0), events) is None


def test_the_schedule_is_a_function_of_the_seed() -> None:
    kinds = ("kill", "kill-successor", "pause-long", "pause-short", "rolling-restart")
    one = plan(42, kinds, ["a", "b", "c", "d"], failure_timeout=2.0, count=20)
    assert one == plan(42, kinds, ["a", "b", "c", "d"], failure_timeout=2.0, count=20)
    assert one != plan(43, kinds, ["a", "b", "c", "d"], failure_timeout=2.0, count=20)
    assert sorted(p.kind for p in one[:5]) == sorted(kinds)  # every kind in the first round
    by_kind = {p.kind: p for p in one}
    assert by_kind["pause-short"].hold == pytest.approx(1.0)  # half the failure timeout
    assert by_kind["pause-long"].hold > 2.0  # past it
    assert by_kind["kill-successor"].victim is None  # chosen when injected: the busiest's successor


def test_fault_names_are_checked() -> None:
    assert parse_kinds(None, partition=False) == DEFAULT_KINDS
    assert parse_kinds("kill, pause-short", partition=False) == ("kill", "pause-short")
    with pytest.raises(ValueError, match="explode"):
        parse_kinds("kill,explode", partition=False)


def test_an_indeterminate_logout_may_take_effect_late() -> None:
    # the client gave up on the logout; the server finished it two requests later
    h = History().incr(1).incr(2).add(LOGOUT, INDETERMINATE).incr(3).incr(4).read(0).incr(1)
    assert check(h.ops).ok
    # but only once: the session that followed is protected again
    h.incr(2).incr(1)
    v = check(h.ops)
    assert v.resets == 1 and v.lost == 2


def test_a_split_is_detected_when_the_side_without_a_quorum_is_declared() -> None:
    # 2+2 from the victim a: a,b hold the view's first instance and keep the quorum; c and d are
    # the ones to declare. The victim names where the cut started, not who must be declared
    fault = Fault("partition-halves", "a", start=10.0, end=16.0,
                  detail={"groups": [["a", "b"], ["c", "d"]], "ring": ["a", "b", "c", "d"]})
    events = [{"event": "declared_dead", "peer": "c", "instance": "a", "mono": 12.1},
              {"event": "declared_dead", "peer": "d", "instance": "b", "mono": 12.2}]
    assert detection_time(fault, events) == pytest.approx(2.1)
    from_c = Fault("partition-halves", "c", start=10.0, end=16.0,
                   detail={"groups": [["c", "d"], ["a", "b"]], "ring": ["a", "b", "c", "d"]})
    assert detection_time(from_c, events) == pytest.approx(2.1)
    # a declaration of the quorum side (by the minority, which never acts on it) is no detection
    assert detection_time(fault, [{"event": "declared_dead", "peer": "a", "instance": "c", "mono": 12.0}]) is None


def test_a_flap_is_not_a_failure_the_goal_demands_to_detect() -> None:
    from ring.drill.checker import must_be_declared

    flap = Fault("flap", "b", start=10.0, end=20.0, detail={"cut": ["b"]})
    assert must_be_declared(flap) is False
    assert must_be_declared(Fault("kill", "b", start=10.0, end=14.0)) is True
    halves = Fault("partition-halves", "a", start=10.0, end=16.0,
                   detail={"groups": [["a", "b"], ["c", "d"]], "ring": ["a", "b", "c", "d"]})
    assert must_be_declared(halves) is True
