"""Pure parts of the new drill faults: redundancy from status rows, the schedule, attribution."""

from __future__ import annotations

import pytest

from ring.drill.checker import Anomaly, Fault, false_declarations
from ring.drill.redundancy import fully_redundant, unredundant
from ring.drill.report import attribute
from ring.drill.schedule import ALL_KINDS, NEW_KINDS, SOAK_MIX, estimated_cost, parse_kinds, plan, soak_plan
from ring.drill.workload import WorkloadSpec


def row(name: str, primaries: int, backups: dict[str, int] | None = None, orphans: dict[str, int] | None = None,
        state: str = "alive") -> dict[str, object]:
    return {"id": name, "state": state, "primaries": primaries, "backups": backups or {}, "orphans": orphans or {}}


def test_every_primary_backed_up_by_another_running_instance_is_redundant() -> None:
    rows = [row("a", 3, {"c": 1}), row("b", 0, {"a": 3}), row("c", 1)]
    assert fully_redundant(rows, ["a", "b", "c"])


def test_an_orphan_is_a_single_copy() -> None:
    rows = [row("a", 3, {"c": 1}), row("b", 0, {"a": 3}, orphans={"d": 2}), row("c", 1)]
    assert unredundant(rows, ["a", "b", "c"]) == 2


def test_a_primary_short_of_backups_counts_and_a_dead_holder_does_not_help() -> None:
    rows = [row("a", 3, {"c": 1}), row("b", 0, {"a": 1}), row("c", 1), row("d", 0, {"a": 2}, state="unreachable")]
    assert unredundant(rows, ["a", "b", "c"]) == 2  # d's backups of a are gone with d


def test_a_silent_running_instance_is_not_judged() -> None:
    rows = [row("a", 0), row("b", 0, state="unreachable")]
    assert unredundant(rows, ["a", "b"]) is None and not fully_redundant(rows, ["a", "b"])


def test_new_kinds_parse_by_name_and_as_new() -> None:
    assert parse_kinds("new", partition=True) == NEW_KINDS
    assert parse_kinds("kill,new", partition=True)[0] == "kill"
    assert set(NEW_KINDS) <= set(ALL_KINDS)
    with pytest.raises(ValueError, match="unknown fault"):
        parse_kinds("partition-thirds", partition=True)


def test_the_plan_is_seeded_and_double_failure_carries_its_gap() -> None:
    a = plan(4, NEW_KINDS, ["a", "b", "c", "d"], 1.0, 20, double_gap=7.0)
    assert a == plan(4, NEW_KINDS, ["a", "b", "c", "d"], 1.0, 20, double_gap=7.0)
    doubles = [p for p in a if p.kind == "double-failure"]
    assert doubles and all(p.second_gap == 7.0 for p in doubles)
    assert all(estimated_cost(p, 4, 1.0) > 7.0 for p in doubles)
    assert all(p.victim is None for p in a if p.kind in ("sigterm-busiest", "rolling-idle"))


def test_the_soak_mix_meets_the_issue_and_scales() -> None:
    full = soak_plan(1, ["a", "b", "c", "d"], 2.0)
    kinds = [p.kind for p in full]
    assert kinds.count("kill") + kinds.count("kill-successor") >= 200
    assert kinds.count("pause-long") >= 50 and kinds.count("restart") >= 100
    short = soak_plan(1, ["a", "b", "c", "d"], 2.0, scale=0.02)
    assert sorted({p.kind for p in short}) == sorted(SOAK_MIX)  # at least one of each


def test_a_declaration_between_instances_a_split_cut_off_is_not_false() -> None:
    split = Fault("partition-halves", "a", 10.0, 15.0, detail={"cut": ["a", "b", "c", "d"]})
    events = [{"event": "declared_dead", "instance": "c", "peer": "b", "mono": 12.0},
              {"event": "declared_dead", "instance": "c", "peer": "b", "mono": 40.0}]
    assert [e["mono"] for e in false_declarations(events, [split], grace=3.0)] == [40.0]


def test_anomalies_are_charged_to_the_last_fault_before_them() -> None:
    faults = [Fault("kill", "a", 10.0, 12.0), Fault("flap", "b", 20.0, 25.0)]
    rows: list[dict[str, object]] = [{}, {}]
    found = [Anomaly(0, "lost", 5.0, ""), Anomaly(1, "forked", 21.0, ""), Anomaly(2, "forked", 30.0, "")]
    assert attribute(found, faults, rows) == {"before any fault": {"lost": 1}, "flap": {"forked": 2}}
    assert rows[1]["anomalies"] == {"forked": 2} and rows[0]["anomalies"] == {}


def test_roles_of_users() -> None:
    spec = WorkloadSpec(users=8, logout_users=2, idle_users=3)
    assert [spec.role(i) for i in range(8)] == ["active"] * 3 + ["logout"] * 2 + ["idle"] * 3
    with pytest.raises(ValueError, match="part of the 8 users"):
        WorkloadSpec(users=8, logout_users=5, idle_users=4)


def test_an_idle_user_waits_from_its_return_not_from_the_fault() -> None:
    from ring.drill.checker import INCR, OK, Op, unavailability

    fault = Fault("kill", "a", 10.0, 14.0)
    ops = [Op(0, INCR, 9.0, 9.1, OK, 1, "a"), Op(0, INCR, 30.0, 30.2, OK, 2, "b"),  # idle: back at 30 s
           Op(1, INCR, 9.9, 12.5, "indeterminate"), Op(1, INCR, 12.6, 12.8, OK, 1, "b")]  # in flight: waits
    waits = unavailability(fault, ops, threshold=1.0)
    assert waits == {"0": pytest.approx(0.2), "1": pytest.approx(2.8)}


def test_the_report_gives_redundancy_forks_and_clean_stops() -> None:
    from rich.console import Console

    from ring.drill.app import GENESIS, next_chain
    from ring.drill.checker import INCR, OK, READ, Op
    from ring.drill.report import analyze, render

    c1 = next_chain(GENESIS, "t1")
    history = [Op(0, INCR, 1.0, 1.1, OK, 1, "a", chain=c1, prev=GENESIS, version=0),
               Op(0, READ, 20.0, 20.1, OK, 1, "b", chain=next_chain(GENESIS, "other"), version=0)]
    faults = [Fault("kill", "a", 10.0, 14.0, 11.0, 15.0, detail={"all_redundant_s": 1.5, "rejoin_redundant_s": 0.5,
                                                               "redundant_before_revive": True}),
              Fault("sigterm-busiest", "b", 16.0, 19.0, detail={"exit_code": 0, "stop_s": 0.8,
                                                                "all_redundant_s": None})]
    events = [{"event": "declared_dead", "instance": "c", "peer": "b", "mono": 16.5}]
    report = analyze(seed=1, history=history, faults=faults, events=events, schedule=[], started=0.0, ended=30.0,
                     options={}, unreplicated=0, final_unread=[], problems=[], failure_timeout=1.0, threshold=1.0,
                     replay=["ring", "drill"])
    assert report["forked"] == 1 and not report["ok"]
    assert report["all_redundant_after_kill"]["n"] == 1 and report["all_redundant_after_kill"]["never"] == 1
    assert report["clean_stops"]["exit_codes"] == {"0": 1}
    assert report["clean_stops"]["declared_by_peers"]["p50"] == 0.5
    assert report["anomalies_by_fault"] == {"sigterm-busiest": {"forked": 1}}
    console = Console(record=True, width=220)
    render(report, console)
    text = console.export_text()
    assert "two copies again" in text and "forked" in text and "SIGTERM" in text


def test_a_declaration_after_the_fault_is_not_its_detection() -> None:
    from ring.drill.checker import detection_time

    cut = Fault("partition-pair", "c", 10.0, 16.0, healed=18.0)
    late = [{"event": "declared_dead", "instance": "a", "peer": "c", "mono": 80.0}]
    assert detection_time(cut, late) is None
    assert detection_time(cut, [{"event": "declared_dead", "instance": "a", "peer": "c", "mono": 12.5}]) == 2.5


def test_a_user_that_goes_idle_after_a_failure_waits_from_its_return() -> None:
    from ring.drill.checker import INCR, OK, READ, Op, unavailability

    fault = Fault("kill", "d", 16.7, 20.0)
    ops = [Op(15, INCR, 16.6, 16.65, OK, 1, "d"), Op(15, READ, 16.8, 18.6, "indeterminate"),
           Op(15, INCR, 40.2, 40.6, "indeterminate"), Op(15, INCR, 40.7, 41.3, OK, 2, "b")]
    assert unavailability(fault, ops, threshold=1.0) == {"15": pytest.approx(1.1)}
