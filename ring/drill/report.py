"""The drill's report: figures from the history, the faults and the event logs; a rich rendering.

`analyze()` is pure (a dict ready for JSON); `render()` prints the tables. Violations make the
drill exit non-zero: acknowledged increments lost, stale reads, duplicated increments, a
resurrected session, a false failure declaration, a session unreadable at the end, a ring that did
not heal. Timing goals (detection p99 <= 3 s, unavailability p99 <= detection p99 + 1 s) are
reported as met or missed; they fail the drill only with --strict-goals, since two cores under
load make timings noisy.
"""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ring.drill import checker as ck
from ring.drill.checker import DETECTED_KINDS, Fault, Op

KILL_KINDS = ("kill", "kill-successor", "double-failure", "sigterm-busiest")
ROLLING_KINDS = ("rolling-restart", "rolling-idle")
DETECTION_GOAL = 3.0  # seconds, p99 (the goal; default failure timeout 2 s + confirmation)
UNAVAILABILITY_SLACK = 1.0  # seconds over detection p99 for a failed-over user to be served again


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def fault_rows(faults: Sequence[Fault], history: Sequence[Op], events: Sequence[dict[str, Any]],
               started: float, threshold: float) -> list[dict[str, Any]]:
    rows = []
    for i, f in enumerate(faults):
        if f.kind in ROLLING_KINDS:
            waits: dict[str, float] = {}
            for step in f.detail.get("steps", []):
                sub = Fault("stop", step["instance"], step["stopped"], step["started"])
                waits.update({f"{step['instance']}/{u}": w
                              for u, w in ck.unavailability(sub, history, threshold=threshold).items()})
        else:
            waits = ck.unavailability(f, history, threshold=threshold)
        detail = dict(f.detail)
        if "steps" in detail:
            detail["steps"] = [{**s, "stopped": _r(s["stopped"] - started), "started": _r(s["started"] - started),
                                "healed": _r(s["healed"] - started) if s["healed"] else None,
                                "adopted": _r(s["adopted"] - started) if s.get("adopted") else None,
                                **({"redundant_s": s["redundant_s"]} if "redundant_s" in s else {})}
                               for s in detail["steps"]]
        rows.append({
            "index": i,
            "kind": f.kind,
            "victim": f.victim,
            "at": _r(f.start - started),
            "lifted_at": _r(f.end - started),
            "start_mono": f.start,
            "detection_s": _r(ck.detection_time(f, events)) if f.kind in DETECTED_KINDS else None,
            "redundancy_s": _r(f.redundant - f.start) if f.redundant else None,
            "all_redundant_s": f.detail.get("all_redundant_s"),
            "rejoin_redundant_s": f.detail.get("rejoin_redundant_s"),
            "resync_finished_s": _r(ck.resync_time(f, events)) if f.kind in DETECTED_KINDS else None,
            "healed_s": _r(f.healed - f.start) if f.healed else None,
            "orphans_adopted_s": _r(f.adopted - f.start) if f.adopted else None,
            "unavailability": ck.quantiles(waits.values()),
            "affected_users": len(waits),
            "detail": detail,
        })
    return rows


def attribute(anomalies: Sequence[ck.Anomaly], faults: Sequence[Fault], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Each anomaly charged to the last fault injected before the operation that revealed it
    ("before any fault" otherwise): a per-fault count in each row, and totals per fault kind."""
    totals: dict[str, Counter[str]] = {}
    for row in rows:
        row["anomalies"] = {}
    for a in anomalies:
        index = max((i for i, f in enumerate(faults) if f.start <= a.at), default=None)
        key = "before any fault" if index is None else faults[index].kind
        totals.setdefault(key, Counter())[a.kind] += 1
        if index is not None:
            rows[index]["anomalies"][a.kind] = rows[index]["anomalies"].get(a.kind, 0) + 1
    return {k: dict(v) for k, v in sorted(totals.items())}


def analyze(*, seed: int, history: Sequence[Op], faults: Sequence[Fault], events: Sequence[dict[str, Any]],
            schedule: Sequence[dict[str, Any]], started: float, ended: float, options: dict[str, Any],
            unreplicated: int, final_unread: Sequence[int], problems: Sequence[str], failure_timeout: float,
            threshold: float, replay: list[str], strict_goals: bool = False,
            lb_transitions: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    verdict = ck.check(history)
    rows = fault_rows(faults, history, events, started, threshold)
    detections = [r["detection_s"] for r in rows if r["detection_s"] is not None]
    undetected = [r for f, r in zip(faults, rows, strict=True) if ck.must_be_declared(f) and r["detection_s"] is None]
    kill_waits: list[float] = []
    all_waits: list[float] = []
    for f in faults:
        if f.kind in ROLLING_KINDS:
            continue
        w = list(ck.unavailability(f, history, threshold=threshold).values())
        all_waits += w
        if f.kind in KILL_KINDS:
            kill_waits += w
    grace = failure_timeout + 2.0
    false = ck.false_declarations(events, faults, grace)
    for e in false:
        e["at"] = _r(e["mono"] - started)
    ops = ck.op_counts(history)
    elapsed = max(ended - started, 1e-9)
    ops["per_second"] = round(ops["total"] / elapsed, 1)

    detection = ck.quantiles(detections)
    unavail_kill = ck.quantiles(kill_waits)
    goals: dict[str, dict[str, Any]] = {}
    detection_p99, unavail_p99 = detection["p99"], unavail_kill["p99"]
    if detection_p99 is not None:
        goals["detection_p99"] = {"value": detection_p99, "target": f"<= {DETECTION_GOAL:g} s",
                                  "met": detection_p99 <= DETECTION_GOAL}
        if unavail_p99 is not None:
            limit = detection_p99 + UNAVAILABILITY_SLACK
            goals["unavailability_p99"] = {"value": unavail_p99, "target": f"<= {limit:.3f} s (detection p99 + 1 s)",
                                           "met": unavail_p99 <= limit}
    if undetected:
        goals["every_failure_detected"] = {"value": [f"#{r['index']} {r['kind']} {r['victim']}" for r in undetected],
                                           "target": "declared dead", "met": False}

    killed = [r for r in rows if r["kind"] in KILL_KINDS]
    redundant_after_kill = {**ck.quantiles(r["all_redundant_s"] for r in killed if r["all_redundant_s"] is not None),
                            "never": sum(1 for r in killed if r["all_redundant_s"] is None),
                            "after_revive": sum(1 for r in killed
                                                if r["detail"].get("redundant_before_revive") is False)}
    by_fault = attribute(verdict.anomalies, faults, rows)
    stops = [r for r in rows if "exit_code" in r["detail"]]
    clean_stops = {"n": len(stops),
                   "exit_codes": dict(Counter(str(r["detail"]["exit_code"]) for r in stops)),
                   "stop": ck.quantiles(r["detail"]["stop_s"] for r in stops if r["detail"].get("stop_s") is not None),
                   "declared_by_peers": ck.quantiles(r["detection_s"] for r in stops if r["detection_s"] is not None)}

    violations: list[str] = []
    if verdict.lost:
        violations.append(f"{verdict.lost} acknowledged increments lost ({verdict.resets} sessions reset)")
    if verdict.stale:
        violations.append(f"{verdict.stale} stale reads (a count went backwards)")
    if verdict.duplicated:
        violations.append(f"{verdict.duplicated} counts higher than the increments sent (duplicated writes)")
    if verdict.resurrected:
        violations.append(f"{verdict.resurrected} sessions came back after an acknowledged logout")
    if verdict.forked:
        violations.append(f"{verdict.forked} forked sessions (two histories after one version)")
    if false:
        violations.append(f"{len(false)} false failure declarations: "
                          + ", ".join(f"{e['instance']} {e['event']} {e['peer'] or ''} at {e['at']} s".replace("  ", " ")
                                      for e in false[:5]))
    if final_unread:
        violations.append(f"{len(final_unread)} sessions not readable after the last fault (users {list(final_unread)[:10]})")
    violations += list(problems)
    missed = [name for name, g in goals.items() if not g["met"]]
    if strict_goals:
        violations += [f"goal missed: {name}" for name in missed]

    return {
        "ok": not violations,
        "seed": seed,
        "lost": verdict.lost,
        "stale": verdict.stale,
        "resets": verdict.resets,
        "duplicated": verdict.duplicated,
        "resurrected": verdict.resurrected,
        "forked": verdict.forked,
        "violations": violations,
        "goals": goals,
        "goals_missed": missed,
        "faults": rows,
        "schedule": list(schedule),
        "ops": ops,
        "failovers": ck.failovers(history),
        "adoptions": ck.count_events(events, "adopted"),
        "detection": detection,
        "detection_by_kind": {k: ck.quantiles(r["detection_s"] for r in rows if r["kind"] == k and r["detection_s"] is not None)
                              for k in sorted({r["kind"] for r in rows if r["kind"] in DETECTED_KINDS})},
        "unavailability": unavail_kill,
        "unavailability_all_faults": ck.quantiles(all_waits),
        "redundancy": ck.quantiles(r["redundancy_s"] for r in rows if r["redundancy_s"] is not None),
        "all_redundant_after_kill": redundant_after_kill,
        "rejoin_redundant": ck.quantiles(r["rejoin_redundant_s"] for r in rows if r["rejoin_redundant_s"] is not None),
        "anomalies_by_fault": by_fault,
        "clean_stops": clean_stops,
        "faults_by_kind": dict(sorted(Counter(r["kind"] for r in rows).items())),
        "healed": ck.quantiles(r["healed_s"] for r in rows if r["healed_s"] is not None),
        "orphans_adopted": ck.quantiles(r["orphans_adopted_s"] for r in rows if r["orphans_adopted_s"] is not None),
        "unreplicated_writes": unreplicated,
        "false_declarations": false,
        "events": dict(sorted(Counter(str(e.get("event")) for e in events).items())),
        "final_reads_failed": list(final_unread),
        "anomalies": [{"user": a.user, "kind": a.kind, "at": _r(a.at - started), "detail": a.detail}
                      for a in verdict.anomalies[:100]],
        "lb_transitions": [{**t, "at": _r(t["mono"] - started)} for t in lb_transitions],
        "elapsed_s": _r(elapsed),
        "options": options,
        "replay": shlex.join(replay),
        "unavailability_threshold_s": threshold,
    }


# ------------------------------------------------------------------ rendering


def _q(q: dict[str, Any]) -> str:
    if not q.get("n"):
        return "-"
    return f"p50 {q['p50']:.2f} s  p99 {q['p99']:.2f} s  max {q['max']:.2f} s  (n={q['n']})"


def _s(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def render(report: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    faults = Table(title="faults", title_justify="left")
    for col in ("#", "at s", "fault", "victim", "detected s", "re-formed s", "2 copies s", "healed s", "affected",
                "unavailable p50/max s", "anomalies"):
        faults.add_column(col, justify="right" if col not in ("fault", "victim") else "left")
    for r in report["faults"]:
        u = r["unavailability"]
        found = ", ".join(f"{n} {k}" for k, n in sorted(r.get("anomalies", {}).items())) or "-"
        faults.add_row(str(r["index"]), _s(r["at"]), r["kind"], r["victim"] or "-", _s(r["detection_s"]),
                       _s(r["redundancy_s"]), _s(r.get("all_redundant_s")), _s(r["healed_s"]), str(r["affected_users"]),
                       f"{_s(u['p50'])} / {_s(u['max'])}" if u["n"] else "-", found)
    console.print(faults)

    ops = report["ops"]
    summary = Table(title="drill report", title_justify="left", show_header=False)
    summary.add_column("figure")
    summary.add_column("value")

    def bad(n: int) -> str:
        return f"[red bold]{n}[/]" if n else "[green]0[/]"

    summary.add_row("seed", str(report["seed"]))
    summary.add_row("operations", f"{ops['total']} ({ops['per_second']}/s): ok {ops['ok']}, failed {ops['failed']}, "
                    f"indeterminate {ops['indeterminate']}")
    summary.add_row("lost (acknowledged increments)", bad(report["lost"]))
    summary.add_row("stale", bad(report["stale"]))
    summary.add_row("sessions reset", bad(report["resets"]))
    summary.add_row("duplicated / resurrected / forked",
                    f"{bad(report['duplicated'])} / {bad(report['resurrected'])} / {bad(report['forked'])}")
    summary.add_row("false failure declarations", bad(len(report["false_declarations"])))
    summary.add_row("failovers (user moved)", str(report["failovers"]))
    summary.add_row("adoptions", str(report["adoptions"]))
    summary.add_row("detection", _q(report["detection"]))
    summary.add_row("unavailability (kills)", _q(report["unavailability"]))
    summary.add_row("unavailability (all faults)", _q(report["unavailability_all_faults"]))
    summary.add_row("ring re-formed without the victim", _q(report["redundancy"]))
    red = report["all_redundant_after_kill"]
    summary.add_row("every session on two copies again (kills)",
                    _q(red) + (f"; {red['after_revive']} only after the revival, {red['never']} not within the wait"
                               if red["after_revive"] or red["never"] else ""))
    summary.add_row("every session on two copies after a rejoin", _q(report["rejoin_redundant"]))
    stops = report["clean_stops"]
    if stops["n"]:
        summary.add_row("SIGTERM stops (exit codes)", ", ".join(f"{c}: {n}" for c, n in stops["exit_codes"].items()))
        summary.add_row("SIGTERM until exit", _q(stops["stop"]))
        summary.add_row("SIGTERM until a peer declared it", _q(stops["declared_by_peers"]))
    summary.add_row("faults", ", ".join(f"{n} {k}" for k, n in report["faults_by_kind"].items()) or "-")
    summary.add_row("ring healed (victim back)", _q(report["healed"]))
    summary.add_row("orphans adopted (no single copy)", _q(report["orphans_adopted"]))
    summary.add_row("unreplicated writes", str(report["unreplicated_writes"]))
    for name, g in report["goals"].items():
        mark = "[green]met[/]" if g["met"] else "[yellow]missed[/]"
        summary.add_row(f"goal {name}", f"{mark}: {g['value']} (target {g['target']})")
    console.print(summary)
    if report["anomalies_by_fault"]:
        console.print("anomalies by the last fault before them: " + "; ".join(
            f"{kind}: " + ", ".join(f"{n} {k}" for k, n in sorted(c.items()))
            for kind, c in report["anomalies_by_fault"].items()))
    if report["violations"]:
        console.print("[red bold]VIOLATIONS[/]")
        for v in report["violations"]:
            console.print(f"  - {v}")
        for a in report["anomalies"][:10]:
            console.print(f"    user {a['user']} at {a['at']} s: {a['kind']}: {a['detail']}")
        console.print(f"seed {report['seed']}; schedule: "
                      + ", ".join(f"{s['kind']}({s['victim'] or '*'})" for s in report["schedule"]))
        console.print(f"replay: {report['replay']}")
    else:
        console.print(f"[green bold]no violation[/] (seed {report['seed']}; replay: {report['replay']})")
